"""The ``syncd`` command (typer): parses, calls, prints. Exit codes: 0 ok, 1 run failed,
2 invalid usage or config (a stale or foreign plan file too), 3 plan held by a guard, 4 a run
that went on past a failed part, 130 interrupted, 141 the reader of the output went away.

The global options ``--config``, ``--json`` and ``--quiet`` are read wherever they stand
(``syncd status --config x.yaml --json``); a user's mistake is one line on stderr and exit 2.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError
from typer._click import exceptions as usage
from typer._click.globals import get_current_context

from syncd import __version__
from syncd.clock import fixed_clock, system_clock
from syncd.config import load_config, require_secrets
from syncd.errors import (
    ConfigError,
    ConnectorError,
    GuardHeld,
    PluginError,
    StoreError,
    did_you_mean,
    first_line,
)
from syncd.logs import SAID_BY_COMMANDS, configure_logging
from syncd.output import emit_json, say, table
from syncd.runtime import Runtime, build_runtime
from syncd.secrets import redact
from syncd.settings import load_settings
from syncd.store.lock import hold_store
from syncd.sync.progress import Observer, Waits

OK, FAILED, USAGE, HELD, PARTIAL = 0, 1, 2, 3, 4
INTERRUPTED, PIPE_CLOSED = 130, 141

# the commands that write the store: on SQLite one process at a time (the others wait)
WRITERS = ("pull", "plan", "sync", "push", "accept-email")
# the commands whose options are read by their own parser, untouched
PASSTHROUGH = ("run", "demo", "emulator")
FULL = "compute every contact again, not only what changed since the last compute"
SHOWN = 20  # members `segments show` lists unless told otherwise


@dataclass
class State:
    """What the global options said, and what the command must close when it ends."""

    config: str = ""
    json: bool = False
    quiet: bool = False
    command: str = ""
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    waits: Waits = field(default_factory=Waits)  # how the connectors wait, shown as progress
    # info lines are logged as JSON on stderr: progress goes there as log events, not lines
    logged: bool = False


@dataclass
class Invocation:
    """``argv`` with the global options taken out of wherever they stood."""

    command: str | None
    config: str | None
    json: bool
    args: list[str]
    quiet: bool = False  # for the parser: the global options first, then the rest

    @property
    def argv(self) -> list[str]:
        """What follows the command's name (a pass-through command's own options)."""
        if self.command is None:
            return []
        return self.args[self.args.index(self.command) + 1 :]


def read_argv(argv: Sequence[str]) -> Invocation:
    """Take ``--config FILE`` / ``--config=FILE``, ``--json`` and ``--quiet`` out of
    ``argv`` wherever they stand (up to ``--``) and put them first. A pass-through command
    (run, demo, emulator) keeps its own ``--json`` and ``--quiet``; a ``--json`` given
    before it is handed on to it."""
    config: str | None = None
    as_json = quiet = False
    command: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        if token == "--config":
            if i + 1 >= len(argv):
                raise usage.UsageError("--config needs a FILE")
            config = argv[i + 1]
            i += 2
            continue
        if token.startswith("--config="):
            config = token.partition("=")[2]
        elif token == "--json" and command not in PASSTHROUGH:
            as_json = True
        elif token == "--quiet" and command not in PASSTHROUGH:
            quiet = True
        else:
            if command is None and not token.startswith("-"):
                command = token
                if command == "demo":  # the demo takes a --json and a --quiet of its own
                    rest.extend([token, *["--json"] * as_json, *["--quiet"] * quiet])
                    as_json = quiet = False
                    i += 1
                    continue
            rest.append(token)
        i += 1
    front = (
        (["--config", config] if config is not None else [])
        + (["--json"] if as_json else [])
        + (["--quiet"] if quiet else [])
    )
    return Invocation(command, config, as_json, front + rest, quiet)


def without_name(name: str, text: str) -> str:
    """``text`` without a leading ``name:`` already said by the line it goes into."""
    prefix = f"{name}: "
    while text.startswith(prefix):
        text = text[len(prefix) :]
    return text


# --- the app -------------------------------------------------------------------------------

app = typer.Typer(
    name="syncd",
    help="Sync daemon for marketing data: pull contacts and events, compute segments, "
    "push tags, lists and fields back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
segments_app = typer.Typer(help="segments, sizes, members", no_args_is_help=True)
new_app = typer.Typer(help="start a new plugin package", no_args_is_help=True)
webhooks_app = typer.Typer(help="the vendors' webhook subscriptions", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
app.add_typer(new_app, name="new")
app.add_typer(webhooks_app, name="webhooks")

F = TypeVar("F", bound=Callable[..., Any])


def _version(value: bool) -> None:
    if value:
        say(f"syncd {__version__}")
        raise typer.Exit(OK)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="the YAML config (default: $SYNCD_CONFIG or config/syncd.yaml); "
            "accepted before or after the command",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="print JSON for scripts; accepted anywhere"),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", help="no progress and no informational lines; accepted anywhere"),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    state = ctx.ensure_object(State)
    state.config = config or state.config
    state.json = as_json or state.json
    state.quiet = quiet or state.quiet


def guarded(func: F) -> F:
    """Run a command with its cleanup, and turn what it raises into one line and a code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        ctx = get_current_context()
        state = ctx.ensure_object(State)
        state.command = ctx.command.name or ""
        try:
            with state.cleanup:
                return int(func(*args, **kwargs) or OK)
        except ConfigError as exc:
            if getattr(exc, "said", False):  # check's mistakes, each on its line already
                return USAGE
            return _fail(str(exc), USAGE)
        except GuardHeld as exc:
            return _fail(str(exc), HELD)
        except (StoreError, PluginError, ConnectorError) as exc:
            parts = getattr(exc, "parts_failed", None)
            if parts:  # every source (or destination) failed: each says why
                for part, why in parts.items():
                    _fail(f"error: {part}: {without_name(part.split(' ', 1)[-1], why)}", FAILED)
                return FAILED
            return _fail(f"error: {exc}", FAILED)
        except OperationalError as exc:  # the database's own refusal: unreachable, locked, full
            if "database is locked" in str(exc):
                return _fail(
                    "error: the store is locked by another process for longer than "
                    "store.busy_timeout; try again when it has finished",
                    FAILED,
                )
            return _fail(f"error: the store: {first_line(exc)}", FAILED)
        except KeyboardInterrupt:
            return _fail("interrupted", INTERRUPTED)
        except BrokenPipeError:
            return _pipe_closed()

    return wrapper  # type: ignore[return-value]


