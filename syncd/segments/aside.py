"""Reading aside: a second connection, in a thread, shares a compute's reads (SQLite).

A SQLite store is read by one connection on one core. Much of a compute reads only what
it does not write: the score passes (every scored event, twice with ``where`` rules) and
the members of segments over events, tags, lists, fields and deals. On a SQLite file a
second connection sums the first score pass on the other core, then selects the members of
such segments, taking them from the end of the list while the first connection takes them
from the start. What it read crosses to the first connection, which writes it all.

Both connections must see the same data. The second reads the store as last committed, so
this is used only when compute's transaction had written nothing before it began and has
since taken the store's write lock (no other writer can commit until it ends).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments.rules import Rule
from syncd.segments.scores import ScorePass, fill_pass, pass_table
from syncd.store.engine import WRITES, memory_temp_store, writes_since_begin
from syncd.store.temporary import empty

_BATCH = 10_000  # rows handed over at a time
_DONE = object()  # a pass's rows are all handed over
_CACHE_KIB = 32768  # the second connection's page cache, which bounds its sorts in memory too

Members = Callable[[Rule], Any]  # a rule -> SELECT contact_id, reading no stored segment


def may_read_aside(conn: sa.Connection) -> bool:
    """Whether a second connection would see what ``conn`` sees: a SQLite file in WAL mode
    (readers and the writer do not block each other), and ``conn``'s transaction has
    written no row so far. (A table made or altered in it is not counted: compute's callers
    begin a transaction for it alone.)"""
    if conn.dialect.name != "sqlite":
        return False
    database = conn.engine.url.database or ""
    if database in ("", ":memory:") or not os.path.isfile(database):
        return False
    if conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() != "wal":
        return False
    return writes_since_begin(conn) == 0


class ReadAside:
    """A thread on a second connection of ``engine`` that fills ``syncd_score_pass`` for
    the first of ``passes`` (one at most: each waits in memory until it crosses), then
    selects members of the ``segments`` it claims before the first connection does. Start
    it only once the first connection holds the write lock.

    The first connection claims each segment before computing it (``claim``), stores the
    segments read aside as they come (``finished``) and the rest once it claims no more
    (``segments_read``), then takes each pass in order (``fill``).
    """

    def __init__(
        self,
        engine: sa.Engine,
        now: datetime,
        passes: Sequence[ScorePass],
        segments: Mapping[str, Rule],
        members: Members,
    ) -> None:
        # it only reads: should the caller's engine take the write lock at BEGIN, this second
        # connection would wait for the first, which waits for it
        self._engine = engine.execution_options(**{WRITES: False})
        self._now = now
        self._passes = list(passes)[:1]
        self._segments = dict(segments)
        self._members = members
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self._read: dict[str, array[int]] = {}
        self.names_read: list[str] = []  # the segments read aside, in the order read
        self._read_done = threading.Event()
        self._error: BaseException | None = None
        self._rows: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._driver: Any = None  # set while the connection is the thread's
        self._taken = 0
        self._thread = threading.Thread(target=self._run, name="syncd-read-aside", daemon=True)
        self._thread.start()

    # --- the second connection ---------------------------------------------------------

    def _run(self) -> None:
        try:
            with self._engine.connect() as conn:
                with self._lock:
                    self._driver = conn.connection.driver_connection
                cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
                try:
                    self._work(conn)
                finally:  # the connection goes back to the pool as it came, uninterrupted
                    with self._lock:
                        self._driver = None
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")
                    conn.rollback()
        except BaseException as exc:  # raised on the first connection
            self._error = exc
            self._put(exc)
        finally:
            self._read_done.set()

    def _work(self, conn: sa.Connection) -> None:
        memory_temp_store(conn)
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
        # the sums wait in their table while segments are read, then cross
        for job in self._passes:
            self._check()
            pass_table.create(conn, checkfirst=True)
            fill_pass(conn, job, self._now)
        for name in reversed(self._segments):
            if self._stop.is_set() or not self.claim(name):
                break  # the first connection got this far
            ids: array[int] = array("q")
            members = conn.execute(self._members(self._segments[name])).scalars()
            for part in members.partitions(_BATCH):
                ids.extend(part)
            with self._lock:
                self._read[name] = ids
            self.names_read.append(name)
        self._read_done.set()
        columns = ", ".join(pass_table.c.keys())
        for _ in self._passes:
            cursor = self._driver.execute(f"SELECT {columns} FROM {pass_table.name}")
            while rows := cursor.fetchmany(_BATCH):
                self._check()
                self._put(rows)
            self._put(_DONE)
            empty(conn, pass_table)

    def _check(self) -> None:
        if self._stop.is_set():
            raise _Stopped()

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._rows.put(item, timeout=0.2)
                return

    # --- the first connection ----------------------------------------------------------

    def claim(self, name: str) -> bool:
        """Take segment ``name`` for the caller's connection; False if read aside already."""
        with self._lock:
            if name in self._claimed:
                return False
            self._claimed.add(name)
            return True

    def finished(self) -> Iterator[tuple[str, array[int]]]:
        """The segments read aside so far and not taken yet, with their members' ids."""
        if self._error is not None:
            raise self._error
        with self._lock:
            done, self._read = self._read, {}
        yield from done.items()

    def segments_read(self) -> Iterator[tuple[str, array[int]]]:
        """The rest of the segments read aside, once the first connection claims no more."""
        with self._lock:  # none left to read aside
            self._claimed.update(self._segments)
        self._read_done.wait()
        yield from self.finished()

    def fill(self, conn: sa.Connection, job: ScorePass, now: datetime) -> None:
        """Put ``job``'s sums in ``conn``'s ``syncd_score_pass``: read aside if it was, else
        summed here."""
        if self._taken == len(self._passes):
            fill_pass(conn, job, now)
            return
        assert job == self._passes[self._taken] and now == self._now, "passes out of order"
        self._taken += 1
        empty(conn, pass_table)
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
        while self._thread.is_alive():
            with self._lock:  # only while the thread holds its connection
                if self._driver is not None:
                    with contextlib.suppress(Exception):
                        self._driver.interrupt()
            with contextlib.suppress(queue.Empty):
                self._rows.get(timeout=0.1)
        self._thread.join()


class _Stopped(Exception):
    """The first connection no longer wants what is read aside."""
