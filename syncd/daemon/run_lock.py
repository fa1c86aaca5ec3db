"""The daemon's run lock: one scheduled job or micro-cycle at a time, in one process.

A scheduled job lends it between the pages of its pull (``lend``, where it holds no
transaction): a micro-cycle waiting for it (``between``) runs then, and the job goes on once
it is done. Webhooks are applied within seconds while a scheduled cycle pulls, and the two
still never write at the same time. Nothing else (a reload, a stop) takes it on loan.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


class RunLock:
    """Held by the job that runs (``with``, ``acquire``); a micro-cycle takes it ``between``."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._held = False  # by a job, or by a micro-cycle that found it free
        self._lent = False  # its job lent it: one micro-cycle may take it on loan
        self._borrowed = False  # a micro-cycle runs on loan
        self._borrowers = 0  # micro-cycles waiting
        self._loans = 0  # micro-cycles that ran on loan, so far

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._turn:
            if not blocking:
                if self._held:
                    return False
            elif not self._turn.wait_for(lambda: not self._held, None if timeout < 0 else timeout):
                return False
            self._held = True
            return True

    def release(self) -> None:
        with self._turn:
            self._held = False
            self._turn.notify_all()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()

    @contextmanager
    def between(self) -> Iterator[None]:
        """Hold it for a micro-cycle: when it is free, or lent by the job holding it."""
        with self._turn:
            self._borrowers += 1
            try:
                self._turn.wait_for(lambda: not self._held or (self._lent and not self._borrowed))
            finally:
                self._borrowers -= 1
            on_loan = self._held
            if on_loan:
                self._borrowed = True
                self._loans += 1
                self._turn.notify_all()  # the lender waits for it to be taken
            else:
                self._held = True
        try:
            yield
        finally:
            with self._turn:
                if on_loan:
                    self._borrowed = False
                else:
                    self._held = False
                self._turn.notify_all()

    def lend(self) -> bool:
        """By the job holding it, where it holds no transaction: let a waiting micro-cycle
        run, and return once it is done (True), or at once when none waits (False)."""
        with self._turn:
            if not self._borrowers:
                return False
            self._lent = True
            loans = self._loans
            self._turn.notify_all()
            self._turn.wait_for(lambda: self._loans > loans)  # a waiting one leaves by taking it
            self._lent = False
            self._turn.wait_for(lambda: not self._borrowed)
            return True