def _state() -> State:
    return get_current_context().ensure_object(State)


def _runtime(with_connectors: bool = True, *, secrets: bool = True) -> Runtime:
    """The config's runtime. Without ``secrets`` (a command that opens no connector) a
    connector's ``${NAME}`` not set in the environment is no error."""
    state = _state()
    settings = load_settings()
    clock = fixed_clock(settings.now) if settings.now else system_clock
    config = load_config(state.config, settings=settings, lazy_secrets=not secrets)
    # every config mistake is said before the store
    rt = build_runtime(config, clock=clock, sleep=state.waits.sleeper)
    state.cleanup.callback(rt.close)
    if state.command in WRITERS:
        wait = config.store.busy_timeout.total_seconds()
        lock = hold_store(config.store.url, command=state.command, wait=wait)
        if lock is not None:
            state.cleanup.callback(lock.release)
    return rt


# --- commands --------------------------------------------------------------------------------


@app.command()
@guarded
def check(
    connect: Annotated[bool, typer.Option("--connect", help="also test each connection")] = False,
) -> int:
    """validate the config: every mistake, each with file:line"""

    from syncd.shell.check_view import checked_runtime

    rt = checked_runtime(lambda: _runtime(secrets=False))
    config = rt.config
    if connect:
        require_secrets(config)
    say(
        f"{config.source.file}: valid — {len(config.connectors)} connector instances, "
        f"{len(rt.rules)} segments, {len(config.destinations)} destinations, "
        f"{len(config.schedules)} schedules"
    )
    for error in config.source.unset_errors():
        say(f"  not set here (needed when the connector opens): {error}")
    for failure in rt.plugins.failures:
        say(
            f"  the plugin {failure.name!r} failed to import (no connector here uses it): "
            f"{failure.error}"
        )
    if not connect:
        return OK
    failed = 0
    for name, connector in rt.connectors.items():
        try:
            connector.check_connection()
            say(f"  {name}: connected")
        except ConnectorError as exc:
            failed += 1
            say(f"  {name}: {without_name(name, str(exc))}")
    return FAILED if failed else OK


