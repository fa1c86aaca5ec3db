"""The sample account the ActiveCampaign emulator starts with, made from the shared crowd of
``syncd.emulator.people``: lists, tags, fields, e-mail activity, bounces and shop orders."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.emulator.people import FORMS, Cart, Item, Order, Person, pick

if TYPE_CHECKING:
    from syncd_plugins.activecampaign.emulator_state import AccountState


def seed_account(state: AccountState, crowd: list[Person], now: datetime) -> None:
    """The account as the seed makes it: a share of the crowd, with their lists, tags,
    fields, e-mail activity, bounces and shop orders."""
    start = now - timedelta(days=800)
    state.insert("users", _user(start))
    state.insert("connections", _connection(start))
    newsletter = state.insert("lists", _list("Newsletter", "newsletter", start))
    customers = state.insert("lists", _list("Customers", "customers", start))
    # the sign-up form people subscribe to the newsletter through
    signup = state.insert(
        "forms", {"name": FORMS[0], "action": "", "cdate": start, "udate": start, "entries": "0"}
    )
    tag_names = ("customer", "webinar-2024", "newsletter-signup")
    tags = {n: state.create_tag(n, "contact", "", start) for n in tag_names}
    fields = {
        title: state.insert(
            "fields",
            {
                "title": title,
                "type": kind,
                "perstag": perstag,
                "descript": "",
                "isrequired": "0",
                "cdate": start,
                "udate": start,
            },
        )
        for title, kind, perstag in (
            ("City", "text", "CITY"),
            ("Loyalty tier", "text", "LOYALTY_TIER"),
            ("Last order date", "date", "LAST_ORDER_DATE"),
        )
    }
    for person in pick(crowd, 0.85, "activecampaign"):
        c = state.insert("contacts", state.blank_contact(person.email, person.created_at))
        c.update(firstName=person.first_name, lastName=person.last_name, phone=person.phone)
        cid, at = c["id"], person.created_at
        state.set_field(cid, fields["City"]["id"], person.city, at)
        if person.consent is not None:
            status = 1 if person.consent == "granted" else 2
            through = signup["id"] if any(f.form == FORMS[0] for f in person.forms) else "0"
            state.set_list_status(cid, newsletter["id"], 1, at, resubscribe=True, form=through)
            state.add_tag(cid, tags["newsletter-signup"]["id"], at)
            if status == 2:
                quit_at = max([e.at for e in person.emails] + [at])
                state.set_list_status(cid, newsletter["id"], 2, quit_at, resubscribe=True)
        if state.rng.random() < 0.15:
            state.add_tag(cid, tags["webinar-2024"]["id"], at + timedelta(days=3))
        if person.orders:
            last = person.orders[-1].placed_at
            state.add_tag(cid, tags["customer"]["id"], person.orders[0].placed_at)
            state.set_list_status(
                cid, customers["id"], 1, person.orders[0].placed_at, resubscribe=True
            )
            tier = "gold" if person.spent_cents > 60000 else "silver"
            state.set_field(cid, fields["Loyalty tier"]["id"], tier, last)
            state.set_field(cid, fields["Last order date"]["id"], last.date().isoformat(), last)
        _seed_activity(state, person, c)
        _seed_shop(state, person, c)


def _list(name: str, stringid: str, at: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "stringid": stringid,
        "sender_url": "https://shop.example.com",
        "sender_reminder": "You signed up at shop.example.com",
        "cdate": at,
        "udate": at,
        "created_timestamp": at,
        "updated_timestamp": at,
        "userid": "1",
        "user": "1",
        "subscriber_count": "0",
    }


def _user(at: datetime) -> dict[str, Any]:
    """The account's owner: the one user, whom ``GET /users/me`` names."""
    return {
        "username": "admin",
        "firstName": "Account",
        "lastName": "Owner",
        "email": "owner@example.com",
        "phone": "",
        "signature": None,
        "localZoneid": "America/Chicago",
        "cdate": at,
        "udate": at,
    }


def _connection(at: datetime) -> dict[str, Any]:
    """The shop's e-commerce connection, which every order and customer names."""
    return {
        "service": "shop",
        "externalid": "shop.example.com",
        "name": "Shop",
        "isInternal": "0",
        "connectionType": "ecommerce",
        "status": "1",
        "syncStatus": "0",
        "logoUrl": "",
        "linkUrl": "https://shop.example.com",
        "cdate": at,
        "udate": at,
    }


