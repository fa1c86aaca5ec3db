"""Push as the outbox drives it: a stop between batches, metrics per change, and claims that let
several processes push one destination without sending a change twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from syncd.clock import fixed_clock
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.store import open_store
from syncd.store.schema import contacts, outbox
from syncd.sync.push import push_destination

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEST = "esp"


class Recording(Destination):
    """Answers done for every change and remembers each batch it was given."""

    batch_size = 2
    change_kinds = frozenset(ChangeKind)

    def __init__(self) -> None:
        self.batches: list[list[Change]] = []
        self.lock = threading.Lock()

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        with self.lock:
            self.batches.append(list(changes))
        return [ChangeResult(c.id, Outcome.DONE) for c in changes]

    @property
    def sent(self) -> list[int]:
        return [c.id for b in self.batches for c in b]


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    eng = open_store(store_url)
    yield eng
    eng.dispose()


def fill(engine: sa.Engine, n_contacts: int, per_contact: int = 2) -> list[int]:
    """``n_contacts`` contacts with ``per_contact`` pending changes each; the changes' ids."""
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                for i in range(n_contacts)
            ],
        )
        ids = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars().all()
        conn.execute(
            outbox.insert(),
            [
                {
                    "destination": DEST,
                    "contact_id": cid,
                    "kind": "add_tag",
                    "key": f"T{k}",
                    "status": "pending",
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for cid in ids
                for k in range(per_contact)
            ],
        )
        return list(conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())


def statuses(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
        ).all()
    return {s: n for s, n in rows}


def test_a_stop_set_during_a_batch_ends_the_push_after_that_batch(engine: sa.Engine) -> None:
    fill(engine, 5)
    stop = threading.Event()

    class StopsAfterFirst(Recording):
        def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
            stop.set()
            return super().push(changes)

    target = StopsAfterFirst()
    counts = push_destination(engine, DEST, target, clock=fixed_clock(NOW), stop=stop)
    assert len(target.batches) == 1
    assert counts == {"done": 4}
    assert statuses(engine) == {"done": 4, "pending": 6}

    again = Recording()
    counts = push_destination(engine, DEST, again, clock=fixed_clock(NOW), stop=threading.Event())
    assert counts == {"done": 6}
    assert len(again.batches) == 2  # three contacts, two a batch
    assert statuses(engine) == {"done": 10}
    assert not set(target.sent) & set(again.sent)


def test_a_stop_set_before_the_push_sends_nothing(engine: sa.Engine) -> None:
    fill(engine, 2)
    stop = threading.Event()
    stop.set()
    target = Recording()
    assert push_destination(engine, DEST, target, clock=fixed_clock(NOW), stop=stop) == {}
    assert target.batches == []
    assert statuses(engine) == {"pending": 4}