@app.command()
@guarded
def plugins() -> int:
    """connectors found, and where they came from"""
    from syncd.plugins import get_plugin_manager

    config_dir = None
    try:
        config = load_config(_state().config, lazy_secrets=True)
        config_dir = config.base_dir / config.plugins_dir if config.plugins_dir else None
    except ConfigError:
        pass  # without a valid config, list what is installed
    found = get_plugin_manager(config_dir)
    rows = [
        {
            "type": name,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "from": found.origin_of(cls),
        }
        for name, cls in sorted(found.connectors().items())
    ]
    failures = [{"plugin": f.name, "error": f.error} for f in found.failures]
    if _state().json:
        emit_json({"connectors": rows, "failures": failures})
    else:
        table(["type", "class", "from"], [[r["type"], r["class"], r["from"]] for r in rows])
        for f in failures:
            say(f"failed to load {f['plugin']}: {f['error']}")
    return OK


def _progress() -> contextlib.AbstractContextManager[Observer]:
    """Progress of the cycle on stderr: bars on a terminal, lines elsewhere, none if quiet."""
    from syncd.shell.progress import shown

    state = _state()
    return shown(state.quiet, state.waits, logged=state.logged)


def _info(text: str) -> None:
    """An informational line: not a result, so --quiet and --json leave it out."""
    state = _state()
    if not (state.quiet or state.json):
        say(text)


def _known_instances(rt: Runtime, names: Sequence[str]) -> None:
    for name in names:
        if name not in rt.connectors:
            raise ConfigError(did_you_mean("connector instance", name, rt.connectors))


@app.command()
@guarded
def pull(
    instances: Annotated[
        list[str] | None, typer.Argument(metavar="[INSTANCE]...", help="default: all")
    ] = None,
) -> int:
    """pull only"""
    from syncd.sync import cycle
    from syncd.sync.runs import recorded_run

    rt = _runtime()
    _known_instances(rt, instances or [])
    with recorded_run(rt.engine, "pull", rt.clock) as run, _progress() as observer:
        pulled = cycle.pull(rt, instances or [], run=run, observer=observer)
        run.counts = {name: dict(c) for name, c in pulled.items()}
    _say_run(
        run, "pulled", pulled, "instance", ("contacts", "events", "tags", "lists", "quarantined")
    )
    return PARTIAL if run.failures else OK


def _show_plans(
    rt: Runtime,
    plans: Sequence[Any],
    as_json: bool,
    extra: dict[str, Any] | None = None,
    summary: bool = False,
) -> list[dict[str, Any]]:
    """The plan as a diff (or its data under ``destinations`` in JSON); returns the data."""
    from syncd.shell.plan_view import console, diff_data, show_diff

    with rt.engine.connect() as conn:
        data = diff_data(conn, plans)
    if as_json:
        emit_json({**(extra or {}), "destinations": data})
    else:
        show_diff(data, console(), summary)
    return data


@app.command()
@guarded
def plan(
    no_pull: Annotated[
        bool,
        typer.Option("--no-pull", help="plan on the data stored already (says how old it is)"),
    ] = False,
    full: Annotated[bool, typer.Option("--full", help=FULL)] = False,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="also write the plan to FILE, for syncd push --plan FILE to apply exactly",
        ),
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="counts per tag, list and field, no contacts")
    ] = False,
) -> int:
    """pull, compute and show the plan as a diff; moves no cursor, writes no outbox, sends
    nothing"""
    from pathlib import Path

    from syncd.queries import stored_as_of
    from syncd.shell import plan_file
    from syncd.sync import cycle

    rt = _runtime(secrets=not no_pull)
    rt.full_compute = full
    as_json = _state().json
    extra: dict[str, Any] = {}
    with _progress() as observer:
        if no_pull:
            with rt.engine.connect() as conn:
                as_of = stored_as_of(conn)
            extra = {"pulled": None, "stored_as_of": as_of}
            _info(f"planned on the stored data: {_age(as_of, rt.clock())} (--no-pull)")
        else:
            pulled = cycle.pull(rt, keep_cursors=True, observer=observer)
            extra = {"pulled": {n: dict(c) for n, c in pulled.items()}}
            total = sum(sum(c.values()) for c in pulled.values())
            _info(f"pulled {total} records first (the cursors stay where they were)")
        _, plans = cycle.plan(rt, observer)
    data = _show_plans(rt, plans, as_json, extra, summary)
    if out is not None:
        with rt.engine.connect() as conn:
            content = plan_file.document(conn, rt.config, plans, data, rt.clock())
        plan_file.write(Path(out), content)
        _info(f"plan written to {out}; syncd push --plan {out} applies exactly this plan")
    return HELD if any(p.held for p in plans) else OK


