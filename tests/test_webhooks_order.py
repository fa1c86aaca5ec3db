"""Deliveries applied out of order or not at all: a retried or late webhook older than what is
applied already is skipped (counted), and a delivery that cannot be read now stays pending
with the reason, its body kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.connectors import WebhookDelivery, WebhookRefused, WebhookRequest
from syncd.store.schema import attributes, identities, tags, webhook_inbox
from syncd.webhooks.inbox import store_delivery
from syncd.webhooks.micro import apply_inbox
from tests.webhook_world import CUSTOMER, NOW, ORDER, World, runtime


def shop_state(world: World) -> tuple[str | None, set[str]]:
    with world.rt.engine.connect() as conn:
        consent = conn.execute(
            sa.select(identities.c.consent).where(
                identities.c.connector == "shop",
                identities.c.external_id == str(CUSTOMER["id"]),
            )
        ).scalar_one()
        held = set(conn.execute(sa.select(tags.c.tag).where(tags.c.source == "shop")).scalars())
    return consent, held


def customer_at(time: str, consent: str, tags_text: str) -> dict[str, object]:
    return {
        **CUSTOMER,
        "updated_at": time,
        "tags": tags_text,
        "email_marketing_consent": {"state": consent, "consent_updated_at": time},
    }


def test_a_retry_older_than_the_applied_state_does_not_undo_an_unsubscribe(
    tmp_path: Path, store_url: str
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    later = customer_at("2026-12-07T10:05:00Z", "unsubscribed", "vip")
    assert world.shopify("customers/update", later, webhook_id="u-2").status_code == 200
    apply_inbox(world.rt, world.receivers, None)
    assert shop_state(world) == ("revoked", {"vip"})

    # the delivery of 10:00 (subscribed, two tags) is retried after the one of 10:05
    earlier = customer_at("2026-12-07T10:00:00Z", "subscribed", "vip, winter")
    assert world.shopify("customers/update", earlier, webhook_id="u-1").status_code == 200
    applied = apply_inbox(world.rt, world.receivers, None)

    assert applied.counts["stale"] == 1
    assert shop_state(world) == ("revoked", {"vip"})
    with world.rt.engine.connect() as conn:
        outcome = conn.execute(
            sa.select(webhook_inbox.c.outcome).where(webhook_inbox.c.delivery_id == "u-1")
        ).scalar_one()
    assert "stale 1" in outcome

    # a newer one is applied again
    newest = customer_at("2026-12-07T10:07:00Z", "subscribed", "vip, winter")
    assert world.shopify("customers/update", newest, webhook_id="u-3").status_code == 200
    assert apply_inbox(world.rt, world.receivers, None).counts["stale"] == 0
    assert shop_state(world) == ("granted", {"vip", "winter"})


def test_a_delivery_that_cannot_be_read_now_stays_pending_with_its_body_and_reason(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    assert world.shopify("customers/create", CUSTOMER, webhook_id="c-1").status_code == 200
    receiver = world.receivers.of(world.rt, "shop")
    assert receiver is not None

    def broken(request: object) -> object:
        raise WebhookRefused(400, "a customers/create webhook whose body is not an object")

    monkeypatch.setattr(receiver, "read", broken)
    applied = apply_inbox(world.rt, world.receivers, None)

    assert (applied.deliveries, applied.not_applied) == (0, 1)
    with world.rt.engine.connect() as conn:
        row = conn.execute(sa.select(webhook_inbox)).mappings().one()
    assert row["applied_at"] is None and len(bytes(row["body"])) > 0
    assert "not applied: " in row["outcome"] and "not an object" in row["outcome"]

    monkeypatch.undo()  # the receiver reads it again: the next micro-cycle applies it
    applied = apply_inbox(world.rt, world.receivers, None)
    assert (applied.deliveries, applied.not_applied) == (1, 0)
    assert shop_state(world) == ("granted", {"vip", "winter"})
    with world.rt.engine.connect() as conn:
        assert conn.execute(sa.select(webhook_inbox.c.applied_at)).scalar_one() is not None


def test_a_late_hubspot_change_of_another_property_is_still_applied(
    tmp_path: Path, store_url: str
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    created = {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 51,
               "propertyName": "email", "propertyValue": "kim@example.com",
               "occurredAt": 1796637300000}  # fmt: skip
    city = {**created, "eventId": 3, "propertyName": "city", "propertyValue": "Oslo",
            "occurredAt": 1796637600000}  # fmt: skip
    name = {**created, "eventId": 2, "propertyName": "firstname", "propertyValue": "Kim",
            "occurredAt": 1796637400000}  # fmt: skip
    for events in ([created], [city], [name]):  # the firstname change comes last
        assert world.hubspot(events).status_code == 200
    applied = apply_inbox(world.rt, world.receivers, None)
    assert applied.counts["stale"] == 0
    with world.rt.engine.connect() as conn:
        names = set(
            conn.execute(sa.select(attributes.c.name).where(attributes.c.source == "crm")).scalars()
        )
    assert {"first_name", "city"} <= names


def test_a_row_the_store_refuses_for_another_reason_is_not_taken_for_a_replay(
    tmp_path: Path, store_url: str
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    request = WebhookRequest("POST", "https://h/webhooks/shop", {}, {}, b"{}", NOW)
    broken: Any = None  # NOT NULL: an IntegrityError that is no duplicate delivery
    with pytest.raises(sa.exc.IntegrityError):
        store_delivery(world.rt.engine, broken, request, WebhookDelivery("d-1", "x"))
    # the duplicate of a stored delivery id is still answered as stored before
    assert store_delivery(world.rt.engine, "shop", request, WebhookDelivery("d-1", "x"))
    assert not store_delivery(world.rt.engine, "shop", request, WebhookDelivery("d-1", "x"))


def test_a_burst_is_applied_as_one_page_in_the_order_it_came(
    tmp_path: Path, store_url: str
) -> None:
    world = World(runtime(tmp_path, store=store_url))
    later = customer_at("2026-12-07T10:05:00Z", "unsubscribed", "vip")
    earlier = customer_at("2026-12-07T10:00:00Z", "subscribed", "vip, winter")
    assert world.shopify("customers/update", later, webhook_id="u-2").status_code == 200
    assert world.shopify("customers/update", earlier, webhook_id="u-1").status_code == 200
    assert world.shopify("orders/create", ORDER, webhook_id="o-1").status_code == 200

    applied = apply_inbox(world.rt, world.receivers, None)

    # the retry of 10:00, behind 10:05 in the same page, is skipped as it would be alone
    assert applied.deliveries == 3 and applied.counts["stale"] == 1
    assert shop_state(world) == ("revoked", {"vip"})
    with world.rt.engine.connect() as conn:
        rows = conn.execute(sa.select(webhook_inbox.c.applied_at, webhook_inbox.c.outcome)).all()
    assert len(rows) == 3 and all(at is not None for at, _ in rows)
    assert all("in a page of 3 deliveries" in outcome for _, outcome in rows)
