"""Opening the store: engine, SQLite pragmas, migrations applied on start."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from syncd.errors import StoreError, first_line

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this syncd knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite begins a transaction only before DML, so a page that starts with a SAVEPOINT
    # (one per record) ran outside any transaction and each RELEASE committed on its own:
    # records were stored without their cursor. syncd issues BEGIN itself (_on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_CHANGES_AT_BEGIN = "syncd_changes_at_begin"


def _on_sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN")
    conn.info[_CHANGES_AT_BEGIN] = _total_changes(conn)


def _total_changes(conn: sa.Connection) -> int:
    driver: Any = conn.connection.driver_connection
    return int(driver.total_changes)


def writes_since_begin(conn: sa.Connection) -> int | None:
    """How many rows ``conn`` (on SQLite) inserted, changed or deleted in its transaction
    so far, temporary tables included; None if that is not known."""
    at_begin = conn.info.get(_CHANGES_AT_BEGIN)
    if at_begin is None or not conn.in_transaction():
        return None
    return _total_changes(conn) - int(at_begin)


def memory_temp_store(conn: sa.Connection) -> None:
    """Temporary tables in memory on SQLite; left as is when SQLite refuses the change (a
    temporary table already open on the connection): that only costs speed."""
    if conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == 2:
        return
    with contextlib.suppress(OperationalError):
        conn.exec_driver_sql("PRAGMA temp_store = MEMORY")


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite files get WAL and their folder is created."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store url {url!r} is not a database URL") from exc
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except Exception as exc:  # a missing driver, an unknown dialect
        raise StoreError(f"store url {parsed.render_as_string()}: {exc}") from exc


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the head revision; refuse a schema newer than this code."""
    script = ScriptDirectory.from_config(_alembic_config())
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(f"store {describe(engine)} cannot be reached: {first_line(exc)}") from exc
    if current is not None and not _known(script, current):
        raise StoreError(
            f"store {describe(engine)} has schema revision {current}, newer than this syncd "
            f"knows (head {script.get_current_head()}): upgrade syncd before running it"
        )
    config = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # replicas starting together on a new store: one migrates, the others then see it
            conn.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(hashtext('syncd:migrate:' || current_schema()))"
                )
            )
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def describe(engine: sa.Engine) -> str:
    """The engine's URL without its password."""
    return engine.url.render_as_string(hide_password=True)