def _age(at: datetime | None, now: datetime) -> str:
    from syncd.duration import duration_text

    if at is None:
        return "nothing pulled yet"
    return f"last pulled {at:%Y-%m-%d %H:%M:%S} ({duration_text((now - at).total_seconds())} ago)"


@app.command()
@guarded
def sync(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="stop after the plan; send nothing, move no cursor"),
    ] = False,
    full: Annotated[bool, typer.Option("--full", help=FULL)] = False,
) -> int:
    """one whole cycle now"""
    from syncd.sync import cycle

    rt = _runtime()
    rt.full_compute = full
    with _progress() as observer:
        report = cycle.sync(rt, dry_run=dry_run, observer=observer)
    pushed = {name: dict(c) for name, c in report.pushed.items()}
    if _state().json:
        extra = {
            "run_id": report.run_id,
            "dry_run": dry_run,
            "pulled": {n: dict(c) for n, c in report.pulled.items()},
            "segments": {s.name: s.size for s in report.segments},
            "pushed": pushed,
            "failures": report.failures,
        }
        _show_plans(rt, report.plans, True, extra)
    else:
        total = sum(sum(c.values()) for c in report.pulled.values())
        quarantined = sum(c["quarantined"] for c in report.pulled.values())
        _info(f"run {report.run_id}: pulled {total} records ({quarantined} quarantined)")
        _info("segments: " + (", ".join(f"{s.name} {s.size}" for s in report.segments) or "none"))
        if dry_run:
            _info("dry run: nothing was sent and the cursors did not move; the plan:")
            _show_plans(rt, report.plans, False)
        for p in report.plans:
            if p.held and dry_run:
                continue  # the diff said it
            if p.held:
                say(f"{p.destination}: HELD — {p.reason}")
            elif not dry_run:
                counts = pushed.get(p.destination, {})
                say(f"{p.destination}: {len(p.changes)} planned, " + _push_words(p, counts))
        _say_failures(report.failures)
    if report.held:
        return HELD
    if report.failures:
        return PARTIAL
    return FAILED if any(c.get("failed") for c in pushed.values()) else OK


def _push_words(plan: Any, counts: dict[str, int]) -> str:
    """What a push did, with what it left and why: ``3 done, 0 to retry, 0 failed, 282
    waiting on another push's claim``."""
    words = (
        f"{counts.get('done', 0)} done, {counts.get('retryable', 0)} to retry, "
        f"{counts.get('failed', 0)} failed"
    )
    for key, text in (
        ("no_consent", "not sent: consent withdrawn since the plan"),
        ("waiting", "waiting on another push's claim"),
    ):
        if counts.get(key):
            words += f", {counts[key]} {text}"
    if getattr(plan, "refused", 0):
        words += f", {plan.refused} refused before and not planned again"
    return words


