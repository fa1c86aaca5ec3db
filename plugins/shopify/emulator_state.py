"""The state of one emulated Shopify store: customers (tags as ONE comma-separated string,
e-mail marketing consent), orders and abandoned checkouts in the Admin REST shapes, made
from the shared crowd of ``syncd.emulator.people``. Some customers carry tags that other
apps set (a loyalty app, a review app, wholesale), which a sync must never erase."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.emulator.people import Cart, Item, Order, Person, people, pick

#: the shop's time zone: Shopify answers times with the shop's offset, not in UTC
SHOP_TZ = timezone(timedelta(hours=-4))
OTHER_APP_TAGS = ("loyalty-gold", "reviewed", "wholesale", "yotpo:vip", "Klaviyo Synced")
CODES = {500: "WELCOME5", 1000: "SPRING10"}
CUSTOMER_BASE, ORDER_BASE, CHECKOUT_BASE = 6_207_119_551, 5_450_000_001, 30_118_000_001
MAX_TAGS, MAX_TAG_LENGTH = 250, 255


def stamp(at: datetime) -> str:
    """A time as Shopify writes it: ISO 8601 in the shop's offset, whole seconds."""
    return at.astimezone(SHOP_TZ).replace(microsecond=0).isoformat()


def split_tags(text: str) -> list[str]:
    """Shopify's tag string as a list: comma-separated, trimmed, no empty ones."""
    return [t.strip() for t in text.split(",") if t.strip()]


def money(cents: int) -> str:
    return f"{cents / 100:.2f}"


class ShopState:
    """Customers, orders and checkouts by id, as the REST API renders them."""

    def __init__(self, seed: int, now: datetime, people_count: int) -> None:
        self.rng = random.Random(f"shopify-{seed}")
        self.customers: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.checkouts: dict[int, dict[str, Any]] = {}
        self._order_number = 1000
        for n, person in enumerate(pick(people(seed, people_count, now=now), 0.75, "shopify")):
            self._seed(n, person, now)

    def by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next(
            (c for c in self.customers.values() if (c["email"] or "").lower() == wanted), None
        )

    # --- tag writes (what tagsAdd / tagsRemove do) -----------------------------------------

    def add_tags(self, customer: dict[str, Any], tags: list[str], now: datetime) -> str | None:
        """Add ``tags`` (case-insensitively new ones only); an error message, or None."""
        have = split_tags(customer["tags"])
        lower = {t.lower() for t in have}
        for tag in tags:
            if tag.lower() not in lower:
                have.append(tag)
                lower.add(tag.lower())
        if len(have) > MAX_TAGS:
            return f"Tags cannot be more than {MAX_TAGS}"
        self._set_tags(customer, have, now)
        return None

    def remove_tags(self, customer: dict[str, Any], tags: list[str], now: datetime) -> None:
        gone = {t.lower() for t in tags}
        self._set_tags(
            customer, [t for t in split_tags(customer["tags"]) if t.lower() not in gone], now
        )

    def _set_tags(self, customer: dict[str, Any], tags: list[str], now: datetime) -> None:
        text = ", ".join(tags)
        if text != customer["tags"]:
            customer["tags"] = text
            customer["updated_at"] = stamp(now)

    # --- sample data ----------------------------------------------------------------------

    def _seed(self, n: int, person: Person, now: datetime) -> None:
        cid = CUSTOMER_BASE + n * 7919
        tags = self.rng.sample(OTHER_APP_TAGS, self.rng.choice([0, 0, 1, 1, 2]))
        consent = {"granted": "subscribed", "revoked": "unsubscribed"}.get(
            person.consent or "", "not_subscribed"
        )
        address = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "city": person.city,
            "country_code": person.country,
            "phone": person.phone,
            "default": True,
        }
        updated = max([person.created_at, *(o.placed_at for o in person.orders)])
        customer: dict[str, Any] = {
            "id": cid,
            "email": person.email,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "phone": None,
            "state": "enabled" if person.orders else "disabled",
            "tags": ", ".join(tags),
            "orders_count": len(person.orders),
            "total_spent": money(person.spent_cents),
            "last_order_id": None,
            "verified_email": True,
            "currency": "EUR",
            "email_marketing_consent": {
                "state": consent,
                "opt_in_level": "single_opt_in" if consent == "subscribed" else None,
                "consent_updated_at": stamp(person.created_at) if person.consent else None,
            },
            "created_at": stamp(person.created_at),
            "updated_at": stamp(updated),
            "default_address": {"id": cid + 1, "customer_id": cid, **address},
            "addresses": [{"id": cid + 1, "customer_id": cid, **address}],
        }
        self.customers[cid] = customer
        brief = {k: customer[k] for k in ("id", "email", "first_name", "last_name")}
        for order in person.orders:
            customer["last_order_id"] = self._seed_order(order, person, brief, now)
        for cart in person.carts:
            self._seed_checkout(cart, person, brief)

    def _seed_order(
        self, order: Order, person: Person, customer: dict[str, Any], now: datetime
    ) -> int:
        oid = ORDER_BASE + len(self.orders) * 104_729
        self._order_number += 1
        code = CODES.get(order.discount_cents)
        old = order.placed_at < now - timedelta(days=60)
        self.orders[oid] = {
            "id": oid,
            "name": f"#{self._order_number}",
            "order_number": self._order_number,
            "email": person.email,
            "financial_status": "paid",
            "fulfillment_status": "fulfilled" if old else None,
            "currency": order.currency,
            "total_price": money(order.total_cents),
            "subtotal_price": money(sum(i.total_cents for i in order.items) - order.discount_cents),
            "total_tax": money(0),
            "total_discounts": money(order.discount_cents),
            "discount_codes": (
                [{"code": code, "amount": money(order.discount_cents), "type": "fixed_amount"}]
                if code
                else []
            ),
            "line_items": self._line_items(order.items, oid),
            "customer": dict(customer),
            "source_name": "web",
            "created_at": stamp(order.placed_at),
            "updated_at": stamp(order.placed_at),
            "processed_at": stamp(order.placed_at),
            "cancelled_at": None,
            "closed_at": stamp(order.placed_at + timedelta(days=30)) if old else None,
        }
        return oid

    def _seed_checkout(self, cart: Cart, person: Person, customer: dict[str, Any]) -> None:
        kid = CHECKOUT_BASE + len(self.checkouts) * 15_485_863
        token = f"{self.rng.getrandbits(128):032x}"
        completed = cart.created_at + timedelta(hours=2) if cart.recovered else None
        self.checkouts[kid] = {
            "id": kid,
            "token": token,
            "cart_token": f"{self.rng.getrandbits(96):024x}",
            "email": person.email,
            "abandoned_checkout_url": f"https://shop.example.com/checkouts/{token}/recover",
            "completed_at": stamp(completed) if completed else None,
            "currency": "EUR",
            "total_price": money(cart.total_cents),
            "line_items": self._line_items(cart.items, kid),
            "customer": dict(customer),
            "created_at": stamp(cart.created_at),
            "updated_at": stamp(completed or cart.created_at),
        }

    def _line_items(self, items: tuple[Item, ...], owner: int) -> list[dict[str, Any]]:
        return [
            {
                "id": owner * 10 + i,
                "product_id": 8_100_000 + sum(map(ord, item.product.sku)),
                "variant_id": 44_000_000 + sum(map(ord, item.product.sku)),
                "sku": item.product.sku,
                "title": item.product.name,
                "quantity": item.quantity,
                "price": money(item.product.price_cents),
            }
            for i, item in enumerate(items)
        ]
