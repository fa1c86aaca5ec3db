"""Customer tags into Shopify through GraphQL ``tagsAdd`` / ``tagsRemove``, which touch only
the named tags: tags other apps set survive (the REST tag string would be rewritten whole).

Every change of one customer folds into at most one ``tagsAdd`` and one ``tagsRemove``; the
mutations of a whole batch go as aliased fields of ONE GraphQL document, split only where a
document would pass Shopify's single-query cost limit. A customer whose id syncd does not
know yet is found by e-mail (a REST read); Shopify has no upsert and syncd creates no
customers. ``userErrors`` fail the changes of that mutation; the others are done.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import structlog

from syncd.connectors.client import ApiClient
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.errors import AuthError, ConnectorError, RetryableError
from syncd_plugins.shopify.api import GraphQL

log = structlog.get_logger("syncd.shopify")

MUTATION_COST = 10  # points Shopify charges a mutation
MAX_QUERY_COST = 1000  # Shopify refuses a single document asking for more
MAX_MUTATIONS = MAX_QUERY_COST // MUTATION_COST
MAX_TAG_LENGTH = 255
GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
SELECTION = "{ userErrors { field message } }"


@dataclass
class Mutation:
    """One ``tagsAdd`` or ``tagsRemove`` for one customer, and the changes it answers."""

    operation: str  # "tagsAdd" | "tagsRemove"
    customer_id: str
    tags: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


class ShopifyDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(
        {ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG}
    )

    def __init__(self, rest: ApiClient, graphql: GraphQL, *, batch_size: int) -> None:
        self.rest, self.graphql = rest, graphql
        self.batch_size = batch_size  # type: ignore[misc]

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        ids = self._customer_ids(changes, results)
        mutations: dict[tuple[str, str], Mutation] = {}
        for change in changes:
            if change.id in results:
                continue
            cid = ids[change.email.strip().lower()]
            if change.kind not in self.change_kinds:
                results[change.id] = _failed(change, f"Shopify takes only tags, not {change.kind}")
                continue
            tag = change.key.strip()
            if not tag or "," in tag or len(tag) > MAX_TAG_LENGTH:
                results[change.id] = _failed(
                    change, f"Shopify would refuse tag {change.key!r} (no commas, 1-255 chars)"
                )
                continue
            adding = change.kind is ChangeKind.ADD_TAG
            this, other = ("tagsAdd", "tagsRemove") if adding else ("tagsRemove", "tagsAdd")
            # a later change of the same tag wins over an earlier opposite one
            opposite = mutations.get((cid, other))
            if opposite is not None and tag in opposite.tags:
                opposite.tags.remove(tag)
            mutation = mutations.setdefault((cid, this), Mutation(this, cid))
            if tag not in mutation.tags:
                mutation.tags.append(tag)
            mutation.changes.append(change)
        pending = list(mutations.values())
        for at in range(0, len(pending), MAX_MUTATIONS):
            self._send(pending[at : at + MAX_MUTATIONS], ids, results)
        return [results[c.id] for c in changes]

    def _customer_ids(
        self, changes: Sequence[Change], results: dict[int, ChangeResult]
    ) -> dict[str, str]:
        """Each e-mail's Shopify customer id: the known one, else found by e-mail."""
        ids: dict[str, str] = {}
        for change in changes:
            known = _plain_id(change.external_id)
            if known:
                ids.setdefault(change.email.strip().lower(), known)
        for change in changes:
            email = change.email.strip().lower()
            if email in ids or change.id in results:
                continue
            try:
                found = self._search(change.email.strip())
            except AuthError:
                raise
            except ConnectorError as exc:
                outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
                for c in changes:
                    if c.email.strip().lower() == email:
                        results[c.id] = ChangeResult(c.id, outcome, str(exc))
                continue
            if found is None:
                for c in changes:
                    if c.email.strip().lower() == email:
                        results[c.id] = _failed(
                            c, f"no Shopify customer has e-mail {c.email}; syncd creates none"
                        )
                continue
            ids[email] = found
        return ids

    def _search(self, email: str) -> str | None:
        body = self.rest.get(
            "customers/search.json", {"query": f'email:"{email}"', "fields": "id,email"}
        )
        for row in body.get("customers") or [] if isinstance(body, dict) else []:
            if isinstance(row, dict) and str(row.get("email") or "").strip().lower() == (
                email.lower()
            ):
                return str(row["id"])
        return None

    def _send(
        self, mutations: list[Mutation], ids: dict[str, str], results: dict[int, ChangeResult]
    ) -> None:
        declared: list[str] = []
        fields: list[str] = []
        variables: dict[str, Any] = {}
        sent = [m for m in mutations if m.tags]
        for m in mutations:
            if not m.tags:  # every tag of it was undone by a later change: nothing to send
                for c in m.changes:
                    results[c.id] = ChangeResult(c.id, Outcome.DONE, external_id=m.customer_id)
        if not sent:
            return
        for n, m in enumerate(sent):
            declared += [f"$id{n}: ID!", f"$tags{n}: [String!]!"]
            fields.append(f"m{n}: {m.operation}(id: $id{n}, tags: $tags{n}) {SELECTION}")
            variables[f"id{n}"] = f"gid://shopify/Customer/{m.customer_id}"
            variables[f"tags{n}"] = m.tags
        query = f"mutation syncdTags({', '.join(declared)}) {{ {' '.join(fields)} }}"
        try:
            reply = self.graphql.call(query, variables, cost=MUTATION_COST * len(sent))
        except AuthError:
            raise
        except ConnectorError as exc:
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            for m in sent:
                for c in m.changes:
                    results[c.id] = ChangeResult(c.id, outcome, str(exc))
            return
        data, errors = reply["data"], _field_errors(reply["errors"])
        for n, m in enumerate(sent):
            answer = data.get(f"m{n}")
            problems = [e for e in (answer or {}).get("userErrors") or [] if isinstance(e, dict)]
            reason = "; ".join(str(e.get("message")) for e in problems) or errors.get(f"m{n}")
            if answer is None and reason is None:
                reason = "Shopify did not answer for this mutation"
                outcome = Outcome.RETRYABLE
            else:
                outcome = Outcome.FAILED if reason else Outcome.DONE
            said = f"Shopify {m.operation}: {reason}" if reason else None
            for c in m.changes:
                results[c.id] = ChangeResult(c.id, outcome, said, external_id=m.customer_id)
        log.info("tags written", mutations=len(sent), customers=len({m.customer_id for m in sent}))


def _field_errors(errors: Any) -> dict[str, str]:
    """GraphQL errors of single fields, by alias."""
    found: dict[str, str] = {}
    for e in errors if isinstance(errors, list) else []:
        path = e.get("path") if isinstance(e, dict) else None
        if isinstance(path, list) and path:
            found[str(path[0])] = str(e.get("message"))
    return found


def _plain_id(value: str | None) -> str | None:
    if not value:
        return None
    match = GID.match(value.strip())
    text = match.group(1) if match else value.strip()
    return text if text.isdigit() else None


def _failed(change: Change, reason: str) -> ChangeResult:
    return ChangeResult(change.id, Outcome.FAILED, reason)