@app.command()
@guarded
def push(
    confirm: Annotated[
        bool, typer.Option("--confirm", help="release plans held by a guard, then send")
    ] = False,
    plan_path: Annotated[
        str | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="apply exactly the plan syncd plan --out FILE wrote; refused when stale",
        ),
    ] = None,
) -> int:
    """send the outbox (or exactly a reviewed plan: --plan FILE)"""
    from pathlib import Path

    from syncd.shell import plan_file
    from syncd.sync import cycle
    from syncd.sync.runs import recorded_run

    rt = _runtime()
    if plan_path is not None:  # a bad or stale file is said before any run is recorded
        plan_file.check(rt, Path(plan_path))
    held: list[str] = []
    with recorded_run(rt.engine, "push", rt.clock) as run, _progress() as observer:
        names: list[str] = []
        if plan_path is not None:
            plans = plan_file.apply(rt, Path(plan_path), run.id)
            names = [p.destination for p in plans]
            held = [p.destination for p in plans if p.held and not confirm]
            names = [n for n in names if n not in held]
        if plan_path is None or names:
            pushed = cycle.push(rt, confirm=confirm, run=run, observer=observer, destinations=names)
        else:
            pushed = {}
        run.counts = {name: dict(c) for name, c in pushed.items()}
        if held:
            run.outcome = "held"
    _say_run(run, "pushed", pushed, "destination", ("done", "retryable", "failed"))
    if not _state().json:
        for name in held:
            say(f"{name}: HELD by the guard; push --plan {plan_path} --confirm sends it")
    if held:
        return HELD
    if run.failures:
        return PARTIAL
    return FAILED if any(c.get("failed") for c in pushed.values()) else OK


def _say_run(
    run: Any,
    done: str,
    counts: Mapping[str, Mapping[str, int]],
    first: str,
    columns: Sequence[str],
) -> None:
    """What a pull or push did: the run's id, ``counts`` under ``done`` and the failures in
    JSON; for people, the failures and a table of ``columns`` by ``first``."""
    if _state().json:
        by_name = {name: dict(c) for name, c in counts.items()}
        emit_json({"run_id": run.id, done: by_name, "failures": run.failures})
        return
    _say_failures(run.failures)
    table([first, *columns], [[n, *(c.get(k, 0) for k in columns)] for n, c in counts.items()])


def _say_failures(failures: dict[str, str]) -> None:
    """One line per source or destination that failed while the rest of the run went on."""
    for part, why in failures.items():
        name = part.split(" ", 1)[-1]  # "pull ac": the error may begin with "ac: " already
        say(f"{part} FAILED (the rest of the run went on): {without_name(name, why)}")


@app.command()
@guarded
def status() -> int:
    """per destination pending, retrying and failed changes; runs, cursors, held plans"""
    from syncd.status import show

    return show(_runtime(secrets=False), as_json=_state().json)


@webhooks_app.command("register")
@guarded
def webhooks_register() -> int:
    """create each connector's webhook subscriptions at its vendor (once), posting to
    webhooks.public_url/webhooks/NAME"""
    return _webhooks(register=True)


@webhooks_app.command("list")
@guarded
def webhooks_list() -> int:
    """each connector's webhook subscriptions at its vendor"""
    return _webhooks(register=False)


def _webhooks(*, register: bool) -> int:
    from syncd.webhooks.register import each

    found = each(_runtime(), register=register)
    if _state().json:
        emit_json({"instances": [o.as_dict() for o in found]})
    else:
        rows = [
            [o.instance, s.shown_topic, s.id, s.address] for o in found for s in o.subscriptions
        ]
        if rows:
            table(["instance", "topic", "id", "address"], rows)
        for o in found:
            if o.error:
                sys.stderr.write(f"{o.instance}: error: {o.error}\n")
            elif o.note:
                say(f"{o.instance}: {o.note}")
            elif not o.subscriptions:
                say(f"{o.instance}: no subscriptions")
    return FAILED if any(o.error for o in found) else OK


