"""Benchmark: what one webhook micro-cycle costs on a store of 100,000 contacts — the inbox
applied, the incremental compute, the plan of the touched contacts, the push to an in-process
ActiveCampaign emulator — for bursts of 1, 10 and 100 Shopify order webhooks.

    .venv/bin/python benchmarks/webhook_microcycle.py

The store holds 100,000 shop customers, half of them buyers already tagged BUYER at the
e-mail tool (the steady state after a scheduled cycle), with the prebuilt segment library.
Each burst is of new buyers; the wall time of each part of the micro-cycle is printed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest
import sqlalchemy as sa
from phases import timed
from starlette.testclient import TestClient

from syncd.config import load_config
from syncd.connectors import hmac_base64
from syncd.daemon.health import build_app
from syncd.emulator import ManualClock, VirtualTime
from syncd.logs import configure_logging
from syncd.runtime import build_runtime
from syncd.store.schema import contacts, events, identities, tags
from syncd.sync import cycle
from syncd.testing import route_to_emulators
from syncd.webhooks import micro
from syncd.webhooks.ingest import Backlog, Ingest, Receivers
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CONTACTS = 100_000
SECRET = "bench-secret"
# the parts of a micro-cycle timed: (module, function, phase)
PHASES = (
    (micro, "apply_inbox", "apply"),
    (cycle, "compute", "compute"),
    (micro, "plan_destination", "plan"),
    (cycle, "push", "push"),
)
CONFIG = f"""
store:
  url: sqlite:///{{db}}
include: [{REPO / "config" / "segments"}]
connectors:
  shop: {{{{type: shopify, shop: emulated, access_token: t}}}}
  esp: {{{{type: activecampaign, url: "https://acme.api-us1.com", token: emulator-api-token}}}}
segments:
  buyers: {{{{event: order_placed}}}}
destinations:
  - connector: esp
    tags: {{{{buyers: BUYER}}}}
webhooks:
  debounce: 0s
  connectors:
    shop: {{{{secret: {SECRET}}}}}
"""


def fill(engine: sa.Engine) -> None:
    """100,000 customers of the shop, every other one a buyer tagged BUYER at the tool."""
    page = 10_000
    with engine.begin() as conn:
        for start in range(1, CONTACTS + 1, page):
            ids = range(start, min(start + page, CONTACTS + 1))
            conn.execute(contacts.insert(), [
                {"id": i, "email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                for i in ids])  # fmt: skip
            conn.execute(identities.insert(), [
                {"connector": "shop", "external_id": str(i), "contact_id": i, "updated_at": NOW}
                for i in ids])  # fmt: skip
            buyers = [i for i in ids if i % 2 == 0]
            conn.execute(events.insert(), [
                {"source": "shop", "external_id": f"order/{i}", "contact_id": i,
                 "type": "order_placed", "occurred_at": NOW - timedelta(days=i % 300),
                 "value": 50.0, "properties": {"items": []}} for i in buyers])  # fmt: skip
            conn.execute(tags.insert(), [
                {"contact_id": i, "source": "esp", "tag": "BUYER", "name": "BUYER",
                 "managed": True, "updated_at": NOW} for i in buyers])  # fmt: skip


def order(n: int) -> bytes:
    who = CONTACTS + n
    return json.dumps({
        "id": 10_000_000 + n, "name": f"#{n}", "email": f"new{n}@example.com",
        "created_at": NOW.isoformat(), "updated_at": NOW.isoformat(), "currency": "EUR",
        "total_price": "20.00", "customer": {"id": who, "email": f"new{n}@example.com"},
        "line_items": [{"title": "Tea", "quantity": 1, "price": "20.00", "sku": "T1"}],
    }).encode()  # fmt: skip


def main() -> int:
    configure_logging("error")
    monkeypatch = pytest.MonkeyPatch()
    clock = ManualClock(NOW)
    esp = ActiveCampaignEmulator(seed=1, people=0, clock=clock, rate_limit=0)
    route_to_emulators(monkeypatch, esp, time=VirtualTime(clock))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "syncd.yaml"
        path.write_text(CONFIG.format(db=Path(folder) / "store.db"))
        rt = build_runtime(load_config(path), clock=lambda: NOW)
        started = time.perf_counter()
        fill(rt.engine)
        cycle.compute(rt)  # the scheduled cycle's compute: the steady state
        print(f"store of {CONTACTS:,} contacts ready in {time.perf_counter() - started:.1f} s")
        backlog, receivers = Backlog(), Receivers()
        ingest = Ingest(lambda: rt, backlog, receivers)
        client = TestClient(build_app(lambda: (True, "ok"), webhooks=ingest))
        sent = 0
        for burst in (1, 10, 100):
            posted = time.perf_counter()
            for _ in range(burst):
                sent += 1
                body = order(sent)
                headers = {
                    "X-Shopify-Hmac-Sha256": hmac_base64(SECRET, body),
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Webhook-Id": f"w{sent}",
                }
                answer = client.post("/webhooks/shop", content=body, headers=headers)
                assert answer.status_code == 200
            took = time.perf_counter() - posted
            parts: dict[str, float] = {}
            timing = pytest.MonkeyPatch()
            for module, name, phase in PHASES:
                timing.setattr(module, name, timed(getattr(module, name), parts, phase))
            begun = time.perf_counter()
            run = micro.micro_cycle(rt, receivers, backlog)
            total = time.perf_counter() - begun
            assert run is not None and run.counts["pushed"] == burst, run
            shown = "  ".join(f"{k} {v:5.2f}" for k, v in parts.items())
            print(
                f"burst of {burst:>3}: ingest {took / burst * 1000:6.1f} ms each; "
                f"micro-cycle {total:5.2f} s  ({shown})"
            )
            timing.undo()
        rt.close()
    monkeypatch.undo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
