"""Customer tags into Shopify through GraphQL ``tagsAdd`` / ``tagsRemove``, which touch only
the named tags: tags other apps set survive (the REST tag string would be rewritten whole).

Every change of one customer folds into at most one ``tagsAdd`` and one ``tagsRemove``; the
mutations of a whole batch go as aliased fields of ONE GraphQL document, split only where a
document would pass Shopify's single-query cost limit. A customer whose id syncd does not
know yet is found by e-mail (GraphQL ``customers(query: "email:…")``); Shopify has no
upsert and syncd creates no customers. ``userErrors`` fail the changes of that mutation;
the others are done.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog

from syncd.connectors import (
    Answers,
    Change,
    ChangeKind,
    ChangeResult,
    Destination,
    by_contact,
    dig,
    in_batches,
    tag_writes,
)
from syncd_plugins.shopify.api import MAX_QUERY_COST, GraphQL

log = structlog.get_logger("syncd.shopify")

MUTATION_COST = 10  # points Shopify charges a mutation
MAX_MUTATIONS = MAX_QUERY_COST // MUTATION_COST
MAX_TAG_LENGTH = 255
GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
SELECTION = "{ userErrors { field message } }"
LOOKUP = (
    "query syncd_lookup($query: String!) "
    "{ customers(first: 5, query: $query) { nodes { id email } } }"
)
LOOKUP_COST = 2 + 5  # a connection of at most five customers


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

    def __init__(self, graphql: GraphQL, *, batch_size: int, rest_lookup: bool = False) -> None:
        self.graphql = graphql
        self.rest_lookup = rest_lookup  # ``reads: rest``: customers/search.json, as before
        self.batch_size = batch_size  # type: ignore[misc]

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        answers = Answers(changes, self.change_kinds)
        for change in answers.open():
            tag = change.key.strip()
            if not tag or "," in tag or len(tag) > MAX_TAG_LENGTH:
                reason = f"Shopify would refuse tag {change.key!r} (no commas, 1-255 chars)"
                answers.failed(change, reason)
        mutations: list[Mutation] = []
        for email, group in by_contact(answers.open()).items():
            with answers.answering(group):
                cid = self._customer_id(email, group)
                if cid is None:
                    reason = f"no Shopify customer has e-mail {group[0].email}; syncd creates none"
                    answers.failed(group, reason)
                else:
                    mutations += _mutations(cid, group)
        for sent in in_batches(mutations, MAX_MUTATIONS):
            with answers.answering([c for m in sent for c in m.changes]):
                self._send(sent, answers)
        return answers.results()

    def _customer_id(self, email: str, changes: list[Change]) -> str | None:
        """The customer's Shopify id: a known one, else found by e-mail, else None."""
        known = next((i for c in changes if (i := _plain_id(c.external_id))), None)
        if known:
            return known
        query = f'email:"{email}"'
        if self.rest_lookup:
            body = self.graphql.api.get(
                "customers/search.json", {"query": query, "fields": "id,email"}
            )
            rows = body.get("customers") if isinstance(body, dict) else None
        else:
            data, _ = self.graphql.call(LOOKUP, {"query": query}, cost=LOOKUP_COST)
            rows = dig(data, "customers.nodes")
        for row in rows or []:
            if isinstance(row, dict) and str(row.get("email") or "").strip().lower() == email:
                return _plain_id(str(row.get("id") or ""))
        return None

    def _send(self, sent: list[Mutation], answers: Answers) -> None:
        declared: list[str] = []
        fields: list[str] = []
        variables: dict[str, Any] = {}
        for n, m in enumerate(sent):
            declared += [f"$id{n}: ID!", f"$tags{n}: [String!]!"]
            fields.append(f"m{n}: {m.operation}(id: $id{n}, tags: $tags{n}) {SELECTION}")
            variables[f"id{n}"] = f"gid://shopify/Customer/{m.customer_id}"
            variables[f"tags{n}"] = m.tags
        query = f"mutation syncdTags({', '.join(declared)}) {{ {' '.join(fields)} }}"
        data, errors = self.graphql.call(query, variables, cost=MUTATION_COST * len(sent))
        by_alias = _field_errors(errors)
        for n, m in enumerate(sent):
            answer = data.get(f"m{n}")
            problems = [e for e in (answer or {}).get("userErrors") or [] if isinstance(e, dict)]
            reason = "; ".join(str(e.get("message")) for e in problems) or by_alias.get(f"m{n}")
            cid = m.customer_id
            if reason:
                answers.failed(m.changes, f"Shopify {m.operation}: {reason}", external_id=cid)
            elif answer is None:
                answers.retry(
                    m.changes, "Shopify did not answer for this mutation", external_id=cid
                )
            else:
                answers.done(m.changes, external_id=cid)
        log.info("tags written", mutations=len(sent), customers=len({m.customer_id for m in sent}))


def _mutations(cid: str, changes: list[Change]) -> list[Mutation]:
    """At most one ``tagsAdd`` and one ``tagsRemove``; the last change of a tag wins."""
    added, removed = tag_writes(changes)
    found = []
    for operation, tags in (("tagsAdd", added), ("tagsRemove", removed)):
        if tags:
            answered = [c for group in tags.values() for c in group]
            found.append(Mutation(operation, cid, [t.strip() for t in tags], answered))
    return found


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
