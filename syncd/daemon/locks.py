"""Who may run what: a job runs on one replica at a time (a PostgreSQL advisory lock per job),
and one daemon at a time uses a SQLite store (a lock file beside the database)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncd.errors import StoreError, SyncdError


class StoreInUse(SyncdError):
    """Another ``syncd run`` holds this SQLite store."""


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
    daemon (see ``hold_store``), so the answer there is always True.
    """
    if engine.dialect.name != "postgresql":
        yield True
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


class StoreLock:
    """An exclusive lock on ``<database>.daemon.lock`` holding the daemon's pid; the kernel
    releases it when the process ends, however it ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def hold_store(url: str) -> StoreLock | None:
    """Lock a SQLite store file for this daemon; StoreInUse when another one holds it.

    None for stores that need no lock (PostgreSQL, where replicas share the work; in-memory).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = Path(parsed.database)
    path = database.with_name(database.name + ".daemon.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot lock the store {database}: {exc.strerror} ({path})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreInUse(
            f"another syncd run is using the store {database} (pid {pid}); stop it first"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return StoreLock(path, fd)
