"""Who uses a SQLite store: one daemon at a time (``<db>.daemon.lock``, held for its life),
and one writer at a time (``<db>.write.lock``, held by a one-shot command that writes or
migrates for its run, and by the daemon for each job it runs).

SQLite lets one connection write at a time, and a transaction that read first and then
writes fails at once ("database is locked") when another process wrote meanwhile: waiting
for the other process's whole run, here, is what keeps every later transaction clear of that.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from syncd.duration import duration_text
from syncd.errors import StoreError


class StoreInUse(StoreError):
    """Another syncd process holds this SQLite store."""


class StoreLock:
    """An exclusive lock on ``<database>.daemon.lock`` holding the holder's pid; the kernel
    releases it when the process ends, however it ends. Taken again by the process that
    holds it, it is counted, and let go at the last release."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self.holds = 1

    def release(self) -> None:
        self.holds -= 1
        if self.holds == 0 and self._fd is not None:
            _held.pop(self.path, None)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


_held: dict[Path, StoreLock] = {}  # the stores this process holds


def hold_store(
    url: str | URL,
    *,
    command: str = "run",
    wait: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> StoreLock | None:
    """Lock a SQLite store for this process: as its daemon (``command`` ``run``), at once or
    StoreInUse; or as its one writer (any other ``command``, such as ``sync`` or a daemon's
    job), waiting up to ``wait`` seconds for the one writing, then StoreInUse.

    None for stores that need no lock (PostgreSQL, where replicas share the work; in-memory).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = Path(parsed.database).resolve()
    suffix = ".daemon.lock" if command == "run" else ".write.lock"
    path = database.with_name(database.name + suffix)
    if path in _held and command != "run":  # flock is per open file: it would wait for itself
        _held[path].holds += 1
        return _held[path]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot lock the store {database}: {exc.strerror} ({path})") from None
    deadline = monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid, holder = _holder(fd)
                if command == "run":
                    raise StoreInUse(
                        f"another syncd run is using the store {database} (pid {pid}); "
                        "stop it first"
                    ) from None
                if monotonic() >= deadline:
                    waited = f"; waited {duration_text(wait)} (store.busy_timeout)" if wait else ""
                    raise StoreInUse(
                        f"another syncd {holder} is writing the store {database} (pid {pid})"
                        f"{waited}: try again when it has finished"
                    ) from None
                sleep(0.1)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    held_by = f"{os.getpid()}" if command == "run" else f"{os.getpid()} {command}"
    os.write(fd, f"{held_by}\n".encode())
    _held[path] = StoreLock(path, fd)
    return _held[path]


def _holder(fd: int) -> tuple[str, str]:
    """The pid and the command written in a held lock file (a daemon writes its pid only)."""
    os.lseek(fd, 0, os.SEEK_SET)
    words = os.read(fd, 200).decode(errors="replace").split(maxsplit=1)
    pid = words[0] if words else "unknown"
    return pid, (words[1].strip() if len(words) > 1 else "run" if words else "command")
