"""Fresh stores for tests and for the reliability harness's child processes: no pytest here,
so a harness run from the command line makes its stores the way the fixtures do."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

PG_URL = os.environ.get("SYNCD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_PG_REASON: list[str | None] = []


def pg_reason() -> str | None:
    """Why PostgreSQL stores cannot be made here, or None when they can (asked once)."""
    if not _PG_REASON:
        _PG_REASON.append(_ask_pg())
    return _PG_REASON[0]


def _ask_pg() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL at {PG_URL} ({first}); set SYNCD_TEST_PG_URL to run these tests"
    return None


@contextlib.contextmanager
def pg_schemas(count: int = 1, prefix: str = "t") -> Iterator[list[str]]:
    """URLs of ``count`` fresh schemas of the test PostgreSQL database, dropped afterwards."""
    names = [f"{prefix}_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield [f"{PG_URL}{sep}options=-csearch_path%3D{name}" for name in names]
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def fresh_store(folder: Path, dialect: str, prefix: str = "t") -> Iterator[str]:
    """A fresh store's URL: a SQLite file in ``folder``, or a PostgreSQL schema of its own."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    with pg_schemas(1, prefix) as (url,):
        yield url


@contextlib.contextmanager
def opened(url: str) -> Iterator[sa.Engine]:
    """The store at ``url``, opened (and so migrated) for the block, disposed after it."""
    from syncd.store import open_store

    engine = open_store(url)
    try:
        yield engine
    finally:
        engine.dispose()


def identity_emails(engine: sa.Engine) -> list[tuple[str, str]]:
    """Each identity's external id and its contact's e-mail, by external id."""
    from syncd.store.schema import contacts, identities

    with engine.connect() as conn:
        pairs = conn.execute(
            sa.select(identities.c.external_id, contacts.c.email)
            .join(contacts, contacts.c.id == identities.c.contact_id)
            .order_by(identities.c.external_id)
        ).all()
    return [(external_id, email) for external_id, email in pairs]
