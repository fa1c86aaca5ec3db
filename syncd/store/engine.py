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
from syncd.store.lock import hold_store

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


# how long a SQLite connection waits for another process's write before "database is locked"
BUSY_TIMEOUT = 30.0
WAL_PAGES = 10_000  # SQLite's default is 1,000


def _on_sqlite_connect(dbapi_connection: Any, busy_milliseconds: int) -> None:
    # pysqlite begins a transaction only before DML, so a page that starts with a SAVEPOINT
    # (one per record) ran outside any transaction and each RELEASE committed on its own:
    # records were stored without their cursor. syncd issues BEGIN itself (_on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_milliseconds}")
    # A page is written under a savepoint: SQLite keeps the original of every page the rows
    # change in a sub-journal, a temporary file once past 64 KiB (6.4 GB of writes to it for
    # 150,000 records in pages of 100); in memory it is a few MB a page, freed at its commit.
    cursor.execute("PRAGMA temp_store=MEMORY")
    # WAL_PAGES pages (4 KiB each) of WAL before a checkpoint copies them into the file:
    # a page rewritten by many commits meanwhile is copied, and the file synced, once
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    cursor.close()


_CHANGES_AT_BEGIN = "syncd_changes_at_begin"


# an execution option: the transaction will write, so SQLite takes the write lock at BEGIN
# (waiting up to the busy timeout); a deferred one that reads first and then writes fails at
# once with "database is locked" when another process wrote meanwhile
WRITES = "syncd_writes"


def _on_sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITES) else "BEGIN")
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


def busy_timeout(engine: sa.Engine) -> float:
    """Seconds a connection of ``engine`` waits for another writer (SQLite; else the default)."""
    if engine.dialect.name != "sqlite":
        return BUSY_TIMEOUT
    with engine.connect() as conn:
        return float(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()) / 1000


def memory_temp_store(conn: sa.Connection) -> None:
    """Temporary tables in memory on SQLite; left as is when SQLite refuses the change (a
    temporary table already open on the connection): that only costs speed."""
    if conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == 2:
        return
    with contextlib.suppress(OperationalError):
        conn.exec_driver_sql("PRAGMA temp_store = MEMORY")


def store_url(url: str) -> sa.URL:
    """``url`` parsed, with PostgreSQL's default driver made the one syncd installs
    (psycopg 3); ArgumentError or ValueError when it is not a database URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> sa.Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout of ``busy_timeout``
    seconds, and their folder is created."""
    try:
        parsed = store_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError("the store url is not a database URL") from exc
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = Path(database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's folder {folder}: {exc.strerror or exc}"
                ) from None
        engine = sa.create_engine(parsed)
        milliseconds = int(busy_timeout * 1000)
        sa.event.listen(
            engine, "connect", lambda dbapi, record: _on_sqlite_connect(dbapi, milliseconds)
        )
        sa.event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except Exception as exc:  # a missing driver, an unknown dialect
        raise StoreError(f"store url {parsed.render_as_string()}: {exc}") from exc


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: sa.Engine, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
    """Bring the schema to the head revision; refuse a schema newer than this code. On
    SQLite, a process that migrates holds the store (see syncd.store.lock) meanwhile."""
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
    if current == script.get_current_head():
        return
    with contextlib.ExitStack() as held:
        lock = hold_store(engine.url, command="migrate", wait=busy_timeout)
        if lock is not None:
            held.callback(lock.release)
        _upgrade(engine)


def _upgrade(engine: sa.Engine) -> None:
    config = _alembic_config()
    with engine.connect().execution_options(**{WRITES: True}) as conn, conn.begin():
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
