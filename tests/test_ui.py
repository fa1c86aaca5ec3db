"""The status page: every view on a real demo store, read-only, its security headers, the
token off loopback, masked e-mails and no secret shown; the server it runs on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from syncd.daemon.health import HealthServer, build_app
from syncd.errors import ConfigError
from syncd.runtime import Runtime
from syncd.secrets import register_secret
from syncd.store.schema import quarantine
from syncd.ui.app import pages_app
from syncd.ui.guard import COOKIE
from tests.ui_store import build_demo_store, failed_change, runtime

VIEWS = ["/", "/segments", "/segments/loyal_customers", "/runs"]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_store(tmp_path_factory.mktemp("ui") / "demo")


@pytest.fixture
def rt(config: Path) -> Iterator[Runtime]:
    rt = runtime(config)
    yield rt
    rt.close()


def client(rt: Runtime, token: str | None = None) -> TestClient:
    app = build_app(lambda: (True, "ok"), pages=pages_app(lambda: rt), token=token)
    return TestClient(app, follow_redirects=False)


def cells(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_every_view_renders_from_the_store(rt: Runtime) -> None:
    c = client(rt)
    pages = {path: c.get(path) for path in VIEWS}
    assert {p: r.status_code for p, r in pages.items()} == dict.fromkeys(VIEWS, 200)
    overview = cells(pages["/"].text)
    assert "sync, every 1h" in overview and "pulled" in overview  # the schedule, its last run
    assert "would remove 2 of 3" in overview and "syncd push --confirm" in overview
    assert "invalid e-mail 'not-an-address'" in overview  # quarantine with its reason
    assert "422: the field LEAD_SCORE takes a date" in overview  # a failure, with why
    segments = pages["/segments"].text
    assert 'href="/segments/loyal_customers"' in segments
    assert segments.count('<svg class="spark"') >= 5
    one = pages["/segments/loyal_customers"].text
    assert "SELECT" in one and "<polyline" in one and "Definition" in one
    assert "@example" in one  # a sample of members
    runs = pages["/runs"].text
    assert runs.count("<rect") >= 3 and "pulled" in runs


def test_change_since_yesterday_and_last_week_come_from_the_history(rt: Runtime) -> None:
    # ui_store wrote each day d before now a size of (size - d // 7): a week ago is one less
    html = client(rt).get("/segments").text
    row = re.search(r'href="/segments/loyal_customers".*?</tr>', html)
    assert row is not None
    numbers = re.findall(r'class="num">([^<]*)<', row.group(0))
    assert numbers[1:3] == ["+0", "+1"]


def test_explain_answers_for_one_contact_by_a_get_parameter(rt: Runtime) -> None:
    c = client(rt)
    page = c.get("/segments/loyal_customers").text
    link = re.search(r'href="(/segments/loyal_customers\?contact=[^"]+)"', page)
    assert link is not None
    answer = cells(c.get(link.group(1).replace("&amp;", "&")).text)
    assert "is in segment loyal_customers" in answer and "[yes]" in answer
    unknown = cells(c.get("/segments/loyal_customers?contact=nobody@example.com").text)
    assert "no contact with e-mail nobody@example.com" in unknown


def test_e_mails_can_be_masked(rt: Runtime) -> None:
    plain = client(rt).get("/segments/loyal_customers").text
    email = re.search(r"<td>([\w.+-]+@[\w.-]+)</td>", plain)
    assert email is not None
    rt.config.ui.mask_emails = True
    c = client(rt)
    masked = c.get("/segments/loyal_customers").text
    assert email.group(1) not in cells(masked).split()
    assert f"<td>{email.group(1)[0]}***@" in masked
    # nor in the page's source: the explain links name the contact by its id
    assert quote(email.group(1)) not in masked and email.group(1) not in masked
    link = re.search(r'href="(/segments/loyal_customers\?id=\d+)"', masked)
    assert link is not None
    explained = c.get(link.group(1)).text
    assert f"{email.group(1)[0]}***@" in cells(explained) and "is in segment" in explained
    assert email.group(1) not in explained
    nobody = c.get("/segments/loyal_customers?id=99999999").text
    assert "no contact #99999999 in the store" in cells(nobody)


def test_masked_e_mails_include_those_quoted_in_reasons(rt: Runtime) -> None:
    with rt.engine.begin() as conn:
        row = conn.execute(
            quarantine.insert().values(
                connector="shop",
                stream="customers",
                reason="duplicate of jane.doe@example.com",
                record="{}",
                created_at=rt.clock(),
            )
        ).inserted_primary_key
    try:
        assert "jane.doe@example.com" in client(rt).get("/").text
        rt.config.ui.mask_emails = True
        overview = client(rt).get("/").text
        assert "jane.doe@example.com" not in overview
        assert "duplicate of j***@example.com" in overview
    finally:
        with rt.engine.begin() as conn:
            conn.execute(quarantine.delete().where(quarantine.c.id == row[0]))


def test_a_secret_is_never_shown(rt: Runtime) -> None:
    segment = next(iter(rt.rules))
    register_secret(segment)  # a value the page would show, registered as a secret
    html = client(rt).get("/segments").text
    assert segment not in cells(html)


def test_an_unknown_segment_is_404_and_anything_but_get_is_405(rt: Runtime) -> None:
    c = client(rt)
    assert c.get("/segments/no-such-segment").status_code == 404
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = c.request(method, "/segments")
        assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
    assert c.post("/healthz").status_code == 405
    head = c.head("/segments")
    assert head.status_code == 200 and head.content == b""


def test_security_headers_on_every_answer(rt: Runtime) -> None:
    c = client(rt)
    for path in [*VIEWS, "/healthz", "/nothing"]:
        headers = c.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"


def test_the_token_guards_the_pages_but_not_the_probes(rt: Runtime) -> None:
    c = client(rt, token="s3cret-token")
    assert c.get("/segments").status_code == 401
    assert c.get("/segments", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/segments", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
    first = c.get("/segments?token=s3cret-token")
    assert first.status_code == 303 and first.headers["location"] == "/segments"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert c.get("/segments").status_code == 200  # the cookie the redirect set
    c.cookies.clear()
    c.cookies.set(COOKIE, "other")
    assert c.get("/segments").status_code == 401
    assert c.get("/segments?token=wrong").status_code == 401


def test_off_loopback_the_page_needs_a_token_or_refuses_to_start(rt: Runtime) -> None:
    pages = pages_app(lambda: rt)
    with pytest.raises(ConfigError, match=r"daemon.ui_token: .*off loopback, without a token"):
        HealthServer("0.0.0.0:0", lambda: (True, "ok"), pages=pages).start()
    with HealthServer("0.0.0.0:0", lambda: (True, "ok")) as probes_only:  # no page: as before
        assert _status(probes_only.port, "/healthz") == 200
    with HealthServer("0.0.0.0:0", lambda: (True, "ok"), pages=pages, token="t0ken") as server:
        assert _status(server.port, "/segments") == 401
        assert _status(server.port, "/segments", bearer="t0ken") == 200
        assert _status(server.port, "/healthz") == 200


def test_without_pages_the_port_answers_as_before() -> None:
    with HealthServer("127.0.0.1:0", lambda: (True, "ok")) as server:
        assert _status(server.port, "/") == 404
        assert _status(server.port, "/healthz") == 200


def _status(port: int, path: str, bearer: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_syncd_ui_serves_the_store_until_ctrl_c(config: Path) -> None:
    _serve_until_ctrl_c(["--config", str(config), "ui", "--port", "0"], timeout=120)


def test_ctrl_c_stops_the_page_of_a_process_started_with_sigint_ignored(config: Path) -> None:
    """A shell's background job (``syncd ui &`` without job control) starts with SIGINT
    ignored, which Python keeps: the page handles SIGINT itself, so it still stops."""
    _serve_until_ctrl_c(["--config", str(config), "ui", "--port", "0"], timeout=120, ignored=True)


def test_the_daemon_serves_the_page_beside_its_probes(config: Path) -> None:
    from syncd.daemon.service import Daemon

    rt = runtime(config)
    daemon = Daemon(rt, config, health_address="127.0.0.1:0")
    daemon.start()
    try:
        assert daemon.server is not None
        port = daemon.server.port
        assert _status(port, "/") == 200 and _status(port, "/segments/loyal_customers") == 200
        assert _status(port, "/healthz") == 200
    finally:
        daemon.stop.set()
        daemon.shutdown()
        rt.close()
    rt = runtime(config)
    rt.config.ui.enabled = False
    daemon = Daemon(rt, config, health_address="127.0.0.1:0")
    daemon.start()
    try:
        assert daemon.server is not None
        assert _status(daemon.server.port, "/") == 404  # the page off: the probes only
    finally:
        daemon.stop.set()
        daemon.shutdown()
        rt.close()


def test_syncd_demo_ui_keeps_the_page_up_until_ctrl_c(tmp_path: Path) -> None:
    args = ["demo", "--dir", str(tmp_path / "d"), "--people", "30", "--ui"]
    up, while_up = _serve_until_ctrl_c(args, 120)
    emulators = re.findall(r"^  \w+ +(http://127\.0\.0\.1:\d+)$", up, re.M)
    assert len(emulators) == 4, up  # the emulators stay up while the page does
    assert while_up == {url: 200 for url in emulators}
    for url in emulators:  # and stop with it
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "/_emulator/state", timeout=5)


def test_every_view_renders_on_sqlite_and_postgresql(config: Path, store_url: str) -> None:
    """The demo's config over a fresh store of each kind, filled by hand: the history's daily
    points (DISTINCT ON on PostgreSQL), explain and the overview's queries run on both."""
    from datetime import timedelta

    from syncd.clock import system_clock
    from syncd.config import load_config
    from syncd.runtime import build_runtime
    from syncd.settings import Settings
    from syncd.store.schema import contacts, quarantine, runs, segment_members, segments
    from syncd.sync import history
    from syncd.sync.compute import SegmentResult

    settings = Settings.model_construct(store_url=store_url)
    rt = build_runtime(load_config(config, settings=settings), clock=system_clock)
    now = rt.clock()
    try:
        with rt.engine.begin() as conn:
            conn.execute(
                contacts.insert(),
                [
                    {"id": i, "email": f"p{i}@example.com", "created_at": now, "updated_at": now}
                    for i in (1, 2)
                ],
            )
            conn.execute(
                segment_members.insert(),
                [{"segment": "loyal_customers", "contact_id": 1, "since": now}],
            )
            conn.execute(segments.insert().values(name="loyal_customers", size=1, computed_at=now))
            for days, size in ((8, 3), (1, 2), (0, 1)):
                at = now - timedelta(days=days)
                history.record(conn, at, [SegmentResult("loyal_customers", size, 0, 0)])
            conn.execute(
                runs.insert().values(
                    id="r1",
                    job="sync",
                    started_at=now - timedelta(minutes=1),
                    finished_at=now,
                    outcome="ok",
                    counts={"pulled": 7},
                )
            )
            failed_change(conn, now, "activecampaign", 2, "add_tag", "LOYAL", "the vendor said no")
            conn.execute(
                quarantine.insert().values(
                    connector="shop", stream="orders", reason="no e-mail", created_at=now
                )
            )
        c = TestClient(build_app(lambda: (True, "ok"), pages=pages_app(lambda: rt)))
        pages = {path: c.get(path) for path in VIEWS}
        assert {p: r.status_code for p, r in pages.items()} == dict.fromkeys(VIEWS, 200)
        assert "the vendor said no" in pages["/"].text and "no e-mail" in pages["/"].text
        row = re.search(r'href="/segments/loyal_customers".*?</tr>', pages["/segments"].text)
        assert row is not None
        assert re.findall(r'class="num">([^<]*)<', row.group(0))[:3] == ["1", "-1", "-2"]
        assert "pulled 7" in pages["/runs"].text
        explained = cells(c.get("/segments/loyal_customers?contact=p1@example.com").text)
        assert "p1@example.com is not in segment loyal_customers" in explained
    finally:
        rt.close()


def _serve_until_ctrl_c(
    args: list[str], timeout: float, ignored: bool = False
) -> tuple[str, dict[str, int]]:
    """``syncd *args`` prints the page's address and serves it; Ctrl-C stops it cleanly (also
    when it was started with SIGINT ignored: ``ignored``).
    Returns what it printed before the address, and the status of each address printed
    there (``GET /_emulator/state``) while the page was up."""
    syncd = Path(sys.executable).with_name("syncd")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None
    proc = subprocess.Popen(
        [str(syncd), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=ignore,
    )
    try:
        assert proc.stdout is not None
        found = None
        printed = []
        for line in proc.stdout:
            found = re.search(r"status page: http://127\.0\.0\.1:(\d+)/", line)
            if found:
                break
            printed.append(line)
        assert found, "no address printed"
        assert _status(int(found.group(1)), "/segments") == 200
        up = "".join(printed)
        others = {
            f"http://127.0.0.1:{port}": _status(int(port), "/_emulator/state")
            for port in re.findall(r"^ +\w+ +http://127\.0\.0\.1:(\d+)$", up, re.M)
        }
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "status page stopped" in out and "Traceback" not in err
    return up, others
