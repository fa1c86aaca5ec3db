"""Routing the runtimes a test builds (``syncd`` commands included) to in-process emulators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from starlette.types import ASGIApp

    from syncd.connectors.contract import ConnectorContext
    from syncd.emulator import VirtualTime


def emulator_context(instance: str, emulator: ASGIApp, *, time: VirtualTime) -> ConnectorContext:
    """The context of a connector instance that talks in-process to ``emulator`` and reads
    the time and sleeps in virtual ``time``."""
    from syncd.connectors.contract import ConnectorContext
    from syncd.emulator import transport

    return ConnectorContext(
        instance,
        transport=transport(emulator),
        clock=time.clock,
        sleep=time.sleep,
        monotonic=time.monotonic,
    )


def route_to_emulators(
    monkeypatch: pytest.MonkeyPatch,
    emulators: ASGIApp | Mapping[str, ASGIApp],
    *,
    time: VirtualTime,
    modules: Sequence[ModuleType] = (),
) -> None:
    """Make every runtime the test builds, ``syncd`` commands included, talk in-process to
    emulators: each connector instance to its own (``emulators`` by instance name) or all to
    one. Connectors sleep and read the time in virtual ``time`` through their
    ``ConnectorContext``; ``modules`` that still read a module-level ``time`` get it too."""
    import syncd.runtime
    from syncd.connectors.contract import ConnectorContext
    from syncd.emulator import transport

    if isinstance(emulators, Mapping):
        transports = {name: transport(app) for name, app in emulators.items()}
    else:
        one = transport(emulators)

    def context(instance: str, **kw: Any) -> ConnectorContext:
        served = transports[instance] if isinstance(emulators, Mapping) else one
        kw.setdefault("sleep", time.sleep)
        kw.setdefault("monotonic", time.monotonic)
        return ConnectorContext(instance, transport=served, **kw)

    monkeypatch.setattr(syncd.runtime, "ConnectorContext", context)
    for module in modules:
        monkeypatch.setattr(module, "time", time)


class Pipeline:
    """``syncd`` commands on one config, run in the test's process (see ``ready_pipeline``)."""

    def __init__(self, config: Path) -> None:
        self.config = config

    def run(self, *args: str) -> int:
        """``syncd --config CONFIG ARGS...``; its exit code."""
        from syncd.cli import main

        return main(["--config", str(self.config), *args])


def ready_pipeline(
    monkeypatch: pytest.MonkeyPatch,
    folder: Path,
    config: str,
    emulators: ASGIApp | Mapping[str, ASGIApp],
    *,
    time: VirtualTime,
    env: Mapping[str, str] | None = None,
    **fields: Any,
) -> Pipeline:
    """The real pipeline against emulators: ``config`` (a syncd.yaml to ``str.format``:
    ``{db}`` is a SQLite store's file in ``folder``, other names are ``fields``) written to
    ``folder``, ``env`` set for its ``${...}``, syncd's now at ``time``'s and every connector
    instance routed as ``route_to_emulators`` does."""
    path = folder / "syncd.yaml"
    path.write_text(config.format(db=folder / "store.db", **fields))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNCD_NOW", time.clock().isoformat())
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    route_to_emulators(monkeypatch, emulators, time=time)
    return Pipeline(path)