@app.command()
@guarded
def errors(
    destination: Annotated[
        str | None,
        typer.Option("--destination", metavar="NAME", help="only this destination (or source)"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the newest N of each")] = 50,
) -> int:
    """each change that failed or waits for a retry, and each quarantined record, with why"""
    from syncd.shell.errors_view import show_errors

    rt = _runtime(secrets=False)
    if destination is not None:
        _known_instances(rt, [destination])
    return show_errors(rt, destination=destination, limit=limit, as_json=_state().json)


@app.command()
@guarded
def init(
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools",
            metavar="LIST",
            help="the tools to connect, comma separated (asked when not given)",
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", metavar="URL", help="default: sqlite:///syncd.db")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", metavar="PATH", help="default: syncd.yaml")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="ask nothing; defaults")] = False,
    force: Annotated[bool, typer.Option("--force", help="write over an existing file")] = False,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect", help="then check --connect (the default when every secret is set)"
        ),
    ] = False,
) -> int:
    """write a first config for the tools you connect, then check it"""
    from pathlib import Path

    from syncd.shell import init as setup

    ask = not yes
    if tools is None:
        tools = typer.prompt(
            f"Tools to connect ({', '.join(setup.TOOLS)})", default=setup.DEFAULT_TOOLS
        ) if ask else setup.DEFAULT_TOOLS  # fmt: skip
    chosen = setup.parse_tools(tools)
    if store is None:
        store = typer.prompt("Store", default=setup.DEFAULT_STORE) if ask else setup.DEFAULT_STORE
    if out is None:
        out = typer.prompt("Write the config to", default="syncd.yaml") if ask else "syncd.yaml"
    text = setup.config_text(chosen, store)
    path = Path(out)
    setup.write_config(path, text, force=force)
    names = setup.secrets_named(text)
    unset = setup.missing(names)
    say(f"wrote {path} ({', '.join(chosen)}) and {path.parent / 'syncd.schema.json'}")
    if unset:
        say(f"set these in the environment (or an EnvironmentFile): {', '.join(unset)}")
    connect = connect or not unset
    say(f"$ syncd --config {path} check" + (" --connect" if connect else ""))
    _state().config = str(path)
    return int(check(connect=connect))


@app.command()
@guarded
def schema(
    out: Annotated[
        str | None, typer.Option("--out", metavar="FILE", help="write it here, not to stdout")
    ] = None,
    only_builtin: Annotated[
        bool, typer.Option("--builtin", help="only the connectors syncd ships")
    ] = False,
) -> int:
    """the config's JSON Schema, for editors (# yaml-language-server: $schema=FILE)"""
    from pathlib import Path

    from syncd.plugins import get_plugin_manager
    from syncd.shell.schema import builtin, schema_text

    found = get_plugin_manager().connectors()
    text = schema_text(builtin(found) if only_builtin else found)
    if out is None:
        sys.stdout.write(text)
        return OK
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror or exc}", USAGE)
    say(f"wrote {out}; name it on a config's first line: # yaml-language-server: $schema={out}")
    return OK


@app.command("accept-email")
@guarded
def accept_email(
    connector: Annotated[str, typer.Argument(metavar="CONNECTOR", help="the source's instance")],
    contact_id: Annotated[str, typer.Argument(metavar="CONTACT_ID", help="its contact id")],
) -> int:
    """accept the new e-mail a source gives a contact id (quarantined as a conflict)"""
    from syncd.sync.email_change import accept_email as accept

    rt = _runtime()
    _known_instances(rt, [connector])
    with rt.engine.begin() as conn:
        done = accept(conn, connector, contact_id, rt.clock(), list(rt.config.precedence))
    if _state().json:
        emit_json({"connector": connector, "contact_id": contact_id, "was": done.old,
                   "email": done.new})  # fmt: skip
    else:
        say(f"{connector} contact id {contact_id!r} is now {done.new} (was {done.old})")
    return OK


# --- segments --------------------------------------------------------------------------------


