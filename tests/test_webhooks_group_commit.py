"""The ingest's group commit: deliveries that arrive while a transaction is under way are
stored together in the next one, each request returning only once its own delivery is
committed; replays, a row the store refuses and a busy store keep their answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.connectors.webhooks import WebhookDelivery, WebhookRequest
from syncd.store.schema import webhook_inbox
from syncd.webhooks import inbox
from syncd.webhooks.group_commit import GroupCommit, _Waiting
from tests.webhook_world import NOW

REQUEST = WebhookRequest("POST", "https://h/webhooks/shop", {}, {}, b"{}", NOW)


def stored_ids(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(webhook_inbox.c.delivery_id).order_by(webhook_inbox.c.id))
        return [str(d) for d in found.scalars()]


def test_deliveries_arriving_during_a_commit_share_the_next_and_return_once_stored(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = GroupCommit()
    batches: list[list[str]] = []
    real = inbox.store_deliveries

    def slow_first(engine: sa.Engine, rows: list[dict[str, Any]], wait: float) -> list[bool]:
        batches.append([row["delivery_id"] for row in rows])
        if len(batches) == 1:  # the others arrive while this one commits
            deadline = time.monotonic() + 10
            while len(group._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(engine, rows, wait)

    monkeypatch.setattr(inbox, "store_deliveries", slow_first)
    answers: dict[str, tuple[bool, bool]] = {}

    def post(delivery_id: str) -> None:
        new = group.store(engine, "shop", REQUEST, WebhookDelivery(delivery_id, "orders/create"))
        answers[delivery_id] = (new, delivery_id in stored_ids(engine))  # stored when answered

    first = threading.Thread(target=post, args=("d-0",))
    first.start()
    while not batches:
        time.sleep(0.01)
    others = [threading.Thread(target=post, args=(f"d-{n}",)) for n in (1, 2, 3)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(20)

    assert batches[0] == ["d-0"]
    assert sorted(batches[1]) == ["d-1", "d-2", "d-3"] and len(batches) == 2
    assert answers == {f"d-{n}": (True, True) for n in range(4)}
    assert sorted(stored_ids(engine)) == ["d-0", "d-1", "d-2", "d-3"]


def test_a_delivery_id_twice_in_one_batch_or_stored_before_is_stored_once(
    engine: sa.Engine,
) -> None:
    row = inbox.inbox_row("shop", REQUEST, WebhookDelivery("d-1", "orders/create"))
    again = inbox.inbox_row("shop", REQUEST, WebhookDelivery("d-2", "orders/create"))
    other = inbox.inbox_row("crm", REQUEST, WebhookDelivery("d-1", "contact.propertyChange"))
    assert inbox.store_deliveries(engine, [row, again, row, other, again]) == [
        True,
        True,
        False,
        True,
        False,
    ]
    assert inbox.store_deliveries(engine, [again, row]) == [False, False]
    assert stored_ids(engine) == ["d-1", "d-2", "d-1"]


def test_a_row_the_store_refuses_fails_its_own_request_only(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = GroupCommit()
    batch = [
        waiting(engine, "d-1"),
        waiting(engine, "d-2", instance=None),  # NOT NULL: an IntegrityError
        waiting(engine, "d-3"),
    ]
    group._commit(batch)
    assert [w.done for w in batch] == [True, True, True]
    assert [w.new for w in batch] == [True, False, True]
    assert [type(w.error) for w in batch] == [type(None), sa.exc.IntegrityError, type(None)]
    assert stored_ids(engine) == ["d-1", "d-3"]


def test_a_store_that_fails_fails_every_request_of_the_batch(engine: sa.Engine) -> None:
    group = GroupCommit()
    broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    batch = [waiting(broken, "d-1"), waiting(broken, "d-2")]
    group._commit(batch)
    assert all(w.done and isinstance(w.error, sa.exc.OperationalError) for w in batch)
    assert stored_ids(engine) == []


def waiting(engine: sa.Engine, delivery_id: str, instance: Any = "shop") -> _Waiting:
    row = inbox.inbox_row(instance, REQUEST, WebhookDelivery(delivery_id, "orders/create"))
    return _Waiting(engine, row, time.monotonic())
