"""End to end: two real ``syncd run`` processes on one PostgreSQL store, against the SALESmanago
emulator on loopback, with a sync schedule and a push schedule firing often, so the two push
the same destination at the same time. No job runs on both at once, no change reaches the
emulator twice, and when one daemon is stopped mid-push the other finishes the work. Replicas
starting together on a new store all open it."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.emulator import running
from syncd.store import head_revision
from syncd_plugins.salesmanago.emulator import DEFAULT_CLIENT_ID, DEFAULT_OWNER
from syncd_plugins.salesmanago.emulator import SalesmanagoEmulator as Emulator

from .test_daemon import Daemon, killed_at_end, tagged, wait_for

pytestmark = pytest.mark.postgres

TAG = "SYNCD_CHROME"
CONFIG = """
store:
  url: "{store}"
connectors:
  sm:
    type: salesmanago
    server: {url}
    client_id: {client_id}
    api_key: syncd-replica-test
    api_secret: ${{SM_API_SECRET}}
    owner: {owner}
    batch_size: 2
    rate_limit: 50
segments:
  chrome: {{tag: CHROME}}
destinations:
  - connector: sm
    tags: {{chrome: {tag}}}
daemon:
  shutdown_timeout: 30s
schedules:
  cycle: {{run: sync, every: 1s}}
  pusher: {{run: push, every: 0.3s}}
  tags_pull: {{run: pull, every: 0.5s}}
"""


class Recording(Emulator):
    """The SALESmanago emulator, keeping each contact and tags every accepted upsert carried."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upserts: list[tuple[str, tuple[str, ...]]] = []
        self.upserts_lock = threading.Lock()

    def batch_upsert(self, body: dict[str, Any]) -> Any:
        answer = super().batch_upsert(body)
        if answer.status_code == 200:
            with self.upserts_lock:
                self.upserts += [
                    (str(d["contact"]["email"]).lower(), tuple(d.get("tags") or ()))
                    for d in body["upsertDetails"]
                ]
        return answer


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    yield from killed_at_end()


def rows(store: str, query: str) -> list[Any]:
    engine = sa.create_engine(store)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    except sa.exc.ProgrammingError:
        return []  # no table yet: no daemon has migrated the store
    finally:
        engine.dispose()


def pending(store: str) -> int:
    found = rows(store, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'held')")
    return int(found[0][0]) if found else -1


def overlapping(runs: list[Any]) -> list[tuple[str, str, str]]:
    """Pairs of runs of one job whose times overlap: (job, run id, run id)."""
    out = []
    by_job: dict[str, list[Any]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    for job, of_job in by_job.items():
        of_job.sort(key=lambda r: r.started_at)
        for before, after in itertools.pairwise(of_job):
            if before.finished_at is None or before.finished_at > after.started_at:
                out.append((job, before.id, after.id))
    return out


def started_runs(daemon: Daemon) -> set[str]:
    return {line["job"] for line in daemon.events("run started")}


def sending(daemon: Daemon) -> bool:
    return bool(daemon.events("batch upsert confirmed"))


def test_two_daemons_share_one_store_and_one_finishes_when_the_other_stops(
    tmp_path: Path, pg_store: str, daemons: list[Daemon]
) -> None:
    store = pg_store  # one fresh PostgreSQL schema: the store both daemons share
    # a little latency on each upsert, so pushes take long enough to meet
    emu = Recording(seed=5, people=100, faults="POST *batchupsert:latency=120ms")
    wanted = tagged(emu, "CHROME")
    assert len(wanted) > 40 and not tagged(emu, TAG)
    with running(emu) as url:
        config = tmp_path / "syncd.yaml"
        config.write_text(
            CONFIG.format(
                store=store, url=url, client_id=DEFAULT_CLIENT_ID, owner=DEFAULT_OWNER, tag=TAG
            )
        )
        first = Daemon(config, tmp_path / "first.log")
        daemons.append(first)
        second = Daemon(config, tmp_path / "second.log")
        daemons.append(second)
        first.started()
        second.started()
        # one daemon runs the sync schedule, the other the push schedule: a push runs until
        # nothing is left, so both sending batches means they send at the same time
        wait_for("both daemons to send batches", lambda: sending(first) and sending(second))
        assert pending(store) > 0, "stop the first daemon while changes still wait"
        stopped_at = time.time()
        assert first.stop() == 0
        wait_for(
            "every change to arrive", lambda: tagged(emu, TAG) == wanted and not pending(store)
        )
        wait_for(
            "the second daemon to run the push schedule after the first stopped",
            lambda: any(
                r.started_at.timestamp() > stopped_at
                for r in rows(store, "SELECT started_at FROM runs WHERE job = 'pusher'")
            ),
        )
        assert second.stop() == 0
        sent = Counter(email for email, tags in emu.upserts if TAG in tags)
    assert set(sent) == wanted
    assert [email for email, n in sent.items() if n > 1] == [], "a change was sent twice"
    runs = rows(store, "SELECT id, job, started_at, finished_at, outcome, counts FROM runs")
    assert overlapping(runs) == []
    assert {r.job for r in runs} == {"cycle", "pusher", "tags_pull"}
    pushed = [r for r in runs if r.job in ("cycle", "pusher") and (r.counts or {}).get("pushed")]
    assert [
        (a.job, b.job)
        for a in pushed
        for b in pushed
        if a.job < b.job and a.started_at < b.finished_at and b.started_at < a.finished_at
    ] == [("cycle", "pusher")], "a sync and a push sent changes at the same time"
    assert not [r for r in runs if r.outcome in ("failed", "running")]
    # the first daemon stopped between batches: what it held was confirmed or given back
    assert rows(store, "SELECT count(*) FROM outbox WHERE claimed_by IS NOT NULL")[0][0] == 0
    assert started_runs(first) and started_runs(second)


def test_overlapping_finds_runs_of_one_job_that_meet() -> None:
    class Run:
        def __init__(self, id: str, job: str, start: int, end: int | None) -> None:
            self.id, self.job = id, job
            self.started_at = datetime.fromtimestamp(start)
            self.finished_at = None if end is None else datetime.fromtimestamp(end)

    apart = [Run("a", "push", 0, 5), Run("b", "push", 5, 9), Run("c", "sync", 1, 8)]
    assert overlapping(apart) == []
    assert overlapping([*apart, Run("d", "sync", 7, 12)]) == [("sync", "c", "d")]
    assert overlapping([Run("e", "pull", 0, None), Run("f", "pull", 3, 4)]) == [("pull", "e", "f")]


def test_replicas_starting_together_on_a_new_store_both_open_it(pg_store: str) -> None:
    code = f"from syncd.store import open_store; open_store({pg_store!r}).dispose()"
    starts = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], errors
    assert rows(pg_store, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
