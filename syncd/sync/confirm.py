"""Confirm: what a destination answered for a batch of changes, recorded in one transaction
with a few statements a batch, not a few a change: the outbox rows done or not, and what the
destination now holds as syncd confirmed it (its contact ids, tags, memberships and field
values)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.connectors.contract import ChangeKind, ChangeResult, Outcome
from syncd.store.schema import attributes, identities, memberships, outbox, tags
from syncd.store.upsert import chunks, delete_many, max_parameters, upsert_many
from syncd.sync.checks import typed
from syncd.sync.outbox import MAX_ATTEMPTS, REFUSED
from syncd.sync.page_rows import REMOVED, split_counter
from syncd.sync.resolve import resolve_contacts

UNCLAIMED = {"claimed_by": None, "claimed_until": None}


def confirm(
    engine: sa.Engine,
    destination: str,
    me: str,
    rows: list[Any],
    results: list[ChangeResult],
    now: datetime,
    whole_batch: bool = False,
    precedence: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """Record what the destination answered for the claimed ``rows``; return (kind, result)
    of each change. With ``precedence``, the fields of the contacts a field value was
    confirmed for are resolved again in the same transaction."""
    by_id = {r.id: r for r in rows}
    answered = {res.change_id for res in results}
    # a change the destination did not answer for was not confirmed: it stays pending
    missing = [
        ChangeResult(r.id, Outcome.RETRYABLE, "no answer from the destination")
        for r in rows
        if r.id not in answered
    ]
    outcomes: list[tuple[str, str]] = []
    done: list[tuple[Any, ChangeResult]] = []
    # what a change not done becomes, by (status if pending, attempts, reason): its ids
    undone: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for result in [*results, *missing]:
        row = by_id.get(result.change_id)
        if row is None:
            continue
        if result.outcome is Outcome.DONE:
            done.append((row, result))
            outcomes.append((row.kind, "done"))
            continue
        give_up = result.outcome is Outcome.FAILED or row.attempts >= MAX_ATTEMPTS
        why = _why(result, whole_batch)[:2000]
        undone["failed" if give_up else "pending", row.attempts, why].append(row.id)
        outcomes.append((row.kind, "failed" if give_up else str(result.outcome)))
    with engine.begin() as conn:
        fielded = record_done(conn, destination, done, now)
        # done even if a plan superseded it meanwhile: the destination holds it now (the
        # claim counted this attempt: ``attempts`` is the row's own, set again as it was)
        by_attempts: dict[int, list[int]] = defaultdict(list)
        for row, _ in done:
            by_attempts[row.attempts].append(row.id)
        for attempts, ids in by_attempts.items():
            values = {"status": "done", "attempts": attempts, "last_error": None, "updated_at": now}
            _update(conn, ids, sa.true(), {**values, **UNCLAIMED})
        for (status, attempts, why), ids in undone.items():
            # only a change still pending goes back to pending or to failed: one a plan held
            # or superseded meanwhile keeps that status, and one whose claim ran out and was
            # taken by another push is that push's to answer for
            kept = sa.case((outbox.c.status == "pending", status), else_=outbox.c.status)
            values = {"status": kept, "attempts": attempts, "last_error": why}
            _update(
                conn, ids, outbox.c.claimed_by == me, {**values, "updated_at": now, **UNCLAIMED}
            )
        if precedence is not None:
            # the fields now say what the destination holds, so a pull reading it back finds
            # them as they stand and changes nothing
            resolve_contacts(conn, precedence, fielded)
    return outcomes


def _update(
    conn: sa.Connection, ids: list[int], where: sa.ColumnElement[bool], values: dict[str, Any]
) -> None:
    for some in chunks(ids, max_parameters(conn)):
        conn.execute(outbox.update().where(outbox.c.id.in_(some), where).values(**values))


def _why(result: ChangeResult, whole_batch: bool) -> str:
    """The reason kept with a change not done; a change the destination refused on its own
    (not with its whole batch) reads ``refused: ...``, which ``forget_failed`` remembers."""
    reason = result.reason or str(result.outcome)
    if result.outcome is Outcome.FAILED and not whole_batch:
        return REFUSED + reason
    return reason


def record_done(
    conn: sa.Connection,
    destination: str,
    done: Iterable[tuple[Any, ChangeResult]],
    now: datetime,
) -> set[int]:
    """What the destination now holds, as syncd confirmed it by the changes ``done`` (in the
    order they were answered: of two changes to one tag, list or field, the later one holds);
    return the contacts a field value was confirmed for (their fields are resolved again)."""
    contact_ids: dict[str, dict[str, Any]] = {}  # the vendor's contact id -> its identity
    added: dict[tuple[int, str], str | None] = {}  # (contact, tag) -> its link id, if known
    removed: set[tuple[int, str]] = set()
    lists: dict[tuple[int, str], dict[str, Any]] = {}
    values: dict[tuple[int, str], dict[str, Any]] = {}
    for row, result in done:
        cid, key = row.contact_id, row.key
        if result.external_id:
            contact_ids[result.external_id] = {
                "connector": destination,
                "external_id": result.external_id,
                "contact_id": cid,
                "updated_at": now,
            }
        kind = ChangeKind(row.kind)
        if kind is ChangeKind.ADD_TAG:
            # a link id given before stays when a later add gives none; a removal before it
            # stays too: the held row is deleted first, and the tag is held anew from now
            added[cid, key] = result.ref or added.get((cid, key))
        elif kind is ChangeKind.REMOVE_TAG:
            added.pop((cid, key), None)
            removed.add((cid, key))
        elif kind in (ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE):
            # syncd's own unsubscribe is a removal, not the person's: they may be added back
            status = "subscribed" if kind is ChangeKind.SUBSCRIBE else REMOVED
            lists[cid, key] = {
                "contact_id": cid,
                "source": destination,
                "list": key,
                "status": status,
                "ref": result.ref,
                "managed": True,
                "updated_at": now,
                "since": now,  # the status changed: a membership of it begins
            }
        elif kind is ChangeKind.SET_FIELD:
            text, num, ts = typed(row.value)
            # under the key the plan compares, and under the name a pull reads it back as
            for name in dict.fromkeys((key, result.read_as or key)):
                values[cid, name] = {
                    "contact_id": cid,
                    "source": destination,
                    "name": name,
                    "value": text,
                    "num": num,
                    "ts": ts,
                    "updated_at": now,
                }
    upsert_many(
        conn,
        identities,
        list(contact_ids.values()),
        ["connector", "external_id"],
        ["contact_id", "updated_at"],
    )
    _record_tags(conn, destination, added, removed, now)
    keys = ["contact_id", "source", "list"]
    upsert_many(
        conn, memberships, list(lists.values()), keys, ["status", "managed", "updated_at", "since"]
    )
    keys = ["contact_id", "source", "name"]
    upsert_many(conn, attributes, list(values.values()), keys, ["value", "num", "ts", "updated_at"])
    return {cid for cid, _ in values}


def _record_tags(
    conn: sa.Connection,
    destination: str,
    added: dict[tuple[int, str], str | None],
    removed: set[tuple[int, str]],
    now: datetime,
) -> None:
    delete_many(
        conn,
        tags,
        [{"contact_id": cid, "source": destination, "tag": key} for cid, key in sorted(removed)],
    )
    for with_ref in (False, True):
        rows = []
        for (cid, key), ref in sorted(added.items()):
            if bool(ref) is not with_ref:
                continue
            name, count = split_counter(key)
            rows.append(
                {
                    "contact_id": cid,
                    "source": destination,
                    "tag": key,
                    "name": name,
                    "count": count,
                    "ref": ref,
                    "managed": True,
                    "updated_at": now,
                    "since": now,  # a tag already held keeps the time it was first seen
                }
            )
        # a link id the destination gave replaces the one known; without one it stays
        update = ["managed", "updated_at", *(["ref"] if with_ref else [])]
        upsert_many(conn, tags, rows, ["contact_id", "source", "tag"], update)
