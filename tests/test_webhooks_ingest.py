"""``POST /webhooks/{instance}`` on the daemon's app: each vendor's valid signature stored, a
forged one refused (401, counted, nothing stored), a stale HubSpot timestamp refused, a replay
applied once, 413 for a body over the limit, 503 with Retry-After once the queue is full,
404 for an instance that takes no webhooks."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from syncd import metrics
from syncd.daemon.health import build_app
from syncd.store.schema import events, identities, webhook_inbox
from syncd.ui.app import pages_app
from syncd.webhooks import inbox
from syncd.webhooks.micro import apply_inbox
from tests.webhook_world import (
    AC_TOKEN,
    CUSTOMER,
    NOW,
    ORDER,
    SHOP_SECRET,
    SM_PASSWORD,
    World,
    hmac_sha256_base64,
    runtime,
)


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> World:
    """On SQLite and PostgreSQL."""
    return World(runtime(tmp_path, store=store_url))


def stored(world: World) -> list[sa.Row]:
    with world.rt.engine.connect() as conn:
        return conn.execute(sa.select(webhook_inbox).order_by(webhook_inbox.c.id)).all()


def refused(instance: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "syncd_webhooks_refused_total", {"instance": instance, "reason": reason}
    )
    return value or 0.0


def test_a_signed_shopify_order_is_stored_before_the_answer(world: World) -> None:
    answer = world.shopify("orders/create", ORDER)
    assert answer.status_code == 200
    (row,) = stored(world)
    assert (row.instance, row.delivery_id, row.topic) == ("shop", "w-1", "orders/create")
    assert row.applied_at is None and row.body  # stored as received, not applied yet


def test_a_forged_signature_is_refused_counted_and_never_stored(world: World) -> None:
    before = refused("shop", "unauthorized")
    answer = world.shopify("orders/create", ORDER, secret="a guess")
    assert answer.status_code == 401
    assert "X-Shopify-Hmac-Sha256 does not match" in answer.text
    assert stored(world) == []
    assert refused("shop", "unauthorized") == before + 1


@pytest.mark.parametrize(
    ("post", "instance"),
    [
        (lambda w, **kw: w.hubspot([{"eventId": 1}], **kw), "crm"),
        (lambda w, **kw: w.activecampaign({"type": "update"}, token=kw["secret"]), "esp"),
        (lambda w, **kw: w.salesmanago({"contactId": "x"}, password=kw["secret"]), "sm"),
    ],
    ids=["hubspot", "activecampaign", "salesmanago"],
)
def test_each_vendor_refuses_a_wrong_secret(world: World, post, instance: str) -> None:  # type: ignore[no-untyped-def]
    before = refused(instance, "unauthorized")
    assert post(world, secret="a guess").status_code == 401
    assert stored(world) == []
    assert refused(instance, "unauthorized") == before + 1


def test_hubspot_signed_within_five_minutes_is_taken_and_older_refused(world: World) -> None:
    change = {"eventId": 7, "subscriptionType": "contact.propertyChange", "objectId": 51,
              "propertyName": "email", "propertyValue": "ann@example.com",
              "occurredAt": int(NOW.timestamp() * 1000)}  # fmt: skip
    stale = world.hubspot([change], sent=NOW - timedelta(minutes=5, seconds=1))
    assert stale.status_code == 401 and "older than 5 minutes" in stale.text
    assert stored(world) == []
    ahead = world.hubspot([change], sent=NOW + timedelta(minutes=5, seconds=1))
    assert ahead.status_code == 401 and "ahead" in ahead.text
    assert stored(world) == []
    assert world.hubspot([change], sent=NOW - timedelta(minutes=4)).status_code == 200
    # the URI is signed as the vendor called it: the public URL, with the query
    assert world.hubspot([{**change, "eventId": 8}], query="portal=1%3A2").status_code == 200
    assert len(stored(world)) == 2


def test_activecampaign_and_salesmanago_are_taken_with_their_secrets(world: World) -> None:
    fields = {"type": "subscribe", "contact[id]": "9", "contact[email]": "bo@example.com",
              "date_time": "2026-12-07 10:00:00"}  # fmt: skip
    assert world.activecampaign(fields).status_code == 200
    rule = {"id": "r1", "name": "cart", "contactId": "c-9", "email": "bo@example.com"}
    assert world.salesmanago(rule).status_code == 200
    assert [r.instance for r in stored(world)] == ["esp", "sm"]


def test_salesmanago_posts_of_the_same_body_are_each_stored(world: World) -> None:
    # the contact's phone goes A -> B -> A: the third post is news, not a replay
    first = {"id": "r1", "name": "phone", "contactId": "c-9", "email": "bo@example.com",
             "phone": "+48 600 000 001"}  # fmt: skip
    second = {**first, "phone": "+48 600 000 002"}
    for rule in (first, second, first):
        assert world.salesmanago(rule).status_code == 200
    assert [r.instance for r in stored(world)] == ["sm", "sm", "sm"]


def test_a_replay_is_answered_200_and_applied_once(world: World) -> None:
    assert world.shopify("customers/update", CUSTOMER, webhook_id="w-9").status_code == 200
    assert world.shopify("orders/create", ORDER, webhook_id="w-10").status_code == 200
    replay = world.shopify("orders/create", ORDER, webhook_id="w-10")
    assert replay.status_code == 200 and replay.text == "stored before\n"
    assert len(stored(world)) == 2
    applied = apply_inbox(world.rt, world.receivers, None)
    assert applied.deliveries == 2
    # applied, the same delivery again is still recognised
    assert world.shopify("orders/create", ORDER, webhook_id="w-10").text == "stored before\n"
    assert apply_inbox(world.rt, world.receivers, None).deliveries == 0
    with world.rt.engine.connect() as conn:
        placed = conn.execute(sa.select(events.c.external_id, events.c.value)).all()
        ids = conn.execute(sa.select(identities.c.external_id)).scalars().all()
    assert [tuple(r) for r in placed] == [(f"order/{ORDER['id']}", 199.0)]
    assert str(CUSTOMER["id"]) in ids


def test_a_body_over_the_limit_gets_413(tmp_path: Path) -> None:
    world = World(runtime(tmp_path, max_body="2KB"))
    big = {**ORDER, "note": "x" * 3000}
    assert world.shopify("orders/create", big).status_code == 413
    assert world.shopify("orders/create", ORDER).status_code == 200
    assert len(stored(world)) == 1


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    world = World(runtime(tmp_path, queue=2))
    for n in range(2):
        assert world.shopify("orders/create", ORDER, webhook_id=f"w-{n}").status_code == 200
    full = world.shopify("orders/create", ORDER, webhook_id="w-2")
    assert full.status_code == 503 and full.headers["retry-after"] == "10"
    assert len(stored(world)) == 2
    # applied without this process being told (another replica's micro-cycle): the ingest
    # finds it in the store
    apply_inbox(world.rt, world.receivers, None)
    assert world.shopify("orders/create", ORDER, webhook_id="w-2").status_code == 200


def test_an_unknown_instance_or_an_unreadable_body_is_refused(world: World) -> None:
    assert world.client.post("/webhooks/nobody", content=b"{}").status_code == 404
    assert world.client.post("/webhooks/shop/extra", content=b"{}").status_code == 404
    assert world.client.get("/webhooks/shop").status_code == 405
    # signed, but not JSON: 400, never stored
    body = b"not json"
    mac = hmac_sha256_base64(SHOP_SECRET, body)
    headers = {"X-Shopify-Hmac-Sha256": mac, "X-Shopify-Topic": "x"}
    answer = world.client.post("/webhooks/shop", content=body, headers=headers)
    assert answer.status_code == 400
    assert stored(world) == []


def test_the_health_endpoints_still_answer_beside_the_ingest(world: World) -> None:
    assert world.client.get("/healthz").text == "ok\n"


def test_the_status_page_shows_received_pending_lag_and_refused(tmp_path: Path) -> None:
    world = World(runtime(tmp_path))
    world.shopify("orders/create", ORDER, webhook_id="w-1")
    world.shopify("orders/create", ORDER, secret="forged")
    apply_inbox(world.rt, world.receivers, None)  # applied at NOW, as it arrived: lag 0
    world.shopify("customers/update", CUSTOMER, webhook_id="w-2")
    app = build_app(lambda: (True, "ok"), pages=pages_app(lambda: world.rt))
    html = TestClient(app).get("/").text
    section = unescape(html[html.index("<h2>Webhooks</h2>") :])
    row = re.search(r"<tr><td>shop</td>(.*?)</tr>", section)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[0:2] == ["2", "1"]  # received, pending
    assert cells[3:5] == ["0.0s", "0.0s"]  # lag p50, p95
    assert "unauthorized" in cells[5]
    assert re.search(r"<tr><td>crm</td><td[^>]*>0</td>", section)


def test_a_store_locked_by_a_long_writer_answers_503_then_takes_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "STORE_WAIT", 0.2)  # the vendor's patience, shortened
    world = World(runtime(tmp_path))
    world.rt.engine.dispose()  # migrated; now another writer holds the store
    writer = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        busy = world.shopify("orders/create", ORDER, webhook_id="w-1")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "10"
        assert refused("shop", "busy") >= 1
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert world.shopify("orders/create", ORDER, webhook_id="w-1").status_code == 200
    assert len(stored(world)) == 1


def test_the_inbox_keeps_no_secret_that_verified_a_request(world: World) -> None:
    fields = {"type": "update", "contact[id]": "9", "contact[email]": "bo@example.com"}
    assert world.activecampaign(fields).status_code == 200
    assert world.salesmanago({"contactId": "c-9", "email": "bo@example.com"}).status_code == 200
    for row in stored(world):
        kept = json.dumps([row.url, row.headers])
        assert AC_TOKEN not in kept and SM_PASSWORD not in kept
        assert "authorization" not in row.headers
    assert stored(world)[0].url.endswith("/webhooks/esp?token=-")
    applied = apply_inbox(world.rt, world.receivers, None)  # read again without them
    assert applied.deliveries == 2
