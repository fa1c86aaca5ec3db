"""End to end on a real ``syncd run``: a webhook answered 200 is in the store even when the
daemon is killed with SIGKILL right after the answer, and the next start applies it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.store.schema import events, webhook_inbox
from tests.test_daemon import Daemon, killed_at_end, wait_for
from tests.webhook_world import ORDER, hmac_sha256_base64

SECRET = "shop-client-secret"
CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  shop: {{type: shopify, shop: "http://127.0.0.1:9", access_token: unused}}
webhooks:
  debounce: {debounce}
  connectors:
    shop: {{secret: "${{SHOP_WEBHOOK_SECRET}}"}}
"""


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    yield from killed_at_end()


def post_order(port: int, webhook_id: str) -> int:
    body = json.dumps(ORDER).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/shop",
        data=body,
        method="POST",
        headers={
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(SECRET, body),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": webhook_id,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def rows(db: Path, table: sa.Table) -> list[sa.Row]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(table)).all())
    finally:
        engine.dispose()


def test_a_webhook_answered_200_survives_sigkill_and_is_applied_at_the_next_start(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    db = tmp_path / "store.db"
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=db, debounce="1h"))  # no micro-cycle before the kill
    daemon = Daemon(config, tmp_path / "first.log", SHOP_WEBHOOK_SECRET=SECRET)
    daemons.append(daemon)
    port = int(daemon.started()["health_port"])

    assert post_order(port, "w-kill-9") == 200
    daemon.proc.kill()  # SIGKILL: no shutdown, no flush
    daemon.proc.wait(10)

    (stored,) = rows(db, webhook_inbox)
    assert (stored.delivery_id, stored.applied_at) == ("w-kill-9", None)
    assert json.loads(stored.body)["id"] == ORDER["id"]

    config.write_text(CONFIG.format(db=db, debounce="0s"))
    again = Daemon(config, tmp_path / "second.log", SHOP_WEBHOOK_SECRET=SECRET)
    daemons.append(again)
    again.started()
    placed = wait_for("the stored order to be applied", lambda: rows(db, events))
    assert [e.external_id for e in placed] == [f"order/{ORDER['id']}"]
    assert again.stop() == 0
    (applied,) = rows(db, webhook_inbox)
    assert applied.applied_at is not None
