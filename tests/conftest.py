"""Fixtures shared by the core tests: store URLs on SQLite and PostgreSQL, and sample configs."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
# The time the sample (config/) is synced at: its data and the expected results are of that day.
SAMPLE_NOW = "2026-11-20T12:00:00Z"
PG_URL = os.environ.get("SYNCD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL at {PG_URL} ({first}); set SYNCD_TEST_PG_URL to run these tests"
    return None


_PG_REASON: list[str | None] = []


def pg_skip_reason() -> str | None:
    if not _PG_REASON:
        _PG_REASON.append(_pg_reason())
    return _PG_REASON[0]


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """The URL of a fresh schema of the test PostgreSQL database, dropped afterwards; the
    test skips with the reason when no PostgreSQL answers."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_store() -> Iterator[str]:
    """A fresh PostgreSQL schema as a store (skips when no PostgreSQL answers)."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema() as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    """A fresh, migrated store (SQLite and PostgreSQL) as an engine."""
    from syncd.store import open_store

    engine = open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SYNCD_ setting of the environment the tests run in reaches the test."""
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A copy of config/ (the sample config and data) that a test may change."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target, ignore=shutil.ignore_patterns("*.db*"))
    return target


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, store_url: str, sample_dir: Path) -> Path:
    """The folder of a copy of the sample config, synced into a fresh store at SAMPLE_NOW."""
    monkeypatch.setenv("SYNCD_NOW", SAMPLE_NOW)
    monkeypatch.setenv("SYNCD_STORE_URL", store_url)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    return sample_dir


@pytest.fixture
def ok_transport() -> tuple[httpx.MockTransport, list[str]]:
    """A transport that answers ``{"ok": 1}`` to every request, and the paths it was sent."""
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"ok": 1})

    return httpx.MockTransport(handler), paths
