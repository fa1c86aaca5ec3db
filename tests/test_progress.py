"""Progress of pull, compute and push: rich bars on a terminal (the real process on a pty),
plain lines into a pipe (a line per ten pages or batches and one as each part ends), none
with --quiet; long waits for a rate limit shown as waits."""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, TextColumn

from syncd.cli import read_argv
from syncd.shell.progress import EVERY, Bars, Lines
from syncd.sync.compute import SegmentResult
from syncd.sync.progress import Observer, Waits
from tests.test_cli_process import in_pty, syncd

BAR = "━"


def environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "COLUMNS"}


def test_a_sync_on_a_terminal_draws_progress_bars(env: Path) -> None:
    code, shown = in_pty(["--config", str(env / "syncd.yaml"), "sync"], 120, environ())
    assert code == 0, shown
    for part in (
        "pull shop/contacts",
        "1 page, 11 records",
        "compute",
        "push esp",
        "15 of 15 sent",
    ):
        assert part in shown, shown
    assert re.search(r"compute .* \d+ segments", shown), shown  # as many as the library has
    assert BAR in shown
    assert "esp: 15 planned, 15 done" in shown  # the result, after the bars


def test_quiet_silences_progress_on_a_terminal(env: Path) -> None:
    code, shown = in_pty(["sync", "--quiet", "--config", str(env / "syncd.yaml")], 120, environ())
    assert code == 0, shown
    assert BAR not in shown and "pull shop/contacts" not in shown
    assert shown.strip() == "esp: 15 planned, 15 done, 0 to retry, 0 failed"


def test_into_a_pipe_progress_is_plain_lines_on_stderr(env: Path) -> None:
    done = syncd("--config", str(env / "syncd.yaml"), "sync")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[:3] + lines[4:] == [
        "pull shop/contacts: 1 page, 11 records",
        "pull shop/events: 1 page, 12 records",
        "pull crm/contacts: 1 page, 5 records",
        "push esp: 15 of 15 sent (15 done, 0 to retry, 0 failed)",
    ]
    # as many segments as the library has, most of them changed by a first sync
    assert re.fullmatch(r"compute: \d+ segments, \d+ changed", lines[3]), lines
    assert BAR not in done.stderr and "pull shop" not in done.stdout
    quiet = syncd("--config", str(env / "syncd.yaml"), "sync", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == "esp: 0 planned, 0 done, 0 to retry, 0 failed\n"


def test_plain_lines_come_every_ten_pages_or_batches_not_a_line_each() -> None:
    out = io.StringIO()
    lines = Lines(out)
    pages = 2 * EVERY + 5
    for page in range(1, pages + 1):
        lines.page_pulled("shop", "orders", Counter(events=100 * page, events_linked=3))
    lines.page_pulled("shop", "customers", Counter(events=100 * pages, contacts=7))
    lines.pulled("shop", Counter())
    lines.computed([SegmentResult("vip", 3, 1, 0), SegmentResult("lapsed", 0, 0, 0)])
    lines.pushing("esp", 100 * pages)
    for batch in range(1, pages + 1):
        lines.batch_pushed("esp", Counter(done=100 * batch - 1, retryable=1))
    lines.pushed("esp", Counter(done=100 * pages - 1, retryable=1))
    assert out.getvalue().splitlines() == [
        "pull shop/orders: 10 pages, 1000 records so far",
        "pull shop/orders: 20 pages, 2000 records so far",
        "pull shop/orders: 25 pages, 2500 records",
        "pull shop/customers: 1 page, 7 records",
        "compute: 2 segments, 1 changed",
        "push esp: 1000 of 2500 sent",
        "push esp: 2000 of 2500 sent",
        "push esp: 2500 of 2500 sent (2499 done, 1 to retry, 0 failed)",
    ]


class Told(Observer):
    def __init__(self) -> None:
        self.said: list[str] = []

    def waiting(self, instance: str, seconds: float) -> None:
        self.said.append(f"waiting {instance} {seconds}")

    def waited(self, instance: str) -> None:
        self.said.append(f"waited {instance}")


def test_a_long_wait_is_told_and_the_ordinary_pacing_is_not() -> None:
    slept: list[float] = []
    waits = Waits(sleep=slept.append)
    sleep = waits.sleeper("ac")
    sleep(3.0)  # nobody watching yet
    told = Told()
    waits.observer = told
    sleep(0.2)  # the rate limit's pacing
    sleep(3.0)  # a vendor's Retry-After
    assert slept == [3.0, 0.2, 3.0]
    assert told.said == ["waiting ac 3.0", "waited ac"]
    out = io.StringIO()
    Lines(out).waiting("ac", 3.0)
    assert out.getvalue() == "wait ac: 3.0 s for its rate limit or before a retry\n"


def test_a_bar_shows_its_instance_waiting_while_it_waits() -> None:
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        console=Console(file=io.StringIO(), force_terminal=False),
    )
    bars = Bars(progress)
    seen: list[str] = []
    waits = Waits(sleep=lambda _s: seen.append(progress.tasks[-1].description))
    waits.observer = bars
    bars.pushing("ac", 10)
    waits.sleeper("ac")(2.5)
    assert seen == ["push ac [waiting 2.5 s]"]
    assert progress.tasks[-1].description == "push ac"


def test_a_wait_before_any_bar_has_a_bar_of_its_own_while_it_lasts() -> None:
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        console=Console(file=io.StringIO(), force_terminal=False),
    )
    bars = Bars(progress)
    seen: list[list[str]] = []
    waits = Waits(sleep=lambda _s: seen.append([t.description for t in progress.tasks]))
    waits.observer = bars
    waits.sleeper("shopify")(2.0)
    assert seen == [["shopify [waiting 2.0 s]"]]
    assert progress.tasks == []


def test_quiet_is_global_and_the_demo_gets_its_own() -> None:
    assert read_argv(["sync", "--quiet"]).args == ["--quiet", "sync"]
    assert read_argv(["--quiet", "--json", "demo", "--dir", "x"]).args == [
        "demo",
        "--json",
        "--quiet",
        "--dir",
        "x",
    ]
    assert read_argv(["demo", "--quiet"]).args == ["demo", "--quiet"]
