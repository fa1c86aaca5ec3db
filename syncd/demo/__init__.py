"""``syncd demo``: the bundled emulators as one small shop on loopback, real cycles of the real
pipeline on them, and a summary of what syncd computed and changed in each tool."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from syncd.clock import system_clock
from syncd.config import load_config
from syncd.demo import later, shop, summary
from syncd.demo import webhook as hook
from syncd.errors import ConfigError, error_line
from syncd.output import emit_json, say
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.shell.own_parser import OneLineParser
from syncd.store.schema import contacts, segment_members
from syncd.sync import cycle
from syncd.sync.cycle import CycleReport
from syncd.sync.progress import Observer

OK, FAILED, INTERRUPTED = 0, 1, 130
MARKER = ".syncd-demo"  # marks a folder the demo made, so a rerun may empty it
PEOPLE = 200  # the first sync takes some 15 s on 2 cores at the vendors' own rate limits


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="syncd demo",
        description="Start the bundled emulators as one small shop on 127.0.0.1, sync them "
        "with the real pipeline, and show what syncd did.",
    )
    parser.add_argument(
        "--dir", default="var/demo", help="folder for the config and store (default: var/demo)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the sample people")
    parser.add_argument(
        "--people", type=int, default=PEOPLE, help=f"size of the crowd (default {PEOPLE})"
    )
    parser.add_argument("--library", help="the segment library folder (default: config/segments)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--ui",
        action="store_true",
        help="then keep the emulators and the status page up until Ctrl-C",
    )
    parser.add_argument(
        "--ui-port", type=int, default=0, help="the status page's port (default: a free one)"
    )
    return parser


def run(argv: Sequence[str]) -> int:
    """Run the demo; returns the exit code."""
    args = build_parser().parse_args(list(argv))
    if not 10 <= args.people <= 2000:
        raise ConfigError(f"--people {args.people}: give from 10 to 2000")
    library = Path(args.library) if args.library else shop.library_path()
    if library is None or not library.is_dir():
        where = args.library or "config/segments beside the syncd package"
        raise ConfigError(
            f"the segment library was not found ({where}); the demo needs it: run it from a "
            "checkout installed with pip install -e ., or give --library PATH"
        )
    show = Progress(quiet=args.quiet or args.json)
    folder = Path(args.dir)
    try:
        demo = Demo(folder, library.resolve(), args.seed, args.people, show)
        demo.ui_port = args.ui_port if args.ui else None
        return demo.run(args.json)
    except (OSError, RuntimeError, httpx.HTTPError) as exc:
        # a port that will not open, an emulator that refuses the demo's own activity
        sys.stderr.write(f"demo failed: {error_line(exc)}\n")
        return FAILED
    except KeyboardInterrupt:
        sys.stderr.write(
            f"demo interrupted: the emulators are stopped; what was synced so far is in {folder}\n"
        )
        return INTERRUPTED


class Progress(Observer):
    """Progress lines while the demo runs (none when quiet): the cycle's observer."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()
        self._stream: tuple[str, str] | None = None
        self._page = 0
        self._base: Counter[str] = Counter()
        self._last: Counter[str] = Counter()

    def __call__(self, text: str = "") -> None:
        if not self.quiet:
            say(text)
            sys.stdout.flush()

    def page_pulled(self, instance: str, stream: str, counts: Counter[str]) -> None:
        # counts add up over an instance's streams: show this stream's share, page by page
        if self._stream != (instance, stream):
            same = self._stream is not None and self._stream[0] == instance
            self._stream, self._page = (instance, stream), 0
            self._base = self._last.copy() if same else Counter()
        self._page += 1
        self._last = counts.copy()
        parts = [_counted(n, k) for k, n in (counts - self._base).items() if k != "events_linked"]
        page = f"page {self._page}: " if self._page > 1 else ""
        self(f"  pull  {instance}/{stream}: {page}{', '.join(parts) or 'nothing new'}")

    def batch_pushed(self, destination: str, counts: Counter[str]) -> None:
        parts = [f"{n} {k}" for k, n in counts.items() if n]
        self(f"  push  {destination}: {', '.join(parts)}")


