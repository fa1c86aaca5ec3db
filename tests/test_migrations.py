"""The migrations make the schema the code declares, and every one goes down as well as up,
on SQLite and PostgreSQL: a store stepped down revision by revision to the first one, then
up again, ends at the head with every table, view and trigger the head has."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from syncd.store import metadata
from syncd.store.engine import _alembic_config, head_revision


def _shape(conn: sa.Connection) -> dict[str, list[str]]:
    inspector = sa.inspect(conn)
    tables = sorted(inspector.get_table_names())
    shape = {
        "tables": tables,
        "views": sorted(inspector.get_view_names()),
        "columns": sorted(f"{t}.{c['name']}" for t in tables for c in inspector.get_columns(t)),
        "indexes": sorted(f"{t}.{i['name']}" for t in tables for i in inspector.get_indexes(t)),
    }
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = conn.execute(
            sa.text(
                "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
            )
        )
    shape["triggers"] = sorted(f"{name}: {sql}" for name, sql in rows)
    return shape


def _step(conn: sa.Connection, direction: str, target: str) -> None:
    config = _alembic_config()
    config.attributes["connection"] = conn
    getattr(command, direction)(config, target)


def test_every_migration_goes_down_and_up_again(store: sa.Engine) -> None:
    revisions = [
        r.revision
        for r in ScriptDirectory.from_config(_alembic_config()).walk_revisions("base", "heads")
    ]
    assert revisions[0] == head_revision()
    with store.begin() as conn:
        at_head = _shape(conn)
    for revision in revisions[1:]:
        with store.begin() as conn:
            _step(conn, "downgrade", revision)
    with store.begin() as conn:
        _step(conn, "downgrade", "base")
        assert [t for t in _shape(conn)["tables"] if t != "alembic_version"] == []
    with store.begin() as conn:
        _step(conn, "upgrade", "head")
    with store.begin() as conn:
        assert _shape(conn) == at_head


def test_the_migrated_schema_is_the_one_the_code_declares(store: sa.Engine) -> None:
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
