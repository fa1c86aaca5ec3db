"""Confirming a pushed batch: a few statements a batch whatever its size, and of two changes
to one tag, list or field in a batch the later one holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from syncd.clock import as_utc, fixed_clock
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.store.schema import attributes, contacts, identities, memberships, outbox, tags
from syncd.sync.confirm import record_done
from syncd.sync.push import push_destination

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DEST = "esp"


class Answering(Destination):
    """Answers each change by its place in the batch: done, retryable or failed in turn."""

    batch_size = 1000
    change_kinds = frozenset(ChangeKind)

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        answer = (Outcome.DONE, Outcome.RETRYABLE, Outcome.FAILED)
        return [
            ChangeResult(c.id, answer[i % 3], "no", external_id=f"ac{c.id}", ref=f"link{c.id}")
            for i, c in enumerate(changes)
        ]


def fill(engine: sa.Engine, people: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW}
                for i in range(people)
            ],
        )
        ids = conn.execute(sa.select(contacts.c.id)).scalars().all()
        kinds = [("add_tag", "VIP", None), ("add_tag", "Gold", None), ("set_field", "tier", "1")]
        conn.execute(
            outbox.insert(),
            [
                {
                    "destination": DEST,
                    "contact_id": cid,
                    "kind": kind,
                    "key": key,
                    "value": value,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for cid in ids
                for kind, key, value in kinds
            ],
        )


def statements_of_push(engine: sa.Engine) -> int:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        counts = push_destination(engine, DEST, Answering(), clock=fixed_clock(NOW))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sum(counts.values()) > 0
    return len(seen)


def test_a_batch_is_confirmed_in_as_many_statements_for_30_people_as_for_3(
    engine: sa.Engine,
) -> None:
    fill(engine, 3)
    few = statements_of_push(engine)
    with engine.begin() as conn:
        for table in (outbox, tags, memberships, attributes, identities, contacts):
            conn.execute(table.delete())
    fill(engine, 30)
    assert statements_of_push(engine) == few
    with engine.connect() as conn:
        by_status = {
            status: n
            for status, n in conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            )
        }
        errors = set(conn.execute(sa.select(outbox.c.last_error)).scalars())
        held = set(conn.execute(sa.select(tags.c.tag, tags.c.ref)))
        known = conn.execute(sa.select(sa.func.count()).select_from(identities)).scalar_one()
    # 90 changes answered done, retryable and failed in turn
    assert by_status == {"done": 30, "pending": 30, "failed": 30}
    assert errors == {None, "no", "refused: no"}
    assert {tag for tag, _ in held} == {"VIP"} and len(held) == 30  # each with its link id
    assert known == 30  # the contact ids the destination gave with the changes done


def done(change_id: int, contact: int, kind: str, key: str, ref: str | None = None) -> tuple:
    row = SimpleNamespace(id=change_id, contact_id=contact, kind=kind, key=key, value="v")
    return row, ChangeResult(change_id, Outcome.DONE, ref=ref)


def test_a_held_tag_removed_then_added_in_a_batch_is_held_anew(engine: sa.Engine) -> None:
    """As the changes one at a time: the old row (its link id, its time) goes, a new one comes."""
    earlier = NOW - timedelta(days=30)
    with engine.begin() as conn:
        person = {"email": "p@example.com", "created_at": NOW, "updated_at": NOW}
        conn.execute(contacts.insert().values(**person))
        one = conn.execute(sa.select(contacts.c.id)).scalar_one()
        conn.execute(tags.insert().values(contact_id=one, source=DEST, tag="C", name="C",
                                          ref="old", managed=True, updated_at=earlier,
                                          since=earlier))  # fmt: skip
        both = [done(1, one, "remove_tag", "C"), done(2, one, "add_tag", "C")]
        record_done(conn, DEST, both, NOW)
        held = conn.execute(sa.select(tags.c.ref, tags.c.since)).one()
    assert held.ref is None and as_utc(held.since) == NOW


def test_of_two_changes_to_one_tag_or_list_in_a_batch_the_later_holds(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"email": f"p{i}@example.com", "created_at": NOW, "updated_at": NOW} for i in (1, 2)],
        )
        one, two = conn.execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars()
        record_done(
            conn,
            DEST,
            [
                done(1, one, "add_tag", "A", ref="9"),
                done(2, one, "add_tag", "A"),  # no link id given: the one known stays
                done(3, one, "add_tag", "B"),
                done(4, one, "remove_tag", "B"),  # added, then removed: not held
                done(5, two, "remove_tag", "C"),
                done(6, two, "add_tag", "C"),  # removed, then added: held
                done(7, two, "subscribe", "News"),
                done(8, two, "unsubscribe", "News"),
            ],
            NOW,
        )
        held = set(conn.execute(sa.select(tags.c.contact_id, tags.c.tag, tags.c.ref)))
        lists = set(conn.execute(sa.select(memberships.c.list, memberships.c.status)))
    assert held == {(one, "A", "9"), (two, "C", None)}
    assert lists == {("News", "removed")}
