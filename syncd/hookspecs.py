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
    """Return emulator factories by name: ``{name: f(*, seed, faults, rate_limit) -> Emulator}``.

    ``seed`` is an int, ``faults`` a spec string or ``FaultPlan`` (or None), ``rate_limit``
    requests per second (None: the vendor's own, 0: none); the result is a
    ``syncd.emulator.Emulator``, an ASGI app. A factory that is an ``Emulator`` class whose
    ``demo`` is set (a ``syncd.emulator.DemoPart``) takes part in ``syncd demo`` under ``name``,
    made with ``seed`` and ``people`` (how many sample people).
    """
    raise NotImplementedError


@hookspec
def syncd_webhook_receivers() -> dict[str, Any]:
    """Return webhook receivers by connector type: ``{type: f(connector, secrets, clock)}``.

    Each factory (a ``syncd.connectors.WebhookReceiver`` subclass) is called with the
    connector instance, its ``webhooks.connectors.NAME`` secrets (a ``WebhookSecrets``) and
    the clock; the receiver verifies and reads ``POST /webhooks/NAME`` (docs/webhooks.md).
    """
    raise NotImplementedError
