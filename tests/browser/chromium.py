"""Headless Chromium from the system packages, driven by playwright (never a downloaded
browser: ``playwright install`` is not used), and the status page served for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """The system's Chromium, launched headless through playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(config: Path, address: str = "127.0.0.1:0", token: str | None = None) -> Iterator[str]:
    """The health endpoints and the pages of the store ``config`` names; the base URL."""
    from syncd.ui.serve import page_server
    from tests.ui_store import runtime

    rt = runtime(config)
    server = page_server(rt, address, token)
    try:
        with server:
            yield f"http://127.0.0.1:{server.port}"
    finally:
        rt.close()


def screenshots(config: Path, out: Path) -> list[Path]:
    """The overview and a segment's page as PNGs in ``out`` (docs/ keeps them)."""
    shots = [("ui-overview.png", "/"), ("ui-segment.png", "/segments/loyal_customers")]
    made = []
    with serving(config) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        for name, path in shots:
            page.goto(base + path)
            page.screenshot(path=str(out / name), full_page=True)
            made.append(out / name)
    return made


if __name__ == "__main__":  # python -m tests.browser.chromium docs: build a demo store, shoot
    import sys
    import tempfile

    from tests.ui_store import build_demo_store

    with tempfile.TemporaryDirectory() as tmp:
        for made in screenshots(build_demo_store(Path(tmp) / "demo"), Path(sys.argv[1])):
            print(made)
