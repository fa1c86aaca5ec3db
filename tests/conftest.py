"""Fixtures shared by the core tests: store URLs on SQLite and PostgreSQL, and sample configs."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.stores import fresh_store, opened, pg_reason, pg_schemas

REPO = Path(__file__).resolve().parents[1]
# The time the sample (config/) is synced at: its data and the expected results are of that day.
SAMPLE_NOW = "2026-11-20T12:00:00Z"


def pg_skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    return pg_reason()


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """The URL of a fresh schema of the test PostgreSQL database, dropped afterwards; the
    test skips with the reason when no PostgreSQL answers."""
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    with pg_schemas() as (url,):
        yield url


@pytest.fixture
def pg_store() -> Iterator[str]:
    """A fresh PostgreSQL schema as a store (skips when no PostgreSQL answers)."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a PostgreSQL schema of its own."""
    reason = pg_reason() if request.param == "postgresql" else None
    if reason:
        pytest.skip(reason)
    with fresh_store(tmp_path, request.param) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    """A fresh, migrated store (SQLite and PostgreSQL) as an engine."""
    with opened(store_url) as engine:
        yield engine


@pytest.fixture
def engine(store: sa.Engine) -> sa.Engine:
    """``store``, by the name the tests of store-level code call it."""
    return store


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