class Format(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


def _segment(rt: Runtime, name: str) -> None:
    if name not in rt.rules:
        raise ConfigError(did_you_mean("segment", name, rt.rules))


@segments_app.command("list")
@guarded
def segments_list() -> int:
    """every segment with its size and when it last changed"""
    from syncd.queries import segment_rows

    rt = _runtime(secrets=False)
    with rt.engine.connect() as conn:
        computed = {r["name"]: r for r in segment_rows(conn)}
    rows = [
        {
            "name": name,
            "size": computed.get(name, {}).get("size"),
            "changed_at": computed.get(name, {}).get("changed_at"),
            "computed_at": computed.get(name, {}).get("computed_at"),
        }
        for name in rt.rules
    ]
    if _state().json:
        emit_json({"segments": rows})
    else:
        table(
            ["segment", "size", "last change", "computed"],
            [[r["name"], r["size"], r["changed_at"], r["computed_at"]] for r in rows],
        )
    return OK


@segments_app.command("model")
@guarded
def segments_model() -> int:
    """the predictive model as last fitted: parameters, customers, log-likelihood, quality"""
    from syncd.segments.predict_report import lines, report

    rt = _runtime()
    with rt.engine.connect() as conn:
        found = report(conn)
    if _state().json:
        emit_json({"model": found})
    else:
        for line in lines(found):
            say(line)
    return OK


@segments_app.command("show")
@guarded
def segments_show(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    limit: Annotated[int, typer.Option("--limit", min=0, help="members to show")] = SHOWN,
    every: Annotated[bool, typer.Option("--all", help="every member, streamed")] = False,
    fmt: Annotated[
        Format, typer.Option("--format", help="table, or csv / jsonl (every member)")
    ] = Format.table,
    sql: Annotated[bool, typer.Option("--sql", help="show the compiled SQL")] = False,
) -> int:
    """a segment: its definition, size and members (--all --format csv|jsonl exports them)"""
    from syncd.queries import iter_segment_members, segment_member_count, segment_rows
    from syncd.segments.compile import Compiler
    from syncd.segments.rules import description, without_description

    rt = _runtime(secrets=False)
    _segment(rt, name)
    with rt.engine.connect() as conn:
        if fmt is not Format.table:  # an export: every member, one a line, nothing else
            _export(iter_segment_members(conn, name), fmt)
            return OK
        row = {r["name"]: r for r in segment_rows(conn)}.get(name, {})
        members = segment_member_count(conn, name)
        compiler = Compiler(rt.rules, rt.clock(), rt.scores)
        data = {
            "name": name,
            "description": description(rt.config.segments[name]),
            "definition": without_description(rt.config.segments[name]),
            "sql": compiler.sql_of(rt.rules[name], conn.dialect),
            "size": row.get("size"),
            "changed_at": row.get("changed_at"),
            "members_shown": 0,
            "sample": [],
        }
        if _state().json:
            data["sample"] = _members(conn, name, every, limit)
            data["members_shown"] = len(data["sample"])
            emit_json(data)
            return OK
        size = data["size"] if data["size"] is not None else "not computed yet (run syncd sync)"
        say(f"segment {name}: {size} members")
        if data["description"]:
            say(data["description"])
        say(f"definition: {data['definition']}")
        if sql:
            say(f"sql:\n{data['sql']}")
        sample = _members(conn, name, every, limit)
    table(["email", "since"], [[m["email"], m["since"]] for m in sample])
    if len(sample) < members:
        say(f"{len(sample)} of {members}; --all for every member")
    return OK


def _members(conn: Any, name: str, every: bool, limit: int) -> list[dict[str, Any]]:
    from syncd.queries import iter_segment_members, segment_sample

    return list(iter_segment_members(conn, name)) if every else segment_sample(conn, name, limit)


def _export(members: Iterable[dict[str, Any]], fmt: Format) -> None:
    """Members as CSV (a header, then email,since) or JSON lines, written as they are read."""
    out = sys.stdout
    if fmt is Format.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "since"])
        for m in members:
            since = m["since"].isoformat() if m["since"] is not None else ""
            writer.writerow([redact(m["email"]), since])
        return
    for m in members:
        out.write(redact(json.dumps(m, default=_iso)) + "\n")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@segments_app.command("explain")
@guarded
def segments_explain(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    contact: Annotated[
        str | None, typer.Option("--contact", metavar="EMAIL", help="the contact to explain")
    ] = None,
) -> int:
    """why a contact is in a segment, or not"""
    from syncd.queries import contact_id_of
    from syncd.segments.compile import Compiler
    from syncd.segments.explain import Explainer

    rt = _runtime(secrets=False)
    _segment(rt, name)
    if not contact:
        raise ConfigError("segments explain needs --contact EMAIL")
    with rt.engine.connect() as conn:
        contact_id = contact_id_of(conn, contact)
        if contact_id is None:
            raise ConfigError(f"no contact with e-mail {contact!r} in the store")
        compiler = Compiler(rt.rules, rt.clock(), rt.scores)
        explanation = Explainer(conn, compiler, contact_id).explain(rt.rules[name])
    if _state().json:
        emit_json({"segment": name, "contact": contact, **explanation.as_dict()})
        return OK
    verdict = "is in" if explanation.matched else "is not in"
    say(f"{contact} {verdict} segment {name}")
    for line in explanation.lines():
        say(line)
    return OK


