"""Resolve: each contact field takes the value of the strongest source that has one."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from syncd.store.schema import attributes, contact_fields, meta
from syncd.store.upsert import chunks, max_parameters, upsert

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


Scope = Literal["all", "contacts", "fields"]


def _copy(conn: sa.Connection, precedence: Sequence[str], scope: Scope, **keys: Any) -> None:
    """Leave ``contact_fields`` as the attributes resolve to, writing only what differs: a
    field no source holds any more is deleted, a new or changed one upserted, and one that
    resolves as it stands is not touched (no write, so the change tracking marks no contact:
    an echo of syncd's own writes costs the compute nothing)."""
    delete, insert = _statements(conn.dialect.name, tuple(precedence), scope)
    conn.execute(delete, keys)
    conn.execute(insert, keys)


@functools.lru_cache(maxsize=16)
def _statements(dialect: str, precedence: tuple[str, ...], scope: Scope) -> tuple[Any, Any]:
    """The delete of the fields no attribute holds and the upsert of those that differ, built
    once for a dialect and a precedence (a pull resolves each page it writes): for every
    contact, the contacts of an ``ids`` parameter, or those fields of theirs named in a
    ``names`` one."""
    held = sa.exists().where(
        attributes.c.contact_id == contact_fields.c.contact_id,
        attributes.c.name == contact_fields.c.name,
        attributes.c.value.is_not(None),
    )
    delete = contact_fields.delete().where(~held)
    ranked = _ranked(precedence)
    if scope != "all":
        ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
        delete = delete.where(contact_fields.c.contact_id.in_(ids))
        ranked = ranked.where(attributes.c.contact_id.in_(ids))
    if scope == "fields":
        names: sa.BindParameter[list[str]] = sa.bindparam("names", expanding=True)
        delete = delete.where(contact_fields.c.name.in_(names))
        ranked = ranked.where(attributes.c.name.in_(names))
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
        _copy(conn, precedence, "contacts", ids=ordered[start : start + CHUNK])


def resolve_fields(
    conn: sa.Connection, precedence: Sequence[str], fields: Iterable[tuple[int, str]]
) -> None:
    """Recompute the ``fields``, (contact, field name) pairs: those whose attributes a write
    changed. A field resolves from its own attributes alone, so the others stand; the
    contacts' fields of any of the names are resolved (a few more, to keep to the index)."""
    names: dict[int, set[str]] = {}
    for contact, name in fields:
        names.setdefault(contact, set()).add(name)
    ordered = sorted(names)
    size = max(1, max_parameters(conn) - CHUNK - 2 * len(precedence))  # and the ranking's
    for start in range(0, len(ordered), CHUNK):
        some = ordered[start : start + CHUNK]
        wanted = sorted(set().union(*(names[c] for c in some)))
        for part in chunks(wanted, size):
            _copy(conn, precedence, "fields", ids=some, names=list(part))


def resolve_all_if_precedence_changed(conn: sa.Connection, precedence: Sequence[str]) -> bool:
    """Recompute every contact's fields when the configured precedence changed."""
    fingerprint = hashlib.sha1(json.dumps(list(precedence)).encode()).hexdigest()
    stored = conn.execute(sa.select(meta.c.value).where(meta.c.key == PRECEDENCE_KEY)).scalar()
    if stored == fingerprint:
        return False
    _copy(conn, precedence, "all")
    upsert(conn, meta, [{"key": PRECEDENCE_KEY, "value": fingerprint}], ["key"], ["value"])
    return True