class Demo:
    def __init__(self, folder: Path, library: Path, seed: int, people: int, show: Progress):
        self.folder, self.library, self.seed, self.people = folder, library, seed, people
        self.show = show
        self.data: dict[str, Any] = {"dir": str(folder), "seed": seed, "people": people}
        self.ui_port: int | None = None  # --ui: serve the status page after the cycles

    def run(self, as_json: bool) -> int:
        show = self.show
        self.check_folder()
        tools = shop.make_tools(self.seed, self.people)
        show(
            f"syncd demo: one small shop of {self.people} people (seed {self.seed}) in "
            f"{shop.listed([t.title for t in tools])}, emulated on 127.0.0.1"
        )
        self.clean_folder()
        with shop.serving(tools):
            self.data["emulators"] = {t.name: t.url for t in tools}
            for tool in tools:
                show(f"  {tool.title:<15} {tool.url}")
            path = self.folder / "syncd.yaml"
            path.write_text(shop.config_text(tools, self.library))
            show(f"  config {path} (SQLite store beside it, segment library {self.library})")
            # the demo's store and clock, whatever SYNCD_STORE_URL or SYNCD_NOW say
            rt = build_runtime(
                load_config(path, settings=Settings.model_construct()), clock=system_clock
            )
            try:
                code = self.cycles(rt, tools, as_json)
                if self.ui_port is not None:  # the emulators stay up while the page does
                    from syncd.ui.serve import serve_until_stopped

                    serve_until_stopped(
                        rt, f"127.0.0.1:{self.ui_port}", _said, where=f"--ui-port {self.ui_port}"
                    )
                return code
            finally:
                rt.close()

    def check_folder(self) -> None:
        """Refuse a folder with files the demo did not make, before anything starts."""
        folder = self.folder
        made_by_demo = (folder / MARKER).exists()
        if folder.exists() and not made_by_demo and (not folder.is_dir() or any(folder.iterdir())):
            raise ConfigError(
                f"--dir {folder}: holds files the demo did not make; choose a new or empty folder"
            )

    def clean_folder(self) -> None:
        folder = self.folder  # run() checked it before the emulators started
        if (folder / MARKER).exists():
            shutil.rmtree(folder)
            self.show(f"  starting clean: removed the previous demo in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text("made by syncd demo; the next demo run empties this folder\n")

    def cycle(
        self, rt: Runtime, tools: list[shop.Tool], title: str
    ) -> tuple[CycleReport, list[summary.Change]]:
        self.show()
        self.show(title)
        started = time.monotonic()
        report = cycle.sync(rt, observer=self.show)
        changes = summary.changes_of(rt.engine, report.run_id)
        seconds = time.monotonic() - started
        done = sum(1 for c in changes if c.status == "done")
        self.show(f"  cycle done in {seconds:.1f} s: {done} changes made")
        self.data.setdefault("cycles", []).append(
            {
                "title": title,
                "run_id": report.run_id,
                "seconds": round(seconds, 2),
                "pulled": {name: dict(c) for name, c in report.pulled.items()},
                "counts": summary.counts_by_tool(tools, changes),
                "changes": [c.as_dict() for c in changes],
            }
        )
        return report, changes

    def cycles(self, rt: Runtime, tools: list[shop.Tool], as_json: bool) -> int:
        show = self.show
        _, first_changes = self.cycle(
            rt, tools, "1. The first sync: pull every tool, compute the segments, push the changes"
        )
        _, quiet_changes = self.cycle(
            rt, tools, "2. Another cycle with nothing new: nothing to change"
        )
        show()
        show("3. Later: new activity in the tools, recorded through their own APIs")
        activity = later.new_activity(tools, lambda segment: _members(rt, segment))
        for done in activity:
            act = done.activity
            show(f"  {done.tool.title}: {act.sentence()} ({act.call})")
        last, later_changes = self.cycle(rt, tools, "   and the next cycle:")
        reconciled: list[summary.Change] = []
        if hook.senders(tools):
            show()
            show("4. A webhook: a change in a tool reaches syncd at once, with no pull")
            self.data["webhook"] = hook.webhook_step(
                rt, tools, lambda segment: _members(rt, segment), show
            )
            # a micro-cycle plans the contacts a webhook names; what moves for others (a
            # segment measured against everyone, such as RFM) waits for the scheduled cycle
            last, reconciled = self.cycle(
                rt, tools, "   and the next scheduled cycle reconciles the rest:"
            )
        self.data["activity"] = [
            {
                "tool": done.tool.name,
                "emails": list(done.activity.emails),
                "what": done.activity.what,
                "call": done.activity.call,
            }
            for done in activity
        ]
        holdings = shop.holdings(tools)
        sizes = {s.name: s.size for s in last.segments}
        rows = summary.segment_rows(rt, tools, sizes)
        config = _shown(self.folder / "syncd.yaml")
        someone = min(_members(rt, "loyal_customers"), default="EMAIL")
        syncd = _syncd_command()
        commands = [  # the emulators stop with the demo: plan on what it stored (--no-pull)
            f"{syncd} --config {config} status",
            f"{syncd} --config {config} segments list",
            f"{syncd} --config {config} segments show loyal_customers",
            f"{syncd} --config {config} segments explain loyal_customers --contact {someone}",
            f"{syncd} --config {config} plan --no-pull",
        ]
        self.data.update(
            config=str(self.folder / "syncd.yaml"),
            segments=rows,
            holdings=[
                {"tool": h.tool, "kind": h.kind, "name": h.name, "count": len(h.emails)}
                for h in holdings
            ],
            next=commands,
            seconds=round(time.monotonic() - show.started, 1),
        )
        made = first_changes + quiet_changes + later_changes + reconciled
        failed = [c for c in made if c.status != "done"]
        if as_json:
            emit_json(self.data)
        else:
            self.print_summary(tools, rows, first_changes, quiet_changes, later_changes, holdings)
            if failed:
                say(f"{len(failed)} changes were not done; syncd status says why")
        return FAILED if failed else OK

    def print_summary(
        self,
        tools: list[shop.Tool],
        rows: list[dict[str, Any]],
        first: list[summary.Change],
        quiet: list[summary.Change],
        later: list[summary.Change],
        holdings: list[shop.Holding],
    ) -> None:
        say()
        say("=" * 78)
        summary.print_segments(rows)
        say()
        summary.print_changes("Changes made by the first sync:", tools, first)
        say()
        say(f"The cycle with nothing new changed {len(quiet)} things.")
        summary.print_changes(
            "After the new activity, the next cycle changed only this:", tools, later, every=True
        )
        say()
        summary.print_holdings(tools, holdings)
        say()
        folder = _shown(self.folder)
        say(f"Done in {self.data['seconds']} s. The emulators stop with the demo; {folder} keeps")
        say(
            "the store and config. Look further (a sync there needs the emulators: rerun the demo):"
        )
        for command in self.data["next"]:
            say(f"  {command}")


def _said(text: str) -> None:
    say(text)
    sys.stdout.flush()  # the page's address, seen at once even through a pipe


def _counted(n: int, word: str) -> str:
    return f"{n} {word[:-1] if n == 1 and word.endswith('s') else word}"


def _members(rt: Runtime, segment: str | None) -> set[str]:
    """The e-mails of ``segment``'s members in the store (None: of every contact)."""
    query = sa.select(contacts.c.email)
    if segment is not None:
        query = query.join(segment_members, segment_members.c.contact_id == contacts.c.id).where(
            segment_members.c.segment == segment
        )
    with rt.engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def _syncd_command() -> str:
    """``syncd`` when that name runs this installation, else the script's whole path (a
    virtualenv that is not active): the hints work as printed."""
    beside = Path(sys.executable).with_name("syncd")
    found = shutil.which("syncd")
    if not beside.exists() or (found and Path(found).resolve() == beside.resolve()):
        return "syncd"
    return str(beside)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return (
            os.path.relpath(path.resolve(), Path.cwd())
            if path.resolve().is_relative_to(Path.cwd())
            else str(path.resolve())
        )
    except ValueError:
        return str(path)
