"""A store for a connector's tests, and its content in a form two stores can be compared by:
no row ids, contacts by e-mail, and, unless asked for, no times of writing."""

from __future__ import annotations

import importlib.util
import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncd.store import open_store
from syncd.store.migrations import versions
from syncd.store.schema import contacts, cursors, metadata, quarantine

Content = dict[str, list[tuple[tuple[str, str], ...]]]

# when a row was written and by which run: they differ between two equal pulls
WRITE_TIMES = frozenset(
    {"created_at", "updated_at", "run_id", "computed_at", "changed_at", "since",
     "claimed_by", "claimed_until", "started_at", "finished_at"}
)  # fmt: skip
SKIPPED_TABLES = frozenset({"meta", "runs"})
_numbers = itertools.count(1)


def temporary_store(directory: Path) -> sa.Engine:
    """A fresh SQLite store, migrated, in ``directory``."""
    return open_store(f"sqlite:///{directory / f'store-{next(_numbers)}.db'}")


def store_content(engine: sa.Engine, *, times: bool = False, cursors_too: bool = False) -> Content:
    """Every table's rows as sorted tuples of ``(column, value)``: row ids dropped, a
    ``contact_id`` given as the contact's e-mail, the times of writing kept only with
    ``times``, and the cursors table only with ``cursors_too``."""
    out: Content = {}
    with engine.connect() as conn:
        emails = dict(conn.execute(sa.select(contacts.c.id, contacts.c.email)).all())
        for table in metadata.sorted_tables:
            if table.name in SKIPPED_TABLES or (table is cursors and not cursors_too):
                continue
            columns = [
                c
                for c in table.columns
                if not (c.name == "id" and c.primary_key) and (times or c.name not in WRITE_TIMES)
            ]
            rows = []
            for row in conn.execute(sa.select(*columns)):
                values = []
                for column, value in zip(columns, row, strict=True):
                    if column.name == "contact_id" and value is not None:
                        value = emails.get(value, f"<no contact {value}>")
                    values.append((column.name, _text(value)))
                rows.append(tuple(values))
            out[table.name] = sorted(rows)
    return out


def content_diff(expected: Content, got: Content, limit: int = 3) -> str:
    """What differs between two contents, table by table, a few rows each."""
    lines: list[str] = []
    for table in sorted(set(expected) | set(got)):
        want, have = expected.get(table, []), got.get(table, [])
        if want == have:
            continue
        missing = [r for r in want if r not in have]
        extra = [r for r in have if r not in want]
        lines.append(f"{table}: {len(want)} rows expected, {len(have)} found")
        lines += [f"  missing {dict(r)}" for r in missing[:limit]]
        lines += [f"  extra   {dict(r)}" for r in extra[:limit]]
        if not missing and not extra:
            lines.append("  the same rows, some of them a different number of times")
    return "\n".join(lines) or "no difference"


def quarantined(engine: sa.Engine) -> list[tuple[str, str]]:
    """The quarantine's rows as ``(stream, reason)``."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine.c.stream, quarantine.c.reason)).all()
    return [(str(s), str(r)) for s, r in rows]


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(value)


def migrated_cursor(old: str) -> str:
    """A cursor as an earlier syncd stored it, once migration 0007 has moved it to the kit's
    one shape (a shape the migration does not know stays as it was)."""
    path = Path(next(iter(versions.__path__))) / "0007_cursor_v1.py"
    spec = importlib.util.spec_from_file_location("syncd_migration_0007", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    converted = migration.to_v1(old)
    return old if converted is None else json.dumps(converted)
