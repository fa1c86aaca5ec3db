"""The bad-record fuzzer: every connector's source, with bad values put where a vendor (or a
file) can put them, pulled twice into SQLite and PostgreSQL. No pull is blocked, every bad
record is quarantined with a reason, every good contact is stored, and nothing bad reaches the
store. With the checks switched off the same fuzzer fails.

Bad values, from a seeded generator: NUL bytes and other control characters, text over the
store's bounds (9,000 characters; 2,000 bytes of two-byte letters), malformed and overlong
e-mails, and, where a file says them, times of 1e20, 1e18, ``true``, the years 1 and 9999,
numbers that are not finite, properties with a NUL, a CSV cell over 131,072 characters.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.connectors import Connector, ConnectorContext
from syncd.emulator import ManualClock, VirtualTime
from syncd.store import open_store
from syncd.store.schema import attributes, contacts, events, quarantine
from syncd.sync import checks as checks_module
from syncd.sync import records as records_module
from syncd.sync.pull import pull_instance
from syncd.testing import emulator_context
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN as AC_TOKEN
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator
from syncd_plugins.files.connector import FilesConnector, FilesOptions
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN as HS_TOKEN
from syncd_plugins.hubspot.emulator import HubSpotEmulator
from syncd_plugins.salesmanago.connector import SalesmanagoConnector, SalesmanagoOptions
from syncd_plugins.salesmanago.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_OWNER,
    DEFAULT_SECRET,
    SalesmanagoEmulator,
)
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN as SHOP_TOKEN
from syncd_plugins.shopify.emulator import ShopifyEmulator

BAD_PER_SOURCE = 110  # x 5 connectors x 2 stores: 1,100 bad records
PEOPLE = 200
BAD_TEXT = ["x\x00y", "bell\x07ring", "z" * 9_000, "ż" * 1_000, "esc\x1b[31m", "\x00"]
BAD_EMAILS = [
    "nul\x00{n}@example.com",
    "bell\x07{n}@example.com",
    "tab\t{n}@example.com",
    "{long}{n}@example.com",
    "no-at-sign-{n}",
    "two{n}@@example.com",
    "digits{n}@example.c0m",
    "comma,{n}@example.com",
]


@dataclass
class Fuzzed:
    """A source with bad records in it: the markers (vendor ids) of the bad ones, and what the
    store must hold of the good ones."""

    connector: Connector
    bad: set[str] = field(default_factory=set)  # each appears in a quarantined record
    good_emails: set[str] = field(default_factory=set)


def bad_email(rng: random.Random, n: int) -> str:
    return rng.choice(BAD_EMAILS).format(n=n, long="l" * 300)


def spoil(rng: random.Random, n: int, row: dict[str, Any], email: str, name: str) -> None:
    """Give ``row`` a bad e-mail or a bad name (its keys ``email`` and ``name``)."""
    if rng.random() < 0.5:
        row[email] = bad_email(rng, n)
    else:
        row[name] = rng.choice(BAD_TEXT)


def split(rng: random.Random, rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """``rows`` shuffled into BAD_PER_SOURCE bad ones and the good rest."""
    rows = list(rows)
    rng.shuffle(rows)
    return rows[:BAD_PER_SOURCE], rows[BAD_PER_SOURCE:]


# --- the five sources ---------------------------------------------------------------------


def activecampaign(rng: random.Random, vt: VirtualTime, _: Path) -> Fuzzed:
    emu = ActiveCampaignEmulator(seed=11, people=PEOPLE, clock=vt.clock, rate_limit=0)
    bad, good = split(rng, emu.account.rows("contacts"))
    for n, row in enumerate(bad):
        spoil(rng, n, row, "email", "firstName")
    options = ActiveCampaignOptions(url="https://acme.api-us1.com", token=AC_TOKEN)  # type: ignore[arg-type]
    connector = ActiveCampaignConnector(options, emulator_context("ac", emu, time=vt))
    return Fuzzed(connector, {str(r["id"]) for r in bad}, {r["email"].lower() for r in good})


def hubspot(rng: random.Random, vt: VirtualTime, _: Path) -> Fuzzed:
    emu = HubSpotEmulator(seed=11, people=PEOPLE, clock=vt.clock, rate_limit=0)
    bad, good = split(rng, emu.portal.objects["contacts"].values())
    for n, obj in enumerate(bad):
        spoil(rng, n, obj.properties, "email", "firstname")
    options = HubSpotOptions(token=HS_TOKEN, page_size=100)  # type: ignore[arg-type]
    connector = HubSpotConnector(options, emulator_context("hs", emu, time=vt))
    return Fuzzed(connector, {o.id for o in bad}, {o.properties["email"].lower() for o in good})


# SALESmanago's times are Unix milliseconds: 1e20 overflows a datetime, 1e18 the platform's
# time functions; the years 10000, 9999 and 1, a value that is not a number, a NUL byte
BAD_SM_EVENTS: list[dict[str, Any]] = [
    {"date": 1e20},
    {"date": 1e18},
    {"date": -1e18},
    {"date": 253_402_300_800_000},
    {"date": 253_402_214_400_000},
    {"date": -62_135_596_800_000},
    {"value": "NaN"},
    {"value": "1e400"},
    {"description": "a\x00b"},
]


def salesmanago(rng: random.Random, vt: VirtualTime, _: Path) -> Fuzzed:
    emu = SalesmanagoEmulator(seed=11, people=PEOPLE, clock=vt.clock, rate_limit=0)
    bad, good = split(rng, emu.account.contacts.values())
    for n, row in enumerate(bad):
        spoil(rng, n, row, "email", "name")
    # and events of good contacts
    events = [event for row in good for event in row["_events"]]
    spoilt_events = rng.sample(events, min(len(events), BAD_PER_SOURCE // 5))
    for event in spoilt_events:
        event.update(rng.choice(BAD_SM_EVENTS))
    options = SalesmanagoOptions(
        server="https://app3.salesmanago.com",  # type: ignore[arg-type]
        client_id=DEFAULT_CLIENT_ID,
        api_key="syncd-test",  # type: ignore[arg-type]
        api_secret=DEFAULT_SECRET,  # type: ignore[arg-type]
        owner=DEFAULT_OWNER,
        page_size=100,
    )
    connector = SalesmanagoConnector(options, emulator_context("sm", emu, time=vt))
    spoilt = {r["id"] for r in bad} | {e["eventId"] for e in spoilt_events}
    return Fuzzed(connector, spoilt, {r["email"].lower() for r in good})


def shopify(rng: random.Random, vt: VirtualTime, _: Path) -> Fuzzed:
    emu = ShopifyEmulator(seed=11, people=PEOPLE, clock=vt.clock, rate_limit=0)
    rows = [c for c in emu.shop.customers.values() if c.get("email")]
    bad, good = split(rng, rows)
    for n, row in enumerate(bad):
        spoil(rng, n, row, "email", "first_name")
    options = ShopifyOptions(shop="emulated", access_token=SHOP_TOKEN)  # type: ignore[arg-type]
    connector = ShopifyConnector(options, emulator_context("shop", emu, time=vt))
    return Fuzzed(connector, {str(r["id"]) for r in bad}, {r["email"].lower() for r in good})


BAD_EVENT_VALUES: list[dict[str, Any]] = [
    {"at": 1e20},
    {"at": 1e18},
    {"at": True},
    {"at": "0001-01-01T00:00:00Z"},
    {"at": "9999-12-31T00:00:00Z"},
    {"at": "2026-13-45"},
    {"value": "Infinity"},
    {"value": 1e300},
    {"type": "order\x00placed"},
    {"type": "t" * 101},
    {"properties": {"note": "a\x00b"}},
    {"properties": {"deep": "x" * 70_000}},
    {"email": "nul\x00@example.com"},
]


def files(rng: random.Random, _: VirtualTime, folder: Path) -> Fuzzed:
    """A contacts file (JSONL) and an events file (CSV), each half bad."""
    fuzzed_ids: set[str] = set()
    good_emails: set[str] = set()
    lines: list[str] = []
    half = BAD_PER_SOURCE // 2
    for n in range(PEOPLE // 2):
        row: dict[str, Any] = {"id": f"c{n}", "email": f"person{n}@example.com", "city": "Łódź"}
        if n < half:
            spoil(rng, n, row, "email", "city")
            fuzzed_ids.add(row["id"])
        else:
            good_emails.add(row["email"])
        lines.append(json.dumps(row, ensure_ascii=rng.random() < 0.5))
    rng.shuffle(lines)
    (folder / "contacts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    out = io.StringIO()
    header = ["id", "email", "type", "at", "value", "properties", "note"]
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    good_email = sorted(good_emails)
    for n in range(PEOPLE // 2):
        event: dict[str, Any] = {
            "id": f"e{n}",
            "email": good_email[n % len(good_email)],
            "type": "order_placed",
            "at": "2026-05-01T12:00:00Z",
            "value": "12.50",
        }
        if n < BAD_PER_SOURCE - half:
            event.update(rng.choice([*BAD_EVENT_VALUES, {"note": "w" * 140_000}]))
            fuzzed_ids.add(event["id"])
        if isinstance(event.get("properties"), dict):
            event["properties"] = json.dumps(event["properties"])
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in event.items()})
    (folder / "events.csv").write_text(out.getvalue(), encoding="utf-8")
    options = FilesOptions(
        contacts=str(folder / "contacts.jsonl"), events=str(folder / "events.csv"), page_size=37
    )
    return Fuzzed(FilesConnector(options, ConnectorContext("files")), fuzzed_ids, good_emails)


SOURCES: dict[str, Callable[[random.Random, VirtualTime, Path], Fuzzed]] = {
    "files": files,
    "activecampaign": activecampaign,
    "hubspot": hubspot,
    "salesmanago": salesmanago,
    "shopify": shopify,
}


# --- the fuzzer ----------------------------------------------------------------------------


@dataclass
class Outcome:
    blocked: list[str]  # the error of each pull that raised
    quarantined: list[tuple[str, str]]  # reason, record
    stored_emails: set[str]
    stored_texts: list[str]  # every attribute value and event type stored


def fuzz(name: str, store_url: str, folder: Path, seed: int) -> tuple[Fuzzed, Outcome]:
    """Pull ``name``'s fuzzed source twice (a first pull and a later one) into the store."""
    clock = ManualClock()
    vt = VirtualTime(clock)
    fuzzed = SOURCES[name](random.Random(f"{name}-{seed}"), vt, folder)
    engine = open_store(store_url)
    blocked = []
    try:
        for _ in range(2):
            try:
                pull_instance(
                    engine,
                    name,
                    fuzzed.connector,
                    precedence=[],
                    run_id=None,
                    clock=vt.clock,
                )
            except Exception as exc:  # a blocked pull: the fuzzer's finding
                blocked.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            clock.advance(600)
        with engine.connect() as conn:
            found = conn.execute(sa.select(quarantine.c.reason, quarantine.c.record)).all()
            emails = set(conn.execute(sa.select(contacts.c.email)).scalars())
            texts = [
                *conn.execute(sa.select(attributes.c.value)).scalars(),
                *conn.execute(sa.select(events.c.type)).scalars(),
            ]
    finally:
        engine.dispose()
    return fuzzed, Outcome(blocked, [tuple(q) for q in found], emails, texts)  # type: ignore[misc]


