"""Fixtures of the reliability suite: the store each scenario runs on."""

from __future__ import annotations

import pytest

from tests.conftest import pg_skip_reason


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    """The store a scenario runs on: SQLite, or PostgreSQL when one answers."""
    if request.param == "postgresql":
        reason = pg_skip_reason()
        if reason:
            pytest.skip(reason)
    return str(request.param)
