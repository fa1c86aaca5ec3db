"""Every hook a syncd plugin can implement. This module is the map of the extension surface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from syncd.connectors.contract import Connector

hookspec = pluggy.HookspecMarker("syncd")


@hookspec
def syncd_connectors() -> list[type[Connector]]:
    """Return connector classes; each is used by the ``type:`` equal to its ``name``."""
    raise NotImplementedError


@hookspec
def syncd_emulators() -> dict[str, Any]:
    """Return vendor emulator factories by name: ``{name: callable(seed, faults) -> app}``."""
    raise NotImplementedError