def check(fuzzed: Fuzzed, outcome: Outcome) -> None:
    """0 blocked pulls; every bad record quarantined with a reason; the good ones stored; no
    bad value in the store."""
    assert outcome.blocked == []
    assert all(reason.strip() for reason, _ in outcome.quarantined)
    records = [record or "" for _, record in outcome.quarantined]
    missed = sorted(m for m in fuzzed.bad if not any(_names(record, m) for record in records))
    assert missed == [], f"{len(missed)} bad records not quarantined: {missed[:5]}"
    assert fuzzed.good_emails - outcome.stored_emails == set()
    spoilt = [e for e in outcome.stored_emails if _bad_text(e) or "@" not in e]
    assert spoilt == []
    assert [t[:40] for t in outcome.stored_texts if t and _bad_text(t)] == []


def _names(record: str, marker: str) -> bool:
    """Whether a quarantined record names ``marker``: as a JSON value (``"12"``, ``12``, the
    ``ext:12`` a connector made of it) or a CSV row's first cell."""
    value = re.escape(marker)
    return re.search(rf'(["\':]{value}"|": {value}[,}}]|^{value},)', record) is not None


def _bad_text(text: str) -> bool:
    return any(ch < " " and ch not in "\t\n\r" for ch in text) or len(text.encode()) > 1_500


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_no_bad_record_blocks_a_pull_and_each_is_quarantined(
    source: str, store_url: str, tmp_path: Path
) -> None:
    fuzzed, outcome = fuzz(source, store_url, tmp_path, seed=1)
    assert len(fuzzed.bad) >= BAD_PER_SOURCE
    check(fuzzed, outcome)


def test_the_fuzzer_fails_when_the_checks_are_switched_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(records_module, "check_record", lambda record: None)
    monkeypatch.setattr(checks_module, "email_problem", lambda address: None)
    fuzzed, outcome = fuzz("files", f"sqlite:///{tmp_path / 'store.db'}", tmp_path, seed=1)
    assert outcome.blocked == []  # SQLite takes what PostgreSQL refuses: nothing fails...
    with pytest.raises(AssertionError, match="bad records not quarantined"):
        check(fuzzed, outcome)  # ...and the bad records are stored
