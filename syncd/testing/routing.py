"""Routing the runtimes a test builds (``syncd`` commands included) to in-process emulators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest
    from starlette.types import ASGIApp

    from syncd.connectors.contract import ConnectorContext
    from syncd.emulator import VirtualTime


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
