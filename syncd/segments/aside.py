"""The score passes read aside: on a second connection, in a thread, while compute goes on.

A SQLite store is read by one connection on one core. The score passes are the longest
reads of a compute (every scored event, twice with ``where`` rules) and need only the
events, which compute does not write: a second connection sums them on the other core
while the first computes the RFM and every segment that reads no score. The sums then
reach the first connection's ``syncd_score_pass``, a pass at a time, in batches.

Both connections must see the same events. The second reads the store as last committed,
so this is used only when compute's transaction had written nothing before it began and
has since taken the store's write lock (no other writer can commit until it ends).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments.scores import ScorePass, fill_pass, pass_table
from syncd.store.engine import writes_since_begin

_BATCH = 10_000  # rows handed over at a time
_DONE = object()  # a pass's rows are all handed over
_CACHE_KIB = 32768  # the second connection's page cache, which bounds its sorts in memory too


def may_read_aside(conn: sa.Connection) -> bool:
    """Whether a second connection would see what ``conn`` sees: a SQLite file, and
    ``conn``'s transaction has written nothing so far."""
    if conn.dialect.name != "sqlite":
        return False
    database = conn.engine.url.database or ""
    if database in ("", ":memory:") or not os.path.isfile(database):
        return False
    return writes_since_begin(conn) == 0


class PassesAside:
    """Fills ``syncd_score_pass`` for each of ``jobs`` on a second connection, in a thread
    started at once; ``fill`` takes them in the same order on the first connection.

    Start it only once the first connection holds the write lock (see the module).
    """

    def __init__(self, engine: sa.Engine, jobs: Sequence[ScorePass], now: datetime) -> None:
        self._jobs = list(jobs)
        self._now = now
        self._engine = engine
        self._rows: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._driver: Any = None
        self._taken = 0
        self._thread = threading.Thread(target=self._run, name="syncd-score-passes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._engine.connect() as conn:
                self._driver = conn.connection.driver_connection
                conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
                conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
                pass_table.create(conn, checkfirst=True)
                columns = ", ".join(pass_table.c.keys())
                for job in self._jobs:
                    fill_pass(conn, job, self._now)
                    cursor = self._driver.execute(f"SELECT {columns} FROM {pass_table.name}")
                    while rows := cursor.fetchmany(_BATCH):
                        self._put(rows)
                    self._put(_DONE)
                conn.execute(pass_table.delete())
                conn.rollback()
        except BaseException as exc:  # handed to the first connection, raised there
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._rows.put(item, timeout=0.2)
                return

    def fill(self, conn: sa.Connection, job: ScorePass, now: datetime) -> None:
        """Put ``job``'s sums, read aside, in ``conn``'s ``syncd_score_pass``."""
        expected = self._jobs[self._taken]
        assert job == expected and now == self._now, "passes taken out of order"
        self._taken += 1
        conn.execute(pass_table.delete())
        marks = ", ".join("?" for _ in pass_table.c)
        insert = f"INSERT INTO {pass_table.name} VALUES ({marks})"
        while True:
            item = self._rows.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            conn.exec_driver_sql(insert, item)

    def close(self) -> None:
        """Stop the reading (if still going) and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._driver is not None:
            with contextlib.suppress(Exception):
                self._driver.interrupt()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._rows.get(timeout=0.1)
        self._thread.join()
