"""syncd's pytest plugin (the ``syncd`` entry point of the ``pytest11`` group): the marker of
the conformance suite, and fixtures for a connector's own tests in virtual time."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

    from syncd.emulator.ratelimit import ManualClock, VirtualTime
    from syncd.emulator.webhooks import Catcher
    from syncd.testing.routing import Pipeline


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "syncd_conformance: a test of the connector contract (syncd.testing.conformance_suite)",
    )


@pytest.fixture(autouse=True)
def _syncd_secrets_kept_apart() -> Iterator[None]:
    """Secrets a test registers (a connector's options, a config's environment) are
    forgotten after it, so they cannot mask words in a later test's output; and the log
    configuration a test's command set (a level of ``warning`` for ``--quiet``) is put back
    after it, so a later test that captures info events sees them."""
    import structlog

    from syncd.secrets import kept_apart

    logging_before = structlog.get_config()
    try:
        with kept_apart():
            yield
    finally:
        structlog.configure(**logging_before)


@pytest.fixture
def syncd_clock() -> ManualClock:
    """A virtual clock (2024-06-01 12:00 UTC); it moves only when told."""
    from syncd.emulator.ratelimit import ManualClock

    return ManualClock()


@pytest.fixture
def syncd_time(syncd_clock: ManualClock) -> VirtualTime:
    """``sleep`` and ``monotonic`` on ``syncd_clock``: hand them to a ConnectorContext."""
    from syncd.emulator.ratelimit import VirtualTime

    return VirtualTime(syncd_clock)


@pytest.fixture
def syncd_store(tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh, migrated SQLite store."""
    from syncd.testing.store import temporary_store

    engine = temporary_store(tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def syncd_catcher() -> Iterator[tuple[Catcher, str]]:
    """A ``syncd.emulator.Catcher`` answering 200, served on loopback for the test: the
    catcher and its base URL, where an emulator's webhooks can be sent."""
    from syncd.emulator import Catcher, running

    catcher = Catcher()
    with running(catcher) as url:
        yield catcher, url


@pytest.fixture
def syncd_pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, syncd_time: VirtualTime
) -> Callable[..., Pipeline]:
    """``syncd_pipeline(config, emulators, env=...)``: ``syncd`` commands on ``config`` with
    every connector instance routed to ``emulators``, in ``syncd_time``
    (``syncd.testing.ready_pipeline`` in ``tmp_path``)."""
    from syncd.testing.routing import ready_pipeline

    return functools.partial(ready_pipeline, monkeypatch, tmp_path, time=syncd_time)
