"""SALESmanago's opt-outs as ``email_unsubscribed`` events, through the real pipeline against
the emulator: SALESmanago keeps ``optedOut`` and no time of it, so each opt-out episode is one
event at the contact's ``modifiedOn`` when a pull first sees it; a re-pull makes none, an
opt-in then an opt-out again makes another, and a segment on the event selects the person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from syncd.emulator import ManualClock, transport
from syncd.store.schema import contacts, cursors, events, segment_members
from syncd.testing import Pipeline
from syncd_plugins.salesmanago.emulator_state import ms
from syncd_plugins.salesmanago.test_against_emulator import ACCOUNT, emulator, on_account
from syncd_plugins.salesmanago.test_emulator import BASE, signed

CONFIG = (
    ACCOUNT
    + """segments:
  opted_out_recently: {{event: email_unsubscribed, within: 30d}}
"""
)
DAY = 86_400


def unsubscribes(db: Path) -> dict[str, list[int]]:
    """The stored ``email_unsubscribed`` events: SALESmanago contact id -> times (ms)."""
    engine = sa.create_engine(f"sqlite:///{db}")
    query = (
        sa.select(events.c.contact_ref, events.c.occurred_at)
        .where(events.c.type == "email_unsubscribed", events.c.contact_id.is_not(None))
        .order_by(events.c.occurred_at)
    )
    found: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for ref, at in conn.execute(query):
            found.setdefault(ref, []).append(ms(at.replace(tzinfo=UTC)))
    engine.dispose()
    return found


def members(db: Path, segment: str) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{db}")
    query = (
        sa.select(contacts.c.email)
        .join(segment_members, segment_members.c.contact_id == contacts.c.id)
        .where(segment_members.c.segment == segment)
    )
    with engine.connect() as conn:
        found = {str(email) for (email,) in conn.execute(query)}
    engine.dispose()
    return found


def test_an_opt_out_is_one_event_per_episode_and_a_segment_selects_it(
    syncd_clock: ManualClock,
    syncd_pipeline: Callable[..., Pipeline],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emu = emulator(syncd_clock)
    pipeline = on_account(syncd_pipeline, CONFIG, emu)
    db = tmp_path / "store.db"
    user = httpx.Client(transport=transport(emu), base_url=BASE)

    def call(method: str, **body: object) -> None:
        answer = user.post(method, json=signed(body)).json()
        assert answer["success"] is True, answer

    def later(days: float) -> None:
        """Days pass for SALESmanago and syncd alike."""
        syncd_clock.advance(days * DAY)
        monkeypatch.setenv("SYNCD_NOW", syncd_clock().isoformat())

    state = emu.state()["contacts"]
    quitters = [c for c in state if c["optedOut"]]
    opted = {c["id"]: [c["modifiedOn"]] for c in quitters}
    assert len(opted) >= 3
    # the full pull: each opted-out contact once, at its modifiedOn, the only evidence
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted
    month = ms(syncd_clock()) - 30 * DAY * 1000
    recent = {c["email"].lower() for c in quitters if c["modifiedOn"] >= month}
    assert recent, "the sample account has an opt-out within 30 days"
    assert members(db, "opted_out_recently") == recent

    # an opted-out contact changed otherwise (a tag) is read again: no second event
    tagged, back = quitters[0], quitters[1]
    later(1)
    call("contact/upsert", contact={"email": tagged["email"]}, tags=["CENNIK (2)"])
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted

    # an opt-in, then an opt-out again: a second event, at the new modifiedOn, in the
    # segment; someone who never opted out now does: one event
    newcomer = next(c for c in state if not c["optedOut"])
    later(2)
    call("contact/optin", email=back["email"])
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted  # opting in ends the episode, and is no event
    later(3)
    call("contact/optout", email=back["email"])
    call("contact/optout", email=newcomer["email"])
    assert pipeline.run("sync") == 0
    at = ms(syncd_clock())
    expected = {**opted, back["id"]: [*opted[back["id"]], at], newcomer["id"]: [at]}
    assert unsubscribes(db) == expected
    assert {back["email"].lower(), newcomer["email"].lower()} <= members(db, "opted_out_recently")

    # the whole account pulled again from the start (no cursor): nothing new
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        assert conn.execute(cursors.delete()).rowcount
    engine.dispose()
    later(1)
    assert pipeline.run("pull") == 0
    assert unsubscribes(db) == expected


def test_opt_outs_come_back_after_their_event_type_was_skipped_and_taken_again(
    syncd_clock: ManualClock,
    syncd_pipeline: Callable[..., Pipeline],
    tmp_path: Path,
) -> None:
    emu = emulator(syncd_clock)
    pipeline = on_account(syncd_pipeline, CONFIG, emu)
    db = tmp_path / "store.db"
    opted = {c["id"]: [c["modifiedOn"]] for c in emu.state()["contacts"] if c["optedOut"]}
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted and opted

    # the type skipped: its events are dropped, while the opt-out statuses stay stored
    taken = pipeline.config.read_text()
    skipping = taken.replace("    owner:", "    skip_events: [email_unsubscribed]\n    owner:")
    assert skipping != taken
    pipeline.config.write_text(skipping)
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == {}
    assert members(db, "opted_out_recently") == set()

    # taken again: the re-read makes each opt-out's event again, at its modifiedOn as before
    pipeline.config.write_text(taken)
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted
    assert members(db, "opted_out_recently")
    # and only once: the next pull is an ordinary one
    assert pipeline.run("sync") == 0
    assert unsubscribes(db) == opted
