"""The state of one emulated Shopify store: customers (tags as ONE comma-separated string,
e-mail marketing consent), orders and abandoned checkouts in the Admin REST shapes, made
from the shared crowd of ``syncd.emulator.people``. Some customers carry tags that other
apps set (a loyalty app, a review app, wholesale), which a sync must never erase."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.emulator.people import Cart, Item, Order, Person, people, pick
from syncd_plugins.shopify.emulator_catalog import Catalog
from syncd_plugins.shopify.emulator_journey import journey

#: the shop's time zone: Shopify answers times with the shop's offset, not in UTC
SHOP_TZ = timezone(timedelta(hours=-4))
OTHER_APP_TAGS = ("loyalty-gold", "reviewed", "wholesale", "yotpo:vip", "Klaviyo Synced")
CODES = {500: "WELCOME5", 1000: "SPRING10"}
CUSTOMER_BASE, ORDER_BASE, CHECKOUT_BASE = 6_207_119_551, 5_450_000_001, 30_118_000_001
MAX_TAGS, MAX_TAG_LENGTH = 250, 255
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: what a REST write of a customer may set; everything else it sends (ids, counts, times) is
#: read-only and ignored, as Shopify ignores it
WRITABLE = ("first_name", "last_name", "email", "phone", "note", "verified_email", "tags")
CONSENT_STATES = ("subscribed", "not_subscribed", "unsubscribed", "pending", "redacted")


def stamp(at: datetime) -> str:
    """A time as Shopify writes it: ISO 8601 in the shop's offset, whole seconds."""
    return at.astimezone(SHOP_TZ).replace(microsecond=0).isoformat()


def split_tags(text: str) -> list[str]:
    """Shopify's tag string as a list: comma-separated, trimmed, no empty ones."""
    return [t.strip() for t in text.split(",") if t.strip()]


def money(cents: int) -> str:
    return f"{cents / 100:.2f}"


