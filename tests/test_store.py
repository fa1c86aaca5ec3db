"""The store on SQLite and PostgreSQL: migrations on open, a too-new schema, WAL, cursors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.connectors.contract import Connector, ConnectorContext, ContactRecord, Page, Stream
from syncd.errors import StoreError
from syncd.store import head_revision, metadata, migrate, open_store
from syncd.store.engine import WAL_PAGES, current_revision
from syncd.store.schema import contacts, cursors, segment_members
from syncd.sync import pull as pull_module
from syncd.sync.pull import pull_instance

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UNKNOWN_REVISION = "9999_from_the_future"


pytestmark = pytest.mark.usefixtures("clean_env")


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_open_applies_every_migration(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    assert table_names(engine) == set()
    engine.dispose()
    store = open_store(store_url)
    try:
        assert current_revision(store) == head_revision()
        assert set(metadata.tables) <= table_names(store)
        assert "alembic_version" in table_names(store)
    finally:
        store.dispose()


def opened_and_written(store_url: str, statement: sa.Executable, **params: Any) -> None:
    """Open the store at ``store_url`` (migrating it), run ``statement`` in it, close it."""
    store = open_store(store_url)
    with store.begin() as conn:
        conn.execute(statement, params)
    store.dispose()


def test_opening_again_is_a_no_op_that_keeps_the_data(store_url: str) -> None:
    ada = contacts.insert().values(email="ada@example.com", created_at=NOW, updated_at=NOW)
    opened_and_written(store_url, ada)
    again = open_store(store_url)
    try:
        assert current_revision(again) == head_revision()
        with again.connect() as conn:
            assert conn.execute(sa.select(contacts.c.email)).scalars().all() == ["ada@example.com"]
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert [v[0] for v in versions] == [head_revision()]
    finally:
        again.dispose()


def stamp_unknown_revision(store_url: str) -> None:
    stamp = sa.text("UPDATE alembic_version SET version_num = :v")
    opened_and_written(store_url, stamp, v=UNKNOWN_REVISION)


def test_a_schema_newer_than_the_code_stops_with_one_clear_line(store_url: str) -> None:
    stamp_unknown_revision(store_url)
    with pytest.raises(StoreError) as raised:
        open_store(store_url)
    message = str(raised.value)
    assert "\n" not in message
    assert f"schema revision {UNKNOWN_REVISION}, newer than this syncd knows" in message
    assert f"(head {head_revision()})" in message
    # nothing was migrated over it
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert current_revision(engine) == UNKNOWN_REVISION
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    engine.dispose()


def test_the_cli_exits_1_with_one_line_on_a_schema_too_new(
    store_url: str,
    sample_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stamp_unknown_revision(store_url)
    monkeypatch.setenv("SYNCD_STORE_URL", store_url)
    assert main(["--config", str(sample_dir / "syncd.yaml"), "status"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: store ")
    assert f"has schema revision {UNKNOWN_REVISION}, newer than this syncd knows" in lines[0]
    assert lines[0].endswith("upgrade syncd before running it")
    assert "Traceback" not in captured.out


def test_an_unreachable_store_is_one_line_and_exit_1(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # port 1 on loopback: nothing listens there, the connection is refused at once
    monkeypatch.setenv(
        "SYNCD_STORE_URL", "postgresql://syncd:hunter2pass@127.0.0.1:1/nowhere?connect_timeout=2"
    )
    assert main(["--config", str(sample_dir / "syncd.yaml"), "status"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: store postgresql+psycopg://syncd:***@127.0.0.1:1/nowhere")
    assert "cannot be reached" in lines[0]
    assert "hunter2pass" not in lines[0]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar_one() == 2  # memory
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == WAL_PAGES
    finally:
        store.dispose()
    # WAL is a property of the file: a plain connection sees it too
    plain = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with plain.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    plain.dispose()


def test_sqlite_store_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    assert path.is_file()


# --- a cursor advances only with the page it covers -------------------------------------


class PagedStream(Stream):
    """Three pages of two contacts; the cursor is the number of the last page read."""

    name = "contacts"

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def read(self, cursor: str | None) -> Iterator[Page]:
        self.asked.append(cursor)
        start = int(cursor) if cursor else 0
        for page in range(start + 1, 4):
            yield Page(
                [
                    ContactRecord(external_id=f"{page}-{i}", email=f"p{page}.{i}@example.com")
                    for i in range(2)
                ],
                str(page),
            )


class PagedConnector(Connector):
    name = "paged"

    def __init__(self, stream: PagedStream) -> None:
        super().__init__(self.Options(), ConnectorContext(instance="src"))
        self.stream = stream

    def streams(self) -> list[Stream]:
        return [self.stream]


def stored(store: sa.Engine) -> tuple[list[str], str | None]:
    with store.connect() as conn:
        emails = conn.execute(sa.select(contacts.c.email).order_by(contacts.c.email)).scalars()
        cursor = conn.execute(
            sa.select(cursors.c.value).where(cursors.c.connector == "src")
        ).scalar_one_or_none()
        return list(emails), cursor


def test_the_cursor_advances_only_with_the_page_it_covers(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(store_url)
    stream = PagedStream()
    real = pull_module.resolve_fields
    calls: list[int] = []

    def fail_on_second_page(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the process dies while page 2 is being written")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pull_module, "resolve_fields", fail_on_second_page)
    try:
        with pytest.raises(RuntimeError):
            pull_instance(  # in line: a transaction a page (read ahead, pages share one)
                store,
                "src",
                PagedConnector(stream),
                precedence=[],
                run_id=None,
                clock=lambda: NOW,
                ahead=None,
            )
        # page 1 and its cursor are stored; nothing of page 2, and the cursor did not pass it
        assert stored(store) == (["p1.0@example.com", "p1.1@example.com"], "1")

        monkeypatch.setattr(pull_module, "resolve_fields", real)
        pull_instance(
            store, "src", PagedConnector(stream), precedence=[], run_id=None, clock=lambda: NOW
        )
        assert stream.asked == [None, "1"]  # the second pull resumed after page 1
        emails, cursor = stored(store)
        assert cursor == "3"
        assert emails == sorted(f"p{p}.{i}@example.com" for p in (1, 2, 3) for i in range(2))
    finally:
        store.dispose()


def test_times_are_stored_in_utc_and_read_back_aware(store_url: str) -> None:
    from datetime import timedelta, timezone

    warsaw = datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert().values(email="a@example.com", created_at=warsaw, updated_at=warsaw)
        )
    with engine.connect() as conn:
        created = conn.execute(sa.select(contacts.c.created_at)).scalar_one()
        earlier = conn.execute(  # a comparison in SQL sees the same instant
            sa.select(sa.func.count()).where(
                contacts.c.created_at < datetime(2026, 3, 1, 12, 31, tzinfo=UTC)
            )
        ).scalar_one()
    engine.dispose()
    assert created == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert created.utcoffset() == timedelta(0) and earlier == 1


def test_0006_keeps_the_derived_rows_and_drops_their_checks(store_url: str) -> None:
    """Members (with the time they joined), scores and the RFM survive the rebuild of 0006;
    the tables compute fills no longer check each row against contacts, nor index members
    by contact."""
    from alembic import command

    from syncd.store.engine import _alembic_config, create_engine

    engine = create_engine(store_url)
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        conn.execute(
            contacts.insert().values(id=7, email="ada@example.com", created_at=NOW, updated_at=NOW)
        )
        conn.execute(sa.text("INSERT INTO segment_members VALUES ('vip', 7, :t)"), {"t": NOW})
        conn.execute(sa.text("INSERT INTO contact_scores VALUES ('lead', 7, 12.5)"))
        conn.execute(sa.text("INSERT INTO contact_score_changes VALUES ('lead', 86400, 7, -1)"))
        conn.execute(
            sa.text("INSERT INTO contact_rfm VALUES (7, :t, 2, 80.0, 5, 4, 3, 'loyal')"),
            {"t": NOW},
        )
    migrate(engine)
    derived = ("segment_members", "contact_scores", "contact_score_changes", "contact_rfm")
    try:
        inspector = sa.inspect(engine)
        for table in derived:
            assert inspector.get_foreign_keys(table) == [], table
        assert inspector.get_indexes("segment_members") == []
        with engine.connect() as conn:
            since = conn.execute(sa.select(segment_members.c.since)).scalar_one()
            assert since == NOW
            assert conn.execute(sa.text("SELECT value FROM syncd_scores")).scalar_one() == 12.5
            assert conn.execute(sa.text('SELECT "class" FROM syncd_rfm')).scalar_one() == "loyal"
            change = sa.text("SELECT change FROM contact_score_changes")
            assert conn.execute(change).scalar_one() == -1
            # a member of a contact id no one has is no longer refused
            conn.execute(sa.text("INSERT INTO segment_members VALUES ('vip', 99, :t)"), {"t": NOW})
            if conn.dialect.name == "sqlite":
                sql = conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'contact_scores'"
                ).scalar_one()
                assert "WITHOUT ROWID" in sql
    finally:
        engine.dispose()
