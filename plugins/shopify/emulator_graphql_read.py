"""GraphQL reads of customers for the emulator: ``customers`` (a Relay connection with
``edges { cursor node }``, ``nodes`` and ``pageInfo``, the ``query`` search syntax, ``first`` /
``last`` / ``after`` / ``before`` / ``reverse``) and ``customer(id:)``, each customer rendered
from the store's REST row in the GraphQL ``Customer`` shape (camelCase names, global ids, UTC
times, upper-case enums, money as ``MoneyV2``), and the query cost Shopify computes (an object
1, a connection 2 plus what it returns, scalars free)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from syncd.connectors import parse_time
from syncd_plugins.shopify.emulator_graphql import RootField
from syncd_plugins.shopify.emulator_state import split_tags

MAX_PAGE = 250
_TERM = re.compile(r"""(-)?(?:(\w+):)?(<=|>=|<|>)?(?:'([^']*)'|"([^"]*)"|(\S+))""")


class FieldError(ValueError):
    """A field the schema lacks, or arguments it refuses: a request-wide GraphQL error."""

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def utc(text: str | None) -> str | None:
    """A REST time (the shop's offset) as GraphQL's ``DateTime``: UTC, ``Z``."""
    at = parse_time(text) if text else None
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def customer_node(row: dict[str, Any]) -> dict[str, Any]:
    """A REST customer in the GraphQL ``Customer`` shape."""
    consent = row.get("email_marketing_consent") or {}
    address = row.get("default_address")
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p)
    return {
        "__typename": "Customer",
        "id": gid("Customer", row["id"]),
        "legacyResourceId": str(row["id"]),
        "email": row.get("email"),
        "firstName": row.get("first_name"),
        "lastName": row.get("last_name"),
        "displayName": name or row.get("email") or "",
        "phone": row.get("phone"),
        "note": row.get("note"),
        "state": str(row.get("state") or "disabled").upper(),
        "tags": split_tags(row.get("tags") or ""),
        "verifiedEmail": bool(row.get("verified_email")),
        "canDelete": not row.get("orders_count"),
        "numberOfOrders": str(row.get("orders_count") or 0),
        "amountSpent": {
            "__typename": "MoneyV2",
            "amount": row.get("total_spent") or "0.00",
            "currencyCode": row.get("currency") or "EUR",
        },
        "createdAt": utc(row.get("created_at")),
        "updatedAt": utc(row.get("updated_at")),
        "emailMarketingConsent": (
            {
                "__typename": "CustomerEmailMarketingConsentState",
                "marketingState": str(consent.get("state") or "not_subscribed").upper(),
                "marketingOptInLevel": (consent.get("opt_in_level") or "").upper() or None,
                "consentUpdatedAt": utc(consent.get("consent_updated_at")),
            }
            if row.get("email")
            else None
        ),
        "defaultAddress": (
            {
                "__typename": "MailingAddress",
                "id": gid("MailingAddress", address["id"]),
                "firstName": address.get("first_name"),
                "lastName": address.get("last_name"),
                "city": address.get("city"),
                "countryCodeV2": address.get("country_code"),
                "phone": address.get("phone"),
            }
            if address
            else None
        ),
    }


def select(value: dict[str, Any] | None, fields: tuple[RootField, ...]) -> dict[str, Any] | None:
    """``value`` cut to the selected ``fields`` (aliases kept, nested objects recursed);
    FieldError for a field its type lacks."""
    if value is None:
        return None
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in value:
            kind = value.get("__typename", "Object")
            raise FieldError(
                f"Field '{f.name}' doesn't exist on type '{kind}'",
                code="undefinedField",
                typeName=kind,
                fieldName=f.name,
            )
        got = value[f.name]
        out[f.alias] = select(got, f.children) if isinstance(got, dict) and f.children else got
    return out


def object_cost(fields: tuple[RootField, ...]) -> int:
    """What the objects under ``fields`` add to one node's cost (each object 1)."""
    return sum(1 + object_cost(f.children) for f in fields if f.children)


def customer_cost(f: RootField) -> tuple[int, Callable[[int], int]]:
    """The requested cost of a ``customers`` / ``customer`` field and how the actual cost
    follows from the number of customers returned."""
    if f.name == "customer":
        return 1 + object_cost(f.children), lambda n: 1 + object_cost(f.children) if n else 1
    size = _page_size(f)
    each = 1
    for part in f.children:
        if part.name == "edges":
            node = next((c for c in part.children if c.name == "node"), None)
            each = max(each, 1 + object_cost(node.children) if node else 1)
        elif part.name == "nodes":
            each = max(each, 1 + object_cost(part.children))
    return 2 + size * each, lambda n: 2 + n * each


