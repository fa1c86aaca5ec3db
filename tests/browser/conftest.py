"""The browser tests skip, saying why, where the system has no Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import chromium, missing, serving
from tests.ui_store import build_demo_store

WHY = missing()


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if WHY is not None:
        pytest.skip(WHY)
    return build_demo_store(tmp_path_factory.mktemp("browser") / "demo")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests, closed when they end: playwright's sync API keeps
    an event loop marked running on the main thread while it is open, and a later test's
    ``asyncio.run`` would refuse to start under it."""
    if WHY is not None:
        pytest.skip(WHY)
    with chromium() as found:
        yield found


@pytest.fixture(scope="session")
def base_url(demo_config: Path) -> Iterator[str]:
    with serving(demo_config) as base:
        yield base