# --- commands with their own parser ------------------------------------------------------------

OWN_OPTIONS: dict[str, Any] = {
    "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True},
    "add_help_option": False,
}


@app.command("run", **OWN_OPTIONS)
@guarded
def run_(ctx: typer.Context) -> int:
    """the daemon: run the config's schedules until stopped (syncd run --help)"""
    from syncd.daemon.command import run

    return run(ctx.args, _state().config)


@app.command(**OWN_OPTIONS)
@guarded
def demo(ctx: typer.Context) -> int:
    """start the bundled emulators with a sample shop and sync them (syncd demo --help)"""
    from syncd.demo import run

    return run(ctx.args)


@app.command("ui")
@guarded
def ui(
    port: Annotated[int, typer.Option("--port", help="the port (default 9781)")] = 9781,
    host: Annotated[str, typer.Option("--host", help="the address (default 127.0.0.1)")] = (
        "127.0.0.1"
    ),
) -> int:
    """the status page of the store, without a daemon, until Ctrl-C (docs/ui.md)"""
    from syncd.ui.serve import serve_until_stopped

    rt = _runtime(secrets=False)  # the page opens no connector
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return serve_until_stopped(
        rt, address, say, token=rt.config.daemon.ui_token, where=f"--port {port}"
    )


@app.command(**OWN_OPTIONS)
@guarded
def emulator(ctx: typer.Context) -> int:
    """serve one vendor emulator on loopback: NAME [--port P] [--seed N] [--faults SPEC]"""
    from syncd.emulator import command

    return command.run(ctx.args, _state().config)


@new_app.command("connector")
@guarded
def new_connector(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the connector's type, e.g. acme")],
    directory: Annotated[
        str, typer.Option("--dir", help="where to write syncd-NAME/ (default: .)")
    ] = ".",
) -> int:
    """write syncd-NAME/: a connector package with its emulator and conformance suite"""
    from pathlib import Path

    from syncd.scaffold import ScaffoldError, new_connector

    try:
        root = new_connector(name, Path(directory))
    except ScaffoldError as exc:
        return _fail(str(exc), USAGE)
    except OSError as exc:  # a folder that cannot be written: one line, not a traceback
        return _fail(f"cannot write under {directory}: {exc.strerror or exc}", USAGE)
    say(f"wrote {root}: the {name} connector, its emulator and its conformance suite")
    say(f"next: cd {root} && pip install -e '.[test]' && pytest")
    return OK


# --- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), USAGE)
    configure_logging(
        settings.log_level or "warning",
        settings.log_format,
        # at the default level, what the command prints itself is not logged a second time
        said=SAID_BY_COMMANDS if settings.log_level is None else frozenset(),
    )
    command = typer.main.get_command(app)
    try:
        invocation = read_argv(argv)
        state = State(
            config=invocation.config or settings.config,
            logged=(settings.log_level or "warning") in ("debug", "info")
            and (
                settings.log_format == "json"
                or (settings.log_format == "auto" and not sys.stderr.isatty())
            ),
        )
        code = command.main(
            args=invocation.args, prog_name="syncd", standalone_mode=False, obj=state
        )
    except usage.NoArgsIsHelpError as exc:
        say(exc.ctx.get_help() if exc.ctx else "")
        return USAGE
    except usage.UsageError as exc:
        return _usage(exc)
    except usage.ClickException as exc:
        return _fail(exc.format_message(), USAGE)
    except typer.Abort:
        return _fail("interrupted", INTERRUPTED)
    except BrokenPipeError:
        return _pipe_closed()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _pipe_closed()
    return int(code or OK)


def _usage(exc: usage.UsageError) -> int:
    """A usage mistake in one line, with where to read more: no usage box."""
    where = exc.ctx.command_path if exc.ctx else "syncd"
    message = exc.format_message().rstrip(".")
    return _fail(f"{where}: {message} (see {where} --help)", USAGE)


def _pipe_closed() -> int:
    """``syncd status | head``: the reader has gone, nothing to say."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED


def _fail(message: str, code: int) -> int:
    sys.stderr.write(redact(message) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
