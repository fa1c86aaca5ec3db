"""Shopify's official Python client (``ShopifyAPI``) against the emulator, used as its README
shows: a ``shopify.Session`` activated on ``ShopifyResource``, then ``Shop.current()``,
``Customer.find()`` with ``next_page()``, ``Customer.find(id)``, ``Customer.save()`` (create
and update), ``Customer.destroy()``, ``Order.find(status="any")``, ``shopify.Limits`` and
``shopify.GraphQL().execute`` (a customers query paged by cursor, ``tagsAdd``, ``tagsRemove``).

The client builds its site from the shop's domain (``PROTOCOL://SHOP.MYSHOPIFY_DOMAIN:PORT``);
its own ``Session.setup`` settings (``protocol``, ``myshopify_domain``, ``port``) point that at
the emulator's loopback address. What the client got is compared with ``/_emulator/state``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import shopify
from pyactiveresource.connection import ClientError
from verdict import CONFIG, state, step

VERSION = "2024-10"
CUSTOMERS_QUERY = """query Customers($first: Int!, $after: String) {
  customers(first: $first, after: $after) {
    edges { cursor node { id email tags updatedAt amountSpent { amount currencyCode } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
TAGS_ADD = """mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""
TAGS_REMOVE = """mutation tagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""


def customers_by_id() -> dict[int, dict[str, Any]]:
    return {c["id"]: c for c in state()["customers"]}


def tags(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def read_all(first_page: Any) -> list[Any]:
    rows, page = list(first_page), first_page
    while page.has_next_page():
        page = page.next_page()
        rows += list(page)
    return rows


def main() -> None:
    port = urlsplit(CONFIG["shop"]).port
    host = urlsplit(CONFIG["shop"]).hostname or "127.0.0.1"
    domain = host.partition(".")[2]  # the part after the "shop" label
    shopify.Session.setup(protocol="http", myshopify_domain=domain, port=port)
    session = shopify.Session(CONFIG["shop"], VERSION, CONFIG["access_token"])
    shopify.ShopifyResource.activate_session(session)
    made: dict[str, Any] = {}

    def shop_current() -> tuple[bool, int | None, str]:
        shop = shopify.Shop.current()
        ok = bool(shop.id) and bool(shop.name)
        return ok, None, f"site {session.site}; shop {shop.name!r}"

    def limits() -> tuple[bool, int | None, str]:
        used, size = shopify.Limits.credit_used(), shopify.Limits.credit_limit()
        ok = size == 40 and 1 <= used <= size and shopify.Limits.credit_left() == size - used
        return ok, None, f"{used}/{size} after Shop.current()"

    def customer_pages() -> tuple[bool, int | None, str]:
        got = read_all(shopify.Customer.find(limit=50))
        held = customers_by_id()
        ids = [c.id for c in got]
        ok = sorted(ids) == sorted(held) and len(set(ids)) == len(ids)
        tags_ok = all(tags(c.tags) == tags(held[c.id]["tags"]) for c in got if c.id in held)
        return ok and tags_ok, len(got), f"{len(held)} held; pages of 50 by next_page()"

    def customer_find() -> tuple[bool, int | None, str]:
        held = customers_by_id()
        wanted = sorted(held)[len(held) // 2]
        got = shopify.Customer.find(wanted)
        ok = got.id == wanted and got.email == held[wanted]["email"]
        ok = ok and tags(got.tags) == tags(held[wanted]["tags"])
        missing = shopify.Customer.exists(1)  # an id the shop never had: 404, so False
        return ok and not missing, 1, f"customer {wanted}; unknown id exists() = {missing}"

    def customer_create() -> tuple[bool, int | None, str]:
        customer = shopify.Customer()
        customer.first_name, customer.last_name = "Fidelity", "Check"
        customer.email = "fidelity.check@example.org"
        customer.tags = "fidelity, sdk"
        saved = customer.save()
        made["customer"] = customer
        held = customers_by_id().get(customer.id)
        ok = saved and held is not None and held["email"] == customer.email
        ok = ok and tags(held["tags"] if held else "") == ["fidelity", "sdk"]
        return bool(ok), 1, f"save() = {saved}; new id {customer.id}"

    def customer_update() -> tuple[bool, int | None, str]:
        customer = made["customer"]
        customer.last_name = "Updated"
        customer.tags = "fidelity, updated"
        saved = customer.save()
        held = customers_by_id().get(customer.id) or {}
        ok = saved and held.get("last_name") == "Updated"
        ok = ok and tags(held.get("tags")) == ["fidelity", "updated"]
        again = shopify.Customer.find(customer.id)
        ok = ok and again.last_name == "Updated"
        return bool(ok), 1, f"save() = {saved}; tags now {held.get('tags')!r}"

    def customer_duplicate() -> tuple[bool, int | None, str]:
        twin = shopify.Customer({"email": made["customer"].email, "first_name": "Twin"})
        saved = twin.save()
        errors = twin.errors.full_messages()
        ok = not saved and any("taken" in e for e in errors)
        return ok, None, f"save() = {saved}; errors {errors}"

    def customer_destroy() -> tuple[bool, int | None, str]:
        customer = made["customer"]
        customer.destroy()
        gone = customer.id not in customers_by_id()
        return gone and not shopify.Customer.exists(customer.id), 1, f"customer {customer.id}"

    def orders() -> tuple[bool, int | None, str]:
        got = read_all(shopify.Order.find(status="any", limit=50))
        held = {o["id"]: o for o in state()["orders"]}
        ok = sorted(o.id for o in got) == sorted(held)
        lines_ok = all(
            [li.sku for li in o.line_items] == [li["sku"] for li in held[o.id]["line_items"]]
            for o in got
            if o.id in held
        )
        return ok and lines_ok, len(got), f"{len(held)} held"

    def graphql_customers() -> tuple[bool, int | None, str]:
        client, after, nodes, pages = shopify.GraphQL(), None, [], 0
        while True:
            answer = json.loads(client.execute(CUSTOMERS_QUERY, {"first": 40, "after": after}))
            block = answer["data"]["customers"]
            nodes += [e["node"] for e in block["edges"]]
            pages += 1
            if not block["pageInfo"]["hasNextPage"]:
                break
            after = block["pageInfo"]["endCursor"]
        cost = answer["extensions"]["cost"]
        held = customers_by_id()
        by_gid = {f"gid://shopify/Customer/{i}": c for i, c in held.items()}
        ok = sorted(n["id"] for n in nodes) == sorted(by_gid)
        ok = ok and all(n["tags"] == tags(by_gid[n["id"]]["tags"]) for n in nodes)
        ok = ok and all(n["amountSpent"]["amount"] == by_gid[n["id"]]["total_spent"] for n in nodes)
        ok = ok and cost["throttleStatus"]["maximumAvailable"] > 0
        return ok, len(nodes), f"{pages} pages; last cost {cost['actualQueryCost']}"

    def graphql_tags() -> tuple[bool, int | None, str]:
        held = customers_by_id()
        target = next((c for c in held.values() if tags(c["tags"])), next(iter(held.values())))
        before = tags(target["tags"])
        gid = f"gid://shopify/Customer/{target['id']}"
        client = shopify.GraphQL()
        added = json.loads(client.execute(TAGS_ADD, {"id": gid, "tags": ["fidelity-sdk"]}))
        after_add = tags(customers_by_id()[target["id"]]["tags"])
        removed = json.loads(client.execute(TAGS_REMOVE, {"id": gid, "tags": ["fidelity-sdk"]}))
        after_remove = tags(customers_by_id()[target["id"]]["tags"])
        ok = added["data"]["tagsAdd"]["userErrors"] == []
        ok = ok and removed["data"]["tagsRemove"]["userErrors"] == []
        ok = ok and after_add == [*before, "fidelity-sdk"] and after_remove == before
        return ok, 2, f"{gid}: {before} -> {after_add} -> {after_remove}"

    def over_the_limit() -> tuple[bool, int | None, str]:
        for n in range(1, 200):
            try:
                shopify.Customer.count()
            except ClientError as exc:
                answer = exc.response
                if answer is None or answer.code != 429:
                    raise
                header = answer.headers.get("X-Shopify-Shop-Api-Call-Limit")
                retry = answer.headers.get("Retry-After")
                ok = header == "40/40" and retry is not None
                return ok, n, f"429 after {n} calls; call limit {header}; Retry-After {retry}"
        return False, None, "no 429 from a leaky bucket of 40"

    step("Shop.current()", shop_current)
    step("shopify.Limits (X-Shopify-Shop-Api-Call-Limit)", limits)
    step("Customer.find() + next_page()", customer_pages)
    step("Customer.find(id), exists(unknown)", customer_find)
    step("Customer.save() create", customer_create)
    step("Customer.save() update", customer_update)
    step("Customer.save() duplicate e-mail -> 422", customer_duplicate)
    step("Customer.destroy()", customer_destroy)
    step("Order.find(status='any') + next_page()", orders)
    step("GraphQL().execute customers (cursor paging)", graphql_customers)
    step("GraphQL().execute tagsAdd / tagsRemove", graphql_tags)
    step("429 over the leaky bucket (call-limit header)", over_the_limit)


if __name__ == "__main__":
    main()