def resolve_customer(f: RootField, rows: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """``customer(id: "gid://shopify/Customer/N")``: the customer, or null."""
    match = re.fullmatch(r"gid://shopify/Customer/(\d+)", str(f.args.get("id", "")))
    row = rows.get(int(match.group(1))) if match else None
    return select(customer_node(row), f.children) if row else None


def resolve_customers(f: RootField, rows: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """``customers(...)``: the connection as selected, and how many customers it returned."""
    size = _page_size(f)
    args = {k: v for k, v in f.args.items() if v is not None}  # null is the same as absent
    matching = [r for _, r in sorted(rows.items()) if _matches(r, str(f.args.get("query") or ""))]
    if args.get("reverse") is True:
        matching.reverse()
    ids = [r["id"] for r in matching]
    start, stop = 0, len(matching)
    if "after" in args:
        start = _position(ids, args["after"]) + 1
    if "before" in args:
        stop = _position(ids, args["before"])
    window = matching[start:stop]
    page = window[-size:] if "last" in args else window[:size]
    first_at = start + (len(window) - len(page) if "last" in args else 0)
    edges: list[dict[str, Any]] = [
        {"cursor": _cursor(r["id"]), "node": customer_node(r)} for r in page
    ]
    info = {
        "__typename": "PageInfo",
        "hasNextPage": first_at + len(page) < len(matching),
        "hasPreviousPage": first_at > 0,
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None,
    }
    out: dict[str, Any] = {}
    for part in f.children:
        if part.name == "edges":
            out[part.alias] = [
                {
                    c.alias: select(e["node"], c.children) if c.name == "node" else e["cursor"]
                    for c in part.children
                    if c.name in ("node", "cursor") or _no_field(c, "CustomerEdge")
                }
                for e in edges
            ]
        elif part.name == "nodes":
            out[part.alias] = [select(e["node"], part.children) for e in edges]
        elif part.name == "pageInfo":
            out[part.alias] = select(info, part.children)
        elif part.name == "__typename":
            out[part.alias] = "CustomerConnection"
        else:
            _no_field(part, "CustomerConnection")
    return out, len(page)


def _no_field(f: RootField, kind: str) -> bool:
    raise FieldError(
        f"Field '{f.name}' doesn't exist on type '{kind}'",
        code="undefinedField",
        typeName=kind,
        fieldName=f.name,
    )


def _page_size(f: RootField) -> int:
    first, last = f.args.get("first"), f.args.get("last")
    if (first is None) == (last is None):
        raise FieldError("you must provide one of first or last", code="argumentError")
    size = first if first is not None else last
    if not isinstance(size, int) or not 0 <= size <= MAX_PAGE:
        raise FieldError(f"The page size must be between 0 and {MAX_PAGE}", code="argumentError")
    return size


def _cursor(number: int) -> str:
    return base64.b64encode(json.dumps({"last_id": number, "last_value": number}).encode()).decode()


def _position(ids: list[int], cursor: Any) -> int:
    try:
        number = int(json.loads(base64.b64decode(str(cursor)))["last_id"])
        return ids.index(number)
    except (ValueError, KeyError, TypeError):
        raise FieldError(f"Invalid cursor for current pagination sort: {cursor}") from None


def _matches(row: dict[str, Any], query: str) -> bool:
    """Shopify's search syntax, as far as customers need it: ``updated_at:>'ISO'`` (and
    ``created_at``, with ``<``, ``<=``, ``>=``), ``email:``, ``tag:``, ``state:``, a ``-``
    to negate; a bare word matches a name or the e-mail. Terms are ANDed."""
    for m in _TERM.finditer(query):
        negate, name, op = m.group(1), (m.group(2) or "").lower(), m.group(3)
        value = next(g for g in m.group(4, 5, 6) if g is not None)
        if (name, value.upper()) == ("", "AND"):
            continue
        hit = _term(row, name, op, value)
        if hit is None:
            continue  # a field search does not know matches everything, as Shopify ignores it
        if hit == bool(negate):
            return False
    return True


def _term(row: dict[str, Any], name: str, op: str | None, value: str) -> bool | None:
    if name in ("updated_at", "created_at"):
        at, bound = parse_time(row.get(name)), _bound(value)
        if at is None or bound is None:
            return False
        return {
            ">": at > bound,
            ">=": at >= bound,
            "<": at < bound,
            "<=": at <= bound,
            None: at == bound,
        }[op]
    if name == "email":
        return (row.get("email") or "").lower() == value.lower()
    if name == "tag":
        return value.lower() in {t.lower() for t in split_tags(row.get("tags") or "")}
    if name == "state":
        return str(row.get("state") or "").lower() == value.lower()
    if name == "id":
        return str(row["id"]) == value.rsplit("/", 1)[-1]
    if name:
        return None
    words = " ".join(str(row.get(k) or "") for k in ("first_name", "last_name", "email"))
    return value.lower() in words.lower()


def _bound(value: str) -> datetime | None:
    at = parse_time(value)
    if at is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        at = parse_time(value + "T00:00:00Z")
    return at