def _seed_activity(state: AccountState, person: Person, contact: dict[str, Any]) -> None:
    for visit in person.visits:  # site tracking
        state.insert(
            "trackingLogs",
            {
                "contact": contact["id"],
                "subscriberid": contact["id"],
                "type": "site",
                "value": f"https://shop.example.com{visit.url}",
                "tstamp": visit.at,
            },
        )
    cid, campaigns = contact["id"], sorted({e.campaign for e in person.emails})
    for e in person.emails:
        if e.type in ("open", "click"):
            state.insert(
                "emailActivities",
                {
                    "subscriberid": cid,
                    "contact": cid,
                    "email": contact["email"],
                    "event": e.type,
                    "link": e.link,
                    "campaignid": str(campaigns.index(e.campaign) + 1),
                    "subject": e.campaign,
                    "tstamp": e.at,
                },
            )
        elif e.type.startswith("bounce_"):
            hard = e.type == "bounce_hard"
            key = "bounced_hard" if hard else "bounced_soft"
            contact[key] = str(int(contact[key]) + 1)
            contact["bounced_date"] = e.at.date().isoformat()
            state.insert(
                "bounceLogs",
                {
                    "contact": cid,
                    "subscriberid": cid,
                    "email": contact["email"],
                    "bounceType": "hard" if hard else "soft",
                    "code": "5.1.1" if hard else "4.2.2",
                    "error": "Mailbox does not exist" if hard else "Mailbox full",
                    "tstamp": e.at,
                    "timestamp": e.at,
                    "created_timestamp": e.at,
                    "updated_timestamp": e.at,
                },
            )
            state.touch(cid, e.at)


def _seed_shop(state: AccountState, person: Person, contact: dict[str, Any]) -> None:
    if not person.orders and not person.carts:
        return
    customer = state.insert(
        "ecomCustomers",
        {
            "connectionid": "1",
            "externalid": person.key,
            "email": contact["email"],
            "totalRevenue": str(person.spent_cents),
            "totalOrders": str(len(person.orders)),
            "acceptsMarketing": "1" if person.consent == "granted" else "0",
            "tstamp": person.created_at,
        },
    )
    recovered = {o.from_cart: o for o in person.orders if o.from_cart}
    records: list[tuple[datetime, tuple[dict[str, Any], tuple[Item, ...]]]] = []
    for order in person.orders:
        if not order.from_cart:  # a recovered cart is written once, as the cart
            records.append((order.placed_at, _order(order, None, 1)))
    for cart in person.carts:
        done = recovered.get(cart.key)
        records.append((cart.created_at, _order(done, cart, 3 if done else 2)))
    for _, (row, items) in sorted(records, key=lambda r: r[0]):
        row.update(email=contact["email"], customerid=customer["id"], customer=customer["id"])
        saved = state.insert("ecomOrders", row)
        saved["orderProducts"] = [
            state.insert("ecomOrderProducts", _product(item, saved))["id"] for item in items
        ]


def _product(item: Item, order: dict[str, Any]) -> dict[str, Any]:
    """One line of an order: AC keeps them apart and lists only their ids on the order."""
    return {
        "orderid": order["id"],
        "connectionid": order["connectionid"],
        "externalid": item.product.sku,
        "sku": item.product.sku,
        "name": item.product.name,
        "description": "",
        "price": item.product.price_cents,
        "quantity": item.quantity,
        "category": item.product.category,
        "imageUrl": "",
        "productUrl": f"https://shop.example.com/products/{item.product.sku.lower()}",
        "createdDate": order["createdDate"],
        "updatedDate": order["updatedDate"],
        "tstamp": order["tstamp"],
    }


def _order(
    order: Order | None, cart: Cart | None, order_state: int
) -> tuple[dict[str, Any], tuple[Item, ...]]:
    created = cart.created_at if cart else order.placed_at if order else None
    updated = order.placed_at if order else created
    items = order.items if order else cart.items if cart else ()
    row = {
        "externalid": order.key if order else None,
        "externalcheckoutid": cart.key if cart else None,
        "source": "1",
        "email": "",
        "currency": "EUR",
        "connectionid": "1",
        "connection": "1",
        "customerid": "",
        "totalPrice": order.total_cents if order else cart.total_cents if cart else 0,
        "shippingAmount": order.shipping_cents if order else 0,
        "taxAmount": 0,
        "discountAmount": order.discount_cents if order else 0,
        "externalCreatedDate": created,
        "totalProducts": len(items),
        "createdDate": created,
        "updatedDate": updated,
        "state": order_state,
        "orderDate": order.placed_at if order else None,
        "tstamp": updated,
    }
    return row, tuple(items)
