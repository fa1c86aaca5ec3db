"""The ``syncd`` command: parses, calls, prints. Exit codes: 0 ok, 1 run failed,
2 invalid usage or config, 3 plan held by a guard."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import OperationalError

from syncd import __version__
from syncd.clock import fixed_clock, system_clock
from syncd.config import load_config
from syncd.errors import (
    ConfigError,
    ConnectorError,
    GuardHeld,
    PluginError,
    StoreError,
    first_line,
)
from syncd.logs import configure_logging
from syncd.output import emit_json, say, table
from syncd.runtime import Runtime, build_runtime
from syncd.secrets import redact
from syncd.settings import load_settings
from syncd.store.lock import hold_store

OK, FAILED, USAGE, HELD, PARTIAL = 0, 1, 2, 3, 4


# the commands that write the store: on SQLite one process at a time (the others wait)
WRITERS = ("pull", "plan", "sync", "push")


def _runtime(args: argparse.Namespace) -> Runtime:
    settings = load_settings()
    clock = fixed_clock(settings.now) if settings.now else system_clock
    config = load_config(args.config, settings=settings)
    cleanup: contextlib.ExitStack | None = getattr(args, "cleanup", None)
    rt = build_runtime(config, clock=clock)  # every config mistake is said before the store
    if cleanup is not None:
        cleanup.callback(rt.close)
    if args.command in WRITERS:
        wait = config.store.busy_timeout.total_seconds()
        lock = hold_store(config.store.url, command=args.command, wait=wait)
        if lock is not None and cleanup is not None:
            cleanup.callback(lock.release)
    return rt


def cmd_check(args: argparse.Namespace) -> int:
    from syncd.segments.compile import Compiler

    rt = _runtime(args)
    config = rt.config
    Compiler(rt.rules, rt.clock(), rt.scores).check_sql(rt.engine, config.source)
    say(
        f"{config.source.file}: valid — {len(config.connectors)} connector instances, "
        f"{len(rt.rules)} segments, {len(config.destinations)} destinations, "
        f"{len(config.schedules)} schedules"
    )
    if not args.connect:
        return OK
    failed = 0
    for name, connector in rt.connectors.items():
        try:
            connector.check_connection()
            say(f"  {name}: connected")
        except ConnectorError as exc:
            failed += 1
            say(f"  {name}: {exc}")
    return FAILED if failed else OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from syncd.plugins import get_plugin_manager

    config_dir = None
    try:
        config = load_config(args.config)
        config_dir = config.base_dir / config.plugins_dir if config.plugins_dir else None
    except ConfigError:
        pass  # without a valid config, list what is installed
    plugins = get_plugin_manager(config_dir)
    rows = []
    for name, cls in sorted(plugins.connectors().items()):
        rows.append(
            {
                "type": name,
                "class": f"{cls.__module__}.{cls.__qualname__}",
                "from": plugins.origin_of(cls),
            }
        )
    failures = [{"plugin": f.name, "error": f.error} for f in plugins.failures]
    if args.json:
        emit_json({"connectors": rows, "failures": failures})
    else:
        table(["type", "class", "from"], [[r["type"], r["class"], r["from"]] for r in rows])
        for f in failures:
            say(f"failed to load {f['plugin']}: {f['error']}")
    return OK


def cmd_pull(args: argparse.Namespace) -> int:
    from syncd.sync import cycle
    from syncd.sync.runs import recorded_run

    rt = _runtime(args)
    with recorded_run(rt.engine, "pull", rt.clock) as run:
        pulled = cycle.pull(rt, args.instances, run=run)
        run.counts = {name: dict(c) for name, c in pulled.items()}
    if args.json:
        emit_json(
            {
                "run_id": run.id,
                "pulled": {name: dict(c) for name, c in pulled.items()},
                "failures": run.failures,
            }
        )
    else:
        _say_failures(run.failures)
        table(
            ["instance", "contacts", "events", "tags", "lists", "quarantined"],
            [
                [
                    n,
                    c.get("contacts", 0),
                    c.get("events", 0),
                    c.get("tags", 0),
                    c.get("lists", 0),
                    c.get("quarantined", 0),
                ]
                for n, c in pulled.items()
            ],
        )
    return PARTIAL if run.failures else OK


def _show_plans(
    rt: Runtime, plans: Sequence[Any], as_json: bool, extra: dict[str, Any] | None = None
) -> None:
    from syncd.queries import plans_as_dicts

    with rt.engine.connect() as conn:
        data = plans_as_dicts(conn, plans)
    if as_json:
        emit_json({**(extra or {}), "destinations": data})
        return
    for dest in data:
        state = "HELD: " + dest["reason"] if dest["held"] else f"{len(dest['changes'])} changes"
        say(f"{dest['destination']}: {state}")
        for change in dest["changes"]:
            value = f" = {change['value']}" if change["value"] is not None else ""
            say(f"  {change['kind']:<14} {change['key']}{value}  {change['email']}")
        for kind, n in dest["skipped"].items():
            say(f"  ({n} {kind} changes not supported by this destination)")


def cmd_plan(args: argparse.Namespace) -> int:
    from syncd.sync import cycle

    rt = _runtime(args)
    rt.full_compute = args.full
    _, plans = cycle.plan(rt)
    _show_plans(rt, plans, args.json)
    return HELD if any(p.held for p in plans) else OK


def cmd_sync(args: argparse.Namespace) -> int:
    from syncd.sync import cycle

    rt = _runtime(args)
    rt.full_compute = args.full
    report = cycle.sync(rt, dry_run=args.dry_run)
    pushed = {name: dict(c) for name, c in report.pushed.items()}
    if args.json:
        extra = {
            "run_id": report.run_id,
            "dry_run": args.dry_run,
            "pulled": {n: dict(c) for n, c in report.pulled.items()},
            "segments": {s.name: s.size for s in report.segments},
            "pushed": pushed,
            "failures": report.failures,
        }
        _show_plans(rt, report.plans, True, extra)
    else:
        total = sum(sum(c.values()) for c in report.pulled.values())
        quarantined = sum(c["quarantined"] for c in report.pulled.values())
        say(f"run {report.run_id}: pulled {total} records ({quarantined} quarantined)")
        say("segments: " + (", ".join(f"{s.name} {s.size}" for s in report.segments) or "none"))
        if args.dry_run:
            say("dry run: nothing was sent; the plan:")
            _show_plans(rt, report.plans, False)
        for p in report.plans:
            if p.held:
                say(f"{p.destination}: HELD — {p.reason}")
            elif not args.dry_run:
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


def cmd_push(args: argparse.Namespace) -> int:
    from syncd.sync import cycle
    from syncd.sync.runs import recorded_run

    rt = _runtime(args)
    with recorded_run(rt.engine, "push", rt.clock) as run:
        pushed = cycle.push(rt, confirm=args.confirm, run=run)
        run.counts = {name: dict(c) for name, c in pushed.items()}
    if args.json:
        emit_json(
            {
                "run_id": run.id,
                "pushed": {name: dict(c) for name, c in pushed.items()},
                "failures": run.failures,
            }
        )
    else:
        _say_failures(run.failures)
        table(
            ["destination", "done", "retryable", "failed"],
            [
                [n, c.get("done", 0), c.get("retryable", 0), c.get("failed", 0)]
                for n, c in pushed.items()
            ],
        )
    if run.failures:
        return PARTIAL
    return FAILED if any(c.get("failed") for c in pushed.values()) else OK


def _say_failures(failures: dict[str, str]) -> None:
    """One line per source or destination that failed while the rest of the run went on."""
    for part, why in failures.items():
        say(f"{part} FAILED (the rest of the run went on): {why}")


def cmd_segments(args: argparse.Namespace) -> int:
    from syncd.queries import segment_rows

    rt = _runtime(args)
    with rt.engine.connect() as conn:
        computed = {r["name"]: r for r in segment_rows(conn)}
        if args.action == "list":
            return _segments_list(rt, computed, args.json)
        name = args.name
        if name not in rt.rules:
            known = ", ".join(rt.rules) or "none"
            raise ConfigError(f"unknown segment {name!r} (known: {known})")
        if args.action == "explain":
            return _segments_explain(rt, conn, name, args)
        return _segments_show(rt, conn, computed.get(name, {}), name, args)


def _segments_list(rt: Runtime, computed: dict[str, Any], as_json: bool) -> int:
    rows = [
        {
            "name": name,
            "size": computed.get(name, {}).get("size"),
            "changed_at": computed.get(name, {}).get("changed_at"),
            "computed_at": computed.get(name, {}).get("computed_at"),
        }
        for name in rt.rules
    ]
    if as_json:
        emit_json({"segments": rows})
    else:
        table(
            ["segment", "size", "last change", "computed"],
            [[r["name"], r["size"], r["changed_at"], r["computed_at"]] for r in rows],
        )
    return OK


def _segments_show(
    rt: Runtime, conn: Any, row: dict[str, Any], name: str, args: argparse.Namespace
) -> int:
    from syncd.queries import segment_sample
    from syncd.segments.compile import Compiler
    from syncd.segments.rules import description, without_description

    compiler = Compiler(rt.rules, rt.clock(), rt.scores)
    data = {
        "name": name,
        "description": description(rt.config.segments[name]),
        "definition": without_description(rt.config.segments[name]),
        "sql": compiler.sql_of(rt.rules[name], conn.dialect),
        "size": row.get("size"),
        "changed_at": row.get("changed_at"),
        "sample": segment_sample(conn, name, args.limit),
    }
    if args.json:
        emit_json(data)
        return OK
    size = data["size"] if data["size"] is not None else "not computed yet (run syncd sync)"
    say(f"segment {name}: {size} members")
    if data["description"]:
        say(data["description"])
    say(f"definition: {data['definition']}")
    if args.sql:
        say(f"sql:\n{data['sql']}")
    table(["email", "since"], [[m["email"], m["since"]] for m in data["sample"]])
    return OK


def _segments_explain(rt: Runtime, conn: Any, name: str, args: argparse.Namespace) -> int:
    from syncd.queries import contact_id_of
    from syncd.segments.compile import Compiler
    from syncd.segments.explain import Explainer

    if not args.contact:
        raise ConfigError("segments explain needs --contact EMAIL")
    contact_id = contact_id_of(conn, args.contact)
    if contact_id is None:
        raise ConfigError(f"no contact with e-mail {args.contact!r} in the store")
    compiler = Compiler(rt.rules, rt.clock(), rt.scores)
    explanation = Explainer(conn, compiler, contact_id).explain(rt.rules[name])
    if args.json:
        emit_json({"segment": name, "contact": args.contact, **explanation.as_dict()})
        return OK
    verdict = "is in" if explanation.matched else "is not in"
    say(f"{args.contact} {verdict} segment {name}")
    for line in explanation.lines():
        say(line)
    return OK


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.status import show

    return show(_runtime(args), as_json=args.json)


def cmd_run(args: argparse.Namespace) -> int:
    from syncd.daemon.command import run

    return run(args.argv, args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run

    return run(args.argv)


def cmd_emulator(args: argparse.Namespace) -> int:
    from syncd.emulator import command

    return command.run(args.argv, args.config)


def cmd_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from syncd.scaffold import ScaffoldError, new_connector

    try:
        root = new_connector(args.name, Path(args.dir))
    except ScaffoldError as exc:
        return _fail(str(exc), USAGE)
    except OSError as exc:  # a folder that cannot be written: one line, not a traceback
        return _fail(f"cannot write under {args.dir}: {exc.strerror or exc}", USAGE)
    say(f"wrote {root}: the {args.name} connector, its emulator and its conformance suite")
    say(f"next: cd {root} && pip install -e '.[test]' && pytest")
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncd", description="Sync daemon for marketing data.")
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument(
        "--config", help="the YAML config (default: $SYNCD_CONFIG or config/syncd.yaml)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        func: Callable[[argparse.Namespace], int],
        help: str,
        json: bool = True,
        own_help: bool = False,  # --help goes to the command's own parser
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, add_help=not own_help)
        p.set_defaults(func=func)
        if json:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    add("check", cmd_check, "validate the config", json=False).add_argument(
        "--connect", action="store_true", help="also test each connection"
    )
    add("plugins", cmd_plugins, "connectors found, and where they came from")
    add("pull", cmd_pull, "pull only").add_argument("instances", nargs="*", metavar="INSTANCE")
    full = "compute every contact again, not only what changed since the last compute"
    add("plan", cmd_plan, "compute and show the plan; writes nothing anywhere remote").add_argument(
        "--full", action="store_true", help=full
    )
    sync = add("sync", cmd_sync, "one whole cycle now")
    sync.add_argument("--dry-run", action="store_true", help="stop after the plan; send nothing")
    sync.add_argument("--full", action="store_true", help=full)
    add("push", cmd_push, "send the outbox").add_argument(
        "--confirm", action="store_true", help="release plans held by a guard, then send"
    )
    seg = add("segments", cmd_segments, "segments, sizes, sample members")
    seg.add_argument("action", choices=["list", "show", "explain"])
    seg.add_argument("name", nargs="?")
    seg.add_argument("--limit", type=int, default=20, help="sample members to show")
    seg.add_argument("--sql", action="store_true", help="show the compiled SQL")
    seg.add_argument("--contact", metavar="EMAIL", help="the contact to explain")
    add(
        "status",
        cmd_status,
        "per schedule its last runs; cursors, outbox backlog, held plans, quarantine",
    )
    add(
        "run",
        cmd_run,
        "the daemon: run the config's schedules until stopped",
        json=False,
        own_help=True,
    ).add_argument(
        "argv", nargs=argparse.REMAINDER, help="options of the daemon (see syncd run --help)"
    )
    add(
        "demo",
        cmd_demo,
        "start the bundled emulators with a sample shop and sync them",
        json=False,
        own_help=True,
    ).add_argument("argv", nargs=argparse.REMAINDER, help="options of the demo")
    add(
        "emulator", cmd_emulator, "serve one vendor emulator on loopback", json=False, own_help=True
    ).add_argument(
        "argv", nargs=argparse.REMAINDER, help="NAME [--port P] [--seed N] [--faults SPEC] ..."
    )
    new = add("new", cmd_new, "start a new plugin package", json=False)
    what = new.add_subparsers(dest="what", required=True, metavar="WHAT")
    connector = what.add_parser(
        "connector",
        help="a connector package that passes the conformance suite",
        description="Write syncd-NAME/: a connector package (the sample connector under NAME) "
        "with its emulator and its conformance suite.",
    )
    connector.add_argument("name", metavar="NAME", help="the connector's type, such as acme")
    connector.add_argument("--dir", default=".", help="where to write syncd-NAME/ (default: .)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse leaves a command's own options out of REMAINDER when they come first
        if not isinstance(getattr(args, "argv", None), list):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.argv = [*extra, *args.argv]
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), USAGE)
    args.config = args.config or settings.config
    configure_logging(settings.log_level or "warning", settings.log_format)
    if getattr(args, "action", None) in ("show", "explain") and not args.name:
        parser.error(f"segments {args.action} needs a segment NAME")
    try:
        with contextlib.ExitStack() as args.cleanup:
            return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc), USAGE)
    except GuardHeld as exc:
        return _fail(str(exc), HELD)
    except (StoreError, PluginError) as exc:
        return _fail(f"error: {exc}", FAILED)
    except ConnectorError as exc:
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
        return _fail("interrupted", 130)
    except BrokenPipeError:  # `syncd status | head`: the reader has gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _fail(message: str, code: int) -> int:
    sys.stderr.write(redact(message) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
