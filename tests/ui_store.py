"""A real demo store for the status page's tests: the demo run in-process into a folder, then
a schedule, a held plan, a quarantined record and a hundred days of history added, so every
part of every view has something to show."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from syncd.cli import main
from syncd.clock import system_clock
from syncd.config import load_config
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.store.schema import contacts, meta, outbox, quarantine, segment_history, segments
from syncd.sync.outbox import HELD_KEY

PEOPLE = "60"
SCHEDULE = "schedules:\n  sync:\n    run: sync\n    every: 1h\n"  # the demo's runs are its runs


def build_demo_store(folder: Path) -> Path:
    """Run the demo into ``folder`` and fill in what a daemon would have left; the config."""
    saved = {
        k: os.environ.pop(k)
        for k in ("SYNCD_STORE_URL", "SYNCD_NOW", "SYNCD_CONFIG")
        if k in os.environ
    }
    try:
        code = main(["demo", "--dir", str(folder), "--quiet", "--people", PEOPLE])
    finally:
        os.environ.update(saved)
    assert code == 0
    config = folder / "syncd.yaml"
    config.write_text(config.read_text() + SCHEDULE)
    rt = runtime(config)
    try:
        with rt.engine.begin() as conn:
            _fill(conn, rt)
    finally:
        rt.close()
    return config


def runtime(config: Path) -> Runtime:
    return build_runtime(
        load_config(config, settings=Settings.model_construct()), clock=system_clock
    )


def _fill(conn: sa.Connection, rt: Runtime) -> None:
    now = rt.clock()
    first = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id).limit(3)).scalars().all()
    destination = rt.config.destinations[0].connector
    for i, contact in enumerate(first):
        conn.execute(
            outbox.insert().values(
                destination=destination,
                contact_id=contact,
                kind="remove_tag" if i else "add_tag",
                key="VIP",
                status="held",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
    fail = "422: the field LEAD_SCORE takes a date"
    failed_change(conn, now, destination, first[0], "set_field", "LEAD_SCORE", fail, value="12")
    conn.execute(
        meta.insert().values(
            key=HELD_KEY + destination,
            value=json.dumps(
                {"reason": "would remove 2 of 3 (more than 10%)", "since": now.isoformat()}
            ),
        )
    )
    conn.execute(
        quarantine.insert().values(
            run_id=None,
            connector="shop",
            stream="customers",
            reason="invalid e-mail 'not-an-address'",
            record="{}",
            created_at=now,
        )
    )
    sizes = dict(conn.execute(sa.select(segments.c.name, segments.c.size)).all())
    rows = [
        {
            "segment": name,
            "at": now - timedelta(days=day, minutes=5),
            "size": max(0, size - day // 7),
            "added": 1,
            "removed": 0,
        }
        for name, size in sizes.items()
        for day in range(1, 101)
    ]
    conn.execute(segment_history.insert(), rows)


def failed_change(
    conn: sa.Connection,
    now: datetime,
    destination: str,
    contact_id: int,
    kind: str,
    key: str,
    error: str,
    value: str | None = None,
) -> None:
    """An outbox change that failed for good with ``error``, as the status page lists it."""
    conn.execute(
        outbox.insert().values(
            destination=destination,
            contact_id=contact_id,
            kind=kind,
            key=key,
            value=value,
            status="failed",
            attempts=5,
            last_error=error,
            created_at=now,
            updated_at=now,
        )
    )
