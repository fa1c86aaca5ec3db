"""Who may run what: a job runs on one replica at a time (a PostgreSQL advisory lock per job),
and one daemon at a time uses a SQLite store (a lock file beside the database)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import sqlalchemy as sa

from syncd.store.engine import busy_timeout
from syncd.store.lock import StoreInUse, StoreLock, hold_store

__all__ = ["StoreInUse", "StoreLock", "hold_store", "job_lock", "lock_key"]


def lock_key(name: str, schema: str | None = None, *, kind: str = "job") -> int:
    """A stable signed 64-bit key for the job ``name`` (two schemas of one database are two
    stores, so a schema other than ``public`` is part of the key)."""
    text = f"syncd:{kind}:" + (f"{schema}/{name}" if schema and schema != "public" else name)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def job_lock(engine: sa.Engine, name: str) -> Iterator[bool]:
    """Yield True when this process may run job ``name`` now, False when a replica runs it.

    On PostgreSQL the lock is a session advisory lock on a connection held for the run; if the
    process dies the server drops the session and the lock with it. Other stores have one
    daemon (see ``hold_store``), so the answer there is always True, once the job holds the
    store's write lock, as a one-shot command would (StoreInUse after the busy timeout).
    """
    if engine.dialect.name != "postgresql":
        lock = hold_store(engine.url, command=f"run (job {name})", wait=busy_timeout(engine))
        try:
            yield True
        finally:
            if lock is not None:
                lock.release()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        key = lock_key(name, schema)
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                # the connection goes back to the pool: it must not keep the lock
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
