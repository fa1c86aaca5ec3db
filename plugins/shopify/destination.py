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
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog

from syncd.connectors import (
    ApiClient,
    AuthError,
    Change,
    ChangeKind,
    ChangeResult,
    ConnectorError,
    Destination,
    Outcome,
    RetryableError,
)
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
    tags: list[str]
    changes: list[Change]


class ShopifyDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(
        {ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG}
    )

    def __init__(self, api: ApiClient, graphql: GraphQL, *, batch_size: int) -> None:
        self.api, self.graphql = api, graphql
        self.batch_size = batch_size  # type: ignore[misc]

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        by_email: dict[str, list[Change]] = {}
        for change in changes:
            by_email.setdefault(change.email.strip().lower(), []).append(change)
        mutations: list[Mutation] = []
        for email, group in by_email.items():
            cid = self._customer_id(email, group, results)
            if cid is not None:
                mutations += self._mutations(cid, group, results)
        for at in range(0, len(mutations), MAX_MUTATIONS):
            self._send(mutations[at : at + MAX_MUTATIONS], results)
        return [results[c.id] for c in changes]

    def _mutations(
        self, cid: str, changes: list[Change], results: dict[int, ChangeResult]
    ) -> list[Mutation]:
        """At most one ``tagsAdd`` and one ``tagsRemove``; the last change of a tag wins."""
        last: dict[str, str] = {}  # tag -> operation
        answered: dict[str, list[Change]] = {}  # tag -> its changes
        for change in changes:
            tag = change.key.strip()
            if change.kind not in self.change_kinds:
                reason = f"Shopify takes only tags, not {change.kind}"
            elif not tag or "," in tag or len(tag) > MAX_TAG_LENGTH:
                reason = f"Shopify would refuse tag {change.key!r} (no commas, 1-255 chars)"
            else:
                last[tag] = "tagsAdd" if change.kind is ChangeKind.ADD_TAG else "tagsRemove"
                answered.setdefault(tag, []).append(change)
                continue
            _answer([change], results, Outcome.FAILED, reason)
        found = []
        for operation in ("tagsAdd", "tagsRemove"):
            tags = [tag for tag, op in last.items() if op == operation]
            if tags:
                found.append(Mutation(operation, cid, tags, [c for t in tags for c in answered[t]]))
        return found

    def _customer_id(
        self, email: str, changes: list[Change], results: dict[int, ChangeResult]
    ) -> str | None:
        """The customer's Shopify id: a known one, else found by e-mail; None (the changes
        answered) when there is none."""
        known = next((i for c in changes if (i := _plain_id(c.external_id))), None)
        if known:
            return known
        try:
            body = self.api.get(
                "customers/search.json", {"query": f'email:"{email}"', "fields": "id,email"}
            )
        except AuthError:
            raise
        except ConnectorError as exc:
            _answer(changes, results, _outcome(exc), str(exc))
            return None
        for row in body.get("customers") or [] if isinstance(body, dict) else []:
            if isinstance(row, dict) and str(row.get("email") or "").strip().lower() == email:
                return str(row["id"])
        reason = f"no Shopify customer has e-mail {changes[0].email}; syncd creates none"
        _answer(changes, results, Outcome.FAILED, reason)
        return None

    def _send(self, sent: list[Mutation], results: dict[int, ChangeResult]) -> None:
        declared: list[str] = []
        fields: list[str] = []
        variables: dict[str, Any] = {}
        for n, m in enumerate(sent):
            declared += [f"$id{n}: ID!", f"$tags{n}: [String!]!"]
            fields.append(f"m{n}: {m.operation}(id: $id{n}, tags: $tags{n}) {SELECTION}")
            variables[f"id{n}"] = f"gid://shopify/Customer/{m.customer_id}"
            variables[f"tags{n}"] = m.tags
        query = f"mutation syncdTags({', '.join(declared)}) {{ {' '.join(fields)} }}"
        try:
            data, errors = self.graphql.call(query, variables, cost=MUTATION_COST * len(sent))
        except AuthError:
            raise
        except ConnectorError as exc:
            _answer([c for m in sent for c in m.changes], results, _outcome(exc), str(exc))
            return
        by_alias = _field_errors(errors)
        for n, m in enumerate(sent):
            answer = data.get(f"m{n}")
            problems = [e for e in (answer or {}).get("userErrors") or [] if isinstance(e, dict)]
            reason = "; ".join(str(e.get("message")) for e in problems) or by_alias.get(f"m{n}")
            if answer is None and reason is None:
                outcome, reason = Outcome.RETRYABLE, "Shopify did not answer for this mutation"
            else:
                outcome = Outcome.FAILED if reason else Outcome.DONE
            said = f"Shopify {m.operation}: {reason}" if reason else None
            _answer(m.changes, results, outcome, said, m.customer_id)
        log.info("tags written", mutations=len(sent), customers=len({m.customer_id for m in sent}))


def _answer(
    changes: Sequence[Change],
    results: dict[int, ChangeResult],
    outcome: Outcome,
    reason: str | None,
    customer_id: str | None = None,
) -> None:
    for c in changes:
        results[c.id] = ChangeResult(c.id, outcome, reason, external_id=customer_id)


def _outcome(exc: ConnectorError) -> Outcome:
    return Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED


def _field_errors(errors: Any) -> dict[str, str]:
    """GraphQL errors of single fields, by alias."""
    found: dict[str, str] = {}
    for e in errors if isinstance(errors, list) else []:
        path = e.get("path") if isinstance(e, dict) else None
        if isinstance(path, list) and path:
            found[str(path[0])] = str(e.get("message"))
    return found


def _plain_id(value: str | None) -> str | None:
    match = GID.match(value.strip()) if value else None
    text = match.group(1) if match else (value or "").strip()
    return text if text.isdigit() else None
