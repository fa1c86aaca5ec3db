"""Resolve: each contact field takes the value of the strongest source that has one."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from syncd.store.schema import attributes, contact_fields, meta
from syncd.store.upsert import upsert

CHUNK = 500
PRECEDENCE_KEY = "resolve.precedence"


def _ranked(precedence: Sequence[str]) -> sa.Select:
    newest_first: tuple[Any, ...] = (attributes.c.updated_at.desc(), attributes.c.source)
    if precedence:  # without one, the newest value wins
        rank = sa.case(
            {name: i for i, name in enumerate(precedence)},
            value=attributes.c.source,
            else_=len(precedence),
        )
        newest_first = (rank, *newest_first)
    order = sa.func.row_number().over(
        partition_by=(attributes.c.contact_id, attributes.c.name), order_by=newest_first
    )
    return sa.select(
        attributes.c.contact_id,
        attributes.c.name,
        attributes.c.value,
        attributes.c.num,
        attributes.c.ts,
        attributes.c.source,
        order.label("pick"),
    ).where(attributes.c.value.is_not(None))


def _copy(conn: sa.Connection, precedence: Sequence[str], ids: Sequence[int] | None) -> None:
    if ids is not None:
        delete, insert = _statements(tuple(precedence))
        conn.execute(delete, {"ids": list(ids)})
        conn.execute(insert, {"ids": list(ids)})
        return
    conn.execute(contact_fields.delete())
    conn.execute(_insert(_ranked(precedence)))


@functools.lru_cache(maxsize=16)
def _statements(precedence: tuple[str, ...]) -> tuple[sa.Delete, sa.Insert]:
    """The delete and the insert that resolve the contacts of an ``ids`` parameter, built once
    for a precedence (a pull resolves each page it writes)."""
    ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
    delete = contact_fields.delete().where(contact_fields.c.contact_id.in_(ids))
    return delete, _insert(_ranked(precedence).where(attributes.c.contact_id.in_(ids)))


def _insert(ranked: sa.Select) -> sa.Insert:
    sub = ranked.subquery()
    columns = ["contact_id", "name", "value", "num", "ts", "source"]
    return contact_fields.insert().from_select(
        columns, sa.select(*[sub.c[c] for c in columns]).where(sub.c.pick == 1)
    )


def resolve_contacts(conn: sa.Connection, precedence: Sequence[str], ids: Iterable[int]) -> None:
    """Recompute the fields of the contacts ``ids``."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        _copy(conn, precedence, ordered[start : start + CHUNK])


def resolve_all_if_precedence_changed(conn: sa.Connection, precedence: Sequence[str]) -> bool:
    """Recompute every contact's fields when the configured precedence changed."""
    fingerprint = hashlib.sha1(json.dumps(list(precedence)).encode()).hexdigest()
    stored = conn.execute(sa.select(meta.c.value).where(meta.c.key == PRECEDENCE_KEY)).scalar()
    if stored == fingerprint:
        return False
    _copy(conn, precedence, None)
    upsert(conn, meta, [{"key": PRECEDENCE_KEY, "value": fingerprint}], ["key"], ["value"])
    return True