class CustomerInvalid(ValueError):
    """A customer write Shopify refuses (422); ``errors`` is its ``errors`` object."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class ShopState:
    """Customers, orders and checkouts by id, as the REST API renders them."""

    def __init__(self, seed: int, now: datetime, people_count: int) -> None:
        self.rng = random.Random(f"shopify-{seed}")
        self.customers: dict[int, dict[str, Any]] = {}
        # lower-cased e-mail -> the first customer with it, for by_email (an order for an
        # e-mail looks its customer up): None when it must be built again
        self._emails: dict[str, int] | None = None
        self._indexed = 0  # customers the index was built from
        self.orders: dict[int, dict[str, Any]] = {}
        # each order's customer journey (GraphQL only: the REST order has none)
        self.journeys: dict[int, dict[str, Any] | None] = {}
        self.checkouts: dict[int, dict[str, Any]] = {}
        self._order_number = 1000
        # told of each change a webhook reports: (its topic, such as "customers/update", the
        # resource as the REST API renders it)
        self.observer: Callable[[str, dict[str, Any]], None] | None = None
        self.catalog = Catalog(stamp, now - timedelta(days=1000))
        for n, person in enumerate(pick(people(seed, people_count, now=now), 0.75, "shopify")):
            self._seed(n, person, now)

    def by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        if self._emails is None or self._indexed != len(self.customers):
            self._index_emails()  # customers put in or taken out from outside this class
        assert self._emails is not None
        found = self.customers.get(self._emails.get(wanted, -1))
        if found is not None and (found["email"] or "").lower() != wanted:  # changed in place
            self._index_emails()
            found = self.customers.get(self._emails.get(wanted, -1))
        return found

    def _index_emails(self) -> None:
        self._emails = {}
        for cid, customer in self.customers.items():
            self._emails.setdefault((customer["email"] or "").lower(), cid)
        self._indexed = len(self.customers)

    def _indexed_customer(self, customer: dict[str, Any]) -> None:
        """Add a customer just put in ``customers`` to the e-mail index."""
        if self._emails is not None and self._indexed == len(self.customers) - 1:
            self._emails.setdefault((customer["email"] or "").lower(), customer["id"])
            self._indexed += 1

    # --- REST customer writes --------------------------------------------------------------

    def create_customer(self, given: dict[str, Any], now: datetime) -> dict[str, Any]:
        """A new customer from a REST ``customer`` object; raises CustomerInvalid."""
        cid = max(self.customers, default=CUSTOMER_BASE) + 7919
        at = stamp(now)
        customer: dict[str, Any] = {
            "id": cid,
            "email": None,
            "first_name": None,
            "last_name": None,
            "phone": None,
            "state": "disabled",
            "tags": "",
            "note": None,
            "orders_count": 0,
            "total_spent": money(0),
            "last_order_id": None,
            "verified_email": True,
            "currency": "EUR",
            "email_marketing_consent": {
                "state": "not_subscribed",
                "opt_in_level": None,
                "consent_updated_at": None,
            },
            "created_at": at,
            "updated_at": at,
            "default_address": None,
            "addresses": [],
        }
        self._write(customer, given, at, creating=True)
        self.customers[cid] = customer
        self._indexed_customer(customer)
        self.tell("customers/create", customer)
        return customer

    def update_customer(
        self, customer: dict[str, Any], given: dict[str, Any], now: datetime
    ) -> None:
        """Apply a REST ``customer`` object to ``customer``; raises CustomerInvalid. Tags
        given REPLACE the customer's tags, as Shopify's REST API does."""
        self._write(customer, given, stamp(now), creating=False)

    def delete_customer(self, customer: dict[str, Any]) -> None:
        """Remove ``customer``; raises CustomerInvalid if it has orders."""
        if customer["orders_count"]:
            raise CustomerInvalid({"base": ["Error deleting customer: the customer has orders"]})
        del self.customers[customer["id"]]
        self._emails = None
        self.tell("customers/delete", {"id": customer["id"]})

    def tell(self, topic: str, resource: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer(topic, resource)

    def _write(
        self, customer: dict[str, Any], given: dict[str, Any], at: str, *, creating: bool
    ) -> None:
        errors: dict[str, list[str]] = {}
        change = {k: given[k] for k in WRITABLE if k in given}
        if "tags" in change:
            tags = change["tags"]
            listed = split_tags(tags) if isinstance(tags, str) else list(tags or [])
            kept: list[str] = []
            for tag in (str(t).strip() for t in listed):
                if tag and tag.lower() not in {k.lower() for k in kept}:
                    kept.append(tag)
            if len(kept) > MAX_TAGS or any(len(t) > MAX_TAG_LENGTH for t in kept):
                errors["tags"] = ["is invalid"]
            change["tags"] = ", ".join(kept)
        email = change.get("email")
        if email is not None:
            email = change["email"] = str(email).strip() or None
        if email is not None:
            if not EMAIL.match(email):
                errors["email"] = ["is invalid"]
            else:
                other = self.by_email(email)
                if other is not None and other["id"] != customer["id"]:
                    errors["email"] = ["has already been taken"]
        consent = given.get("email_marketing_consent")
        state = consent.get("state", "subscribed") if isinstance(consent, dict) else None
        if state is not None and state not in CONSENT_STATES:
            errors["email_marketing_consent"] = ["state is invalid"]
        if errors:
            raise CustomerInvalid(errors)
        if isinstance(consent, dict):
            merged = {**customer["email_marketing_consent"]}
            merged.update({k: consent[k] for k in merged if k in consent})
            if merged != customer["email_marketing_consent"]:
                merged["consent_updated_at"] = consent.get("consent_updated_at") or at
                change["email_marketing_consent"] = merged
        if creating and isinstance(given.get("addresses"), list):
            change["addresses"] = [
                {**a, "id": customer["id"] + 1 + n, "customer_id": customer["id"], "default": not n}
                for n, a in enumerate(given["addresses"])
                if isinstance(a, dict)
            ]
            change["default_address"] = change["addresses"][0] if change["addresses"] else None
        changed = {k: v for k, v in change.items() if customer.get(k) != v}
        if changed:
            customer.update(changed)
            customer["updated_at"] = at
            if "email" in changed and not creating:
                self._emails = None
            if not creating:
                self.tell("customers/update", customer)

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
            self.tell("customers/update", customer)

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
            "note": None,
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
        self.catalog.customer(customer)
        brief = {k: customer[k] for k in ("id", "email", "first_name", "last_name")}
        for index, order in enumerate(person.orders):
            oid = self._seed_order(order, person, brief, now)
            self.journeys[oid] = journey(person, index, order, oid)
            customer["last_order_id"] = oid
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
        self.catalog.order(self.orders[oid], old, order.placed_at, money(order.shipping_cents))
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
