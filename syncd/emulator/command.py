"""``syncd emulator NAME``: serve one vendor emulator, found through the ``syncd_emulators``
hook, on loopback until interrupted."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from syncd.config import load_config
from syncd.errors import ConfigError, did_you_mean
from syncd.output import say
from syncd.shell.own_parser import OneLineParser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="syncd emulator", description="Serve one vendor emulator on 127.0.0.1."
    )
    parser.add_argument("name", help="the emulator, by the name its plugin registers it under")
    parser.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample data and faults")
    parser.add_argument(
        "--faults",
        default="",
        help="faults to inject, e.g. '429=0.2,5xx=0.1,latency=50ms,drop=0.05,malformed=0.05' "
        "or per route 'POST /api/3/contactTags*:5xx=0.5'",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second (default: the vendor's; 0: no limit)",
    )
    return parser


def run(argv: Sequence[str], config_path: str | None = None) -> int:
    """Parse ``argv``, build the emulator and serve it; returns the exit code."""
    from syncd.emulator.faults import FaultPlan, FaultSpecError
    from syncd.emulator.server import LOOPBACK, bind, serve
    from syncd.plugins import get_plugin_manager

    args = build_parser().parse_args(list(argv))
    plugins_dir = None
    if config_path:
        try:
            config = load_config(config_path)
            plugins_dir = config.base_dir / config.plugins_dir if config.plugins_dir else None
        except ConfigError:
            pass  # without a valid config, serve what is installed
    factories = get_plugin_manager(plugins_dir).emulators()
    if args.name not in factories:
        raise ConfigError(did_you_mean("emulator", args.name, sorted(factories)))
    try:
        faults = FaultPlan.parse(args.faults, args.seed)
    except FaultSpecError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    app = factories[args.name](seed=args.seed, faults=faults, rate_limit=args.rate_limit)
    try:
        sock = bind(args.port)
    except OSError as exc:  # the port is taken, or not ours to open: one line, exit 2
        raise ConfigError(
            f"--port {args.port}: cannot listen on {LOOPBACK}:{args.port}: {exc.strerror or exc}"
        ) from None
    port = sock.getsockname()[1]
    say(f"{args.name} emulator on http://{LOOPBACK}:{port} (seed {args.seed}); Ctrl+C stops it")
    for line in app.describe():
        say(f"  {line}")
    serve(app, sock)
    return 0
