"""Resolve: each contact field takes the value of the strongest source that has one."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
    """Leave ``contact_fields`` as the attributes resolve to, writing only what differs: a
    field no source holds any more is deleted, a new or changed one upserted, and one that
    resolves as it stands is not touched (no write, so the change tracking marks no contact:
    an echo of syncd's own writes costs the compute nothing)."""
    dialect = conn.dialect.name
    if ids is not None:
        delete, insert = _statements(dialect, tuple(precedence), True)
        conn.execute(delete, {"ids": list(ids)})
        conn.execute(insert, {"ids": list(ids)})
        return
    delete, insert = _statements(dialect, tuple(precedence), False)
    conn.execute(delete)
    conn.execute(insert)


@functools.lru_cache(maxsize=16)
def _statements(dialect: str, precedence: tuple[str, ...], by_ids: bool) -> tuple[Any, Any]:
    """The delete of the fields no attribute holds and the upsert of those that differ, built
    once for a dialect and a precedence (a pull resolves each page it writes); ``by_ids``: for
    the contacts of an ``ids`` parameter, else for every contact."""
    held = sa.exists().where(
        attributes.c.contact_id == contact_fields.c.contact_id,
        attributes.c.name == contact_fields.c.name,
        attributes.c.value.is_not(None),
    )
    delete = contact_fields.delete().where(~held)
    ranked = _ranked(precedence)
    if by_ids:
        ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
        delete = delete.where(contact_fields.c.contact_id.in_(ids))
        ranked = ranked.where(attributes.c.contact_id.in_(ids))
    return delete, _upsert(dialect, ranked)


def _upsert(dialect: str, ranked: sa.Select) -> Any:
    sub = ranked.subquery()
    columns = ["contact_id", "name", "value", "num", "ts", "source"]
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(contact_fields)
    stmt = insert.from_select(
        columns, sa.select(*[sub.c[c] for c in columns]).where(sub.c.pick == 1)
    )
    values = ("value", "num", "ts", "source")
    return stmt.on_conflict_do_update(
        index_elements=["contact_id", "name"],
        set_={c: stmt.excluded[c] for c in values},
        where=sa.or_(*(contact_fields.c[c].is_distinct_from(stmt.excluded[c]) for c in values)),
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
