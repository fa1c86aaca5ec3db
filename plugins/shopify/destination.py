"""Customer tags into Shopify through GraphQL ``tagsAdd`` / ``tagsRemove``, which touch only
the named tags: tags other apps set survive, and sending one again changes nothing, so a
write whose answer was lost is safe to send again. syncd creates nothing in a shop: no
customers (Shopify has no upsert), no metafields.

Every change of one customer folds into at most one ``tagsAdd`` and one ``tagsRemove``; the
mutations of a push go as aliased fields of as few GraphQL documents as Shopify's
single-query limit allows (1,000 points, 10 a mutation: 100 a document, fewer when the
shop's bucket holds less). Customers whose id syncd does not know yet are found by e-mail,
many in one query (``customers(query: 'email:"a" OR email:"b"')``). ``userErrors``
fail the changes of that mutation; the others are done.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import structlog

from syncd.connectors import ChangeKind, HttpDestination, by_contact, dig, known_ids, tag_writes
from syncd_plugins.shopify.api import MAX_QUERY_COST

if TYPE_CHECKING:
    from syncd.connectors import Answers, Change, Write
    from syncd_plugins.shopify.connector import ShopifyConnector

log = structlog.get_logger("syncd.shopify")

MUTATION_COST = 10  # points Shopify charges a mutation
MAX_TAG_LENGTH = 255
GID = re.compile(r"^gid://shopify/Customer/(\d+)$")
SELECTION = "{ userErrors { field message } }"
LOOKUP = (
    "query syncd_lookup($first: Int!, $query: String!) "
    "{ customers(first: $first, query: $query) { nodes { id email } } }"
)
LOOKUP_EMAILS = 100  # e-mails ORed in one search
LOOKUP_FIRST = 250  # customers a search answers at most (Shopify's page maximum)


class Mutation(NamedTuple):
    """One ``tagsAdd`` or ``tagsRemove`` for one customer."""

    operation: str  # "tagsAdd" | "tagsRemove"
    customer_id: str
    tags: list[str]


class ShopifyDestination(HttpDestination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(
        {ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG}
    )
    connector: ShopifyConnector

    def write(self, answers: Answers) -> None:
        for change in answers.open():
            tag = change.key.strip()
            if not tag or "," in tag or len(tag) > MAX_TAG_LENGTH:
                reason = f"Shopify would refuse tag {change.key!r} (no commas, 1-255 chars)"
                answers.failed(change, reason)
        groups = by_contact(answers.open())
        known = lambda change: _plain_id(change.external_id)  # noqa: E731
        ids = known_ids(answers, groups, self._look_up, LOOKUP_EMAILS, known)
        mutations: list[Write[Mutation]] = []
        for email, group in groups.items():
            if email in ids:
                mutations += _mutations(ids[email], group)
            else:
                reason = f"no Shopify customer has e-mail {group[0].email}; syncd creates none"
                answers.failed(group, reason)
        answers.send(mutations, self.per_document(), lambda sent: self._send(sent, answers))

    def per_document(self) -> int:
        """Mutations one document holds: Shopify's single-query limit, or the shop's whole
        bucket when that is less."""
        room = min(MAX_QUERY_COST, self.connector.graphql.maximum or MAX_QUERY_COST)
        return max(1, int(room // MUTATION_COST))

    def _look_up(self, emails: list[str]) -> dict[str, str]:
        """The Shopify ids of the customers with these (trimmed, lower-case) e-mails, by
        e-mail, from one search."""
        query = " OR ".join(f'email:"{e}"' for e in emails)
        variables = {"first": LOOKUP_FIRST, "query": query}
        data, _ = self.connector.graphql.call(LOOKUP, variables, cost=2 + LOOKUP_FIRST)
        wanted, found = set(emails), dict[str, str]()
        for row in dig(data, "customers.nodes") or []:
            email = str(dig(row, "email") or "").strip().lower()
            cid = _plain_id(str(dig(row, "id") or ""))
            if email in wanted and cid:
                found.setdefault(email, cid)
        return found

    def _send(self, sent: list[Write[Mutation]], answers: Answers) -> None:
        declared: list[str] = []
        fields: list[str] = []
        variables: dict[str, Any] = {}
        for n, (m, _) in enumerate(sent):
            declared += [f"$id{n}: ID!", f"$tags{n}: [String!]!"]
            fields.append(f"m{n}: {m.operation}(id: $id{n}, tags: $tags{n}) {SELECTION}")
            variables[f"id{n}"] = f"gid://shopify/Customer/{m.customer_id}"
            variables[f"tags{n}"] = m.tags
        query = f"mutation syncdTags({', '.join(declared)}) {{ {' '.join(fields)} }}"
        data, errors = self.connector.graphql.call(query, variables, cost=MUTATION_COST * len(sent))
        by_alias = _field_errors(errors)
        for n, (m, changes) in enumerate(sent):
            answer = data.get(f"m{n}")
            problems = [e for e in (answer or {}).get("userErrors") or [] if isinstance(e, dict)]
            reason = "; ".join(str(e.get("message")) for e in problems) or by_alias.get(f"m{n}")
            cid = m.customer_id
            if reason:
                answers.failed(changes, f"Shopify {m.operation}: {reason}", external_id=cid)
            elif answer is None:
                answers.retry(changes, "Shopify did not answer for this mutation", external_id=cid)
            else:
                answers.done(changes, external_id=cid)
        log.info(
            "tags written", mutations=len(sent), customers=len({m.customer_id for m, _ in sent})
        )


def _mutations(cid: str, changes: list[Change]) -> list[Write[Mutation]]:
    """At most one ``tagsAdd`` and one ``tagsRemove``; the last change of a tag wins."""
    added, removed = tag_writes(changes)
    found = []
    for operation, tags in (("tagsAdd", added), ("tagsRemove", removed)):
        if tags:
            answered = [c for group in tags.values() for c in group]
            found.append((Mutation(operation, cid, [t.strip() for t in tags]), answered))
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
