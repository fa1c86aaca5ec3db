"""The status page in a real headless Chromium: every view renders from a real demo store,
every same-origin link answers 200, no console error (a CSP violation is one), the pages
work with JavaScript off, the token is enforced off loopback, and axe finds no serious or
critical accessibility violation (and does find one on a page made to have one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests.browser.chromium import serving

VIEWS = {
    "/": "Overview",
    "/segments": "Segments",
    "/segments/loyal_customers": "Segment loyal_customers",
    "/runs": "Runs",
}


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_every_view_renders_with_its_data(page: Any, base_url: str) -> None:
    for path, title in VIEWS.items():
        answer = page.goto(base_url + path)
        assert answer.status == 200, path
        assert page.locator("h1").inner_text() == title
        assert page.locator("table").count() >= 1, path
    page.goto(base_url + "/segments")
    assert page.locator("svg.spark").count() >= 5
    assert page.locator("tbody tr").count() >= 5
    page.goto(base_url + "/segments/loyal_customers")
    assert page.locator("svg.chart polyline").count() == 1
    assert "SELECT" in page.locator("pre").nth(1).inner_text()
    page.goto(base_url + "/runs")
    assert page.locator("svg.chart rect").count() >= 3


def test_every_same_origin_link_answers_200(page: Any, base_url: str) -> None:
    seen: set[str] = set()
    queue = ["/"]
    failures = []
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        answer = page.goto(base_url + path)
        if answer.status != 200:
            failures.append((path, answer.status))
            continue
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            split = urlsplit(urljoin(base_url + path, href))
            if f"{split.scheme}://{split.netloc}" == base_url:
                queue.append(split.path + (f"?{split.query}" if split.query else ""))
    assert not failures
    assert len(seen) > 20  # the views, every segment, and the explain links of the samples


def test_no_console_error_on_any_view(page: Any, base_url: str) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path in [*VIEWS, "/segments/loyal_customers?contact=nobody@example.com"]:
        page.goto(base_url + path)
        page.wait_for_load_state("load")
    assert errors == []


def test_the_pages_work_with_javascript_off(browser: Any, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        for path, title in VIEWS.items():
            page.goto(base_url + path)
            assert page.locator("h1").inner_text() == title
        page.goto(base_url + "/segments/loyal_customers")
        email = page.locator("tbody td").filter(has_text="@").first.inner_text()
        page.fill("#contact", email)
        page.click("button[type=submit]")  # a plain GET form: no script needed
        page.wait_for_load_state("load")
        assert "contact=" in page.url
        assert f"{email} is in segment loyal_customers" in page.locator("main").inner_text()
    finally:
        context.close()


def test_the_token_is_enforced_off_loopback(browser: Any, demo_config: Path) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        with serving(demo_config, "0.0.0.0:0", token="browser-t0ken") as base:
            assert page.goto(base + "/segments").status == 401
            assert page.goto(base + "/healthz").status == 200
            answer = page.goto(base + "/segments?token=browser-t0ken")
            assert answer.status == 200 and page.url == base + "/segments"
            cookie = next(c for c in context.cookies() if c["name"] == "syncd_ui")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert page.goto(base + "/runs").status == 200  # the cookie carries it
            context.clear_cookies()
            assert page.goto(base + "/runs").status == 401
    finally:
        context.close()


def serious(browser: Any, url: str | None = None, html: str | None = None) -> list[str]:
    """The serious and critical axe violations of a page (axe-core bundled in the package,
    injected through the DevTools protocol, so the page's CSP is bypassed for it only)."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        if url is not None:
            page.goto(url)
        else:
            page.set_content(html or "")
        results = Axe().run(page)
    finally:
        context.close()
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_no_serious_accessibility_violation(browser: Any, base_url: str) -> None:
    paths = [*VIEWS, "/segments/loyal_customers?contact=nobody@example.com"]
    found = {path: serious(browser, base_url + path) for path in paths}
    assert found == {path: [] for path in paths}


def test_the_accessibility_check_finds_a_known_violation(browser: Any) -> None:
    bad = (
        '<!doctype html><html lang="en"><head><title>bad</title></head><body><main>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text">'
        "</main></body></html>"
    )
    found = serious(browser, html=bad)
    assert any(v.startswith("image-alt") for v in found), found
    assert any(v.startswith("label") for v in found), found
