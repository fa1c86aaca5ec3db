"""``syncd run``: parse the daemon's options, start it, serve until a signal stops it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from syncd.config import check_health_address
from syncd.daemon.locks import StoreInUse, hold_store
from syncd.daemon.service import Daemon, build
from syncd.errors import ConfigError
from syncd.logs import configure_logging
from syncd.secrets import redact
from syncd.settings import load_settings
from syncd.shell.own_parser import OneLineParser

log = structlog.get_logger("syncd.daemon")

DESCRIPTION = """\
Run the config's schedules until stopped.

Each schedule is one job: `every:` schedules run once at start and then at their interval,
`cron:` schedules at their next time (in their time zone). Jobs run one at a time; a job
that falls due while another runs waits, and firings missed by less than
daemon.misfire_grace run once (coalesced). Each run is recorded in the store under the
schedule's name (see syncd status).

Signals: SIGTERM or SIGINT takes no new job, lets the running one finish the page or batch
in hand, records it as stopped, and exits 0; what is left waits in the cursors and the outbox
for the next start. A run still going after daemon.shutdown_timeout is left (recorded as
failed; its open transaction rolls back) and the exit code is 1. SIGHUP reads the config
again: an invalid one is logged in one line and the old one stays in force; a valid one takes
over between two runs (new or changed every: schedules run at once).

Health: /healthz, /readyz and /metrics on daemon.health (default 127.0.0.1:9780). Under
systemd (Type=notify) it sends READY, STATUS, WATCHDOG, RELOADING and STOPPING.
With PostgreSQL several daemons share the work, one run of a job at a time (the others skip
that firing); a SQLite store takes one daemon only, a second one is refused with exit 2.
"""


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="syncd run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--health",
        metavar="HOST:PORT",
        help="where to serve /healthz /readyz /metrics, or off (default: daemon.health; "
        "port 0 takes a free port, logged as health_port)",
    )
    return p


def run(argv: Sequence[str], config_path: str | Path) -> int:
    """The daemon's exit code: 0 stopped cleanly, 1 failed, 2 invalid usage or config."""
    args = parser().parse_args(list(argv))
    if args.health is not None:
        try:
            check_health_address(args.health)
        except ValueError as exc:
            raise ConfigError(str(exc), path="--health") from None
    settings = load_settings()
    configure_logging(settings.log_level or "info", settings.log_format)
    rt = build(config_path)
    try:
        lock = hold_store(rt.config.store.url)
    except StoreInUse as exc:
        rt.close()
        sys.stderr.write(redact(f"error: {exc}") + "\n")
        return 2
    daemon = Daemon(rt, config_path, health_address=args.health or rt.config.daemon.health)
    daemon.install_signals()
    try:
        # open and migrate the store now (replicas in turn: see migrate): a broken one stops
        # the start
        rt.engine  # noqa: B018
        daemon.start()
        code = daemon.serve()
    except BaseException:
        daemon.schedules.shutdown()
        if daemon.server is not None:
            daemon.server.stop()
        rt.close()
        raise
    finally:
        if lock is not None:
            lock.release()
    if code != 0:
        # the job that outlived the timeout still holds a worker thread, which the interpreter
        # would wait for at exit: leave now; every transaction it began rolls back
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
