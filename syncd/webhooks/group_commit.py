"""Group commit of the ingest: the deliveries of concurrent requests stored in one transaction.

A request's thread queues its delivery; the first that finds no transaction under way
commits everything queued (its own and the others'), the rest wait for that commit or the
next. Each request is still answered only once the transaction holding its delivery has
committed: one commit, and one connection checkout, serves a burst instead of one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from syncd.connectors.webhooks import WebhookDelivery, WebhookRequest
from syncd.webhooks import inbox


@dataclass
class _Waiting:
    engine: sa.Engine
    row: dict[str, Any]
    since: float
    done: bool = False
    new: bool = False
    error: BaseException | None = field(default=None, repr=False)


class GroupCommit:
    """Stores deliveries for the threads of concurrent requests, those that wait together in
    one transaction."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._turn = threading.Condition()
        self._queue: list[_Waiting] = []
        self._committing = False

    def store(
        self, engine: sa.Engine, instance: str, request: WebhookRequest, delivery: WebhookDelivery
    ) -> bool:
        """Store the delivery durably, as ``inbox.store_delivery``, with whatever else waits;
        False when its delivery id was stored before. Raises what storing it raised."""
        mine = _Waiting(engine, inbox.inbox_row(instance, request, delivery), self._monotonic())
        with self._turn:
            self._queue.append(mine)
            while not mine.done:
                if self._committing:
                    self._turn.wait()
                    continue
                self._committing = True
                batch, self._queue = self._queue, []
                self._turn.release()
                try:
                    self._commit(batch)
                finally:
                    self._turn.acquire()
                    self._committing = False
                    self._turn.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.new

    def _commit(self, batch: list[_Waiting]) -> None:
        """Store ``batch``, one transaction per store; every one is done after, stored or
        with the error that kept it out."""
        try:
            for engine in {id(w.engine): w.engine for w in batch}.values():
                mine = [w for w in batch if w.engine is engine]
                # SQLite: the oldest has waited already, and vendors wait about 5 s in all
                waited = self._monotonic() - min(w.since for w in mine)
                wait = max(0.05, inbox.STORE_WAIT - waited)
                try:
                    news = inbox.store_deliveries(engine, [w.row for w in mine], wait)
                except sa.exc.IntegrityError:
                    if len(mine) == 1:
                        raise
                    for one in mine:  # one at a time: only the row at fault fails
                        try:
                            one.new = inbox.store_deliveries(engine, [one.row], wait)[0]
                        except Exception as error:
                            one.error = error
                        one.done = True
                    continue
                for one, new in zip(mine, news, strict=True):
                    one.new, one.done = new, True
        except Exception as error:
            for one in batch:
                if not one.done:
                    one.error, one.done = error, True
        finally:
            for one in batch:
                if not one.done:  # BaseException: nothing is answered as stored
                    one.error, one.done = RuntimeError("not stored"), True
