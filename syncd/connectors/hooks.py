"""A connector package's hooks, declared by the dotted names of its classes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

from syncd import hookimpl

ConnectorsHook = Callable[[], list[type]]
EmulatorsHook = Callable[[], dict[str, Any]]
ReceiversHook = Callable[[], dict[str, Any]]


def plugin_hooks(
    *connectors: str, emulators: Mapping[str, str] | None = None
) -> tuple[ConnectorsHook, EmulatorsHook]:
    """``syncd_connectors`` and ``syncd_emulators`` for a plugin module, from the dotted names
    (``package.module.Class``) of its connectors and, by name, its emulators. Nothing is
    imported until syncd asks, so finding plugins stays cheap."""
    emulators = dict(emulators or {})

    @hookimpl
    def syncd_connectors() -> list[type]:
        return [_load(name) for name in connectors]

    @hookimpl
    def syncd_emulators() -> dict[str, Any]:
        return {key: _load(name) for key, name in emulators.items()}

    return syncd_connectors, syncd_emulators


def vendor_hooks(package: str, prefix: str) -> tuple[ConnectorsHook, EmulatorsHook, ReceiversHook]:
    """``syncd_connectors``, ``syncd_emulators`` and ``syncd_webhook_receivers`` for a vendor
    package laid out as the built-in ones are: ``connector.{prefix}Connector``,
    ``emulator.{prefix}Emulator`` and ``webhooks.{prefix}Webhooks`` in ``package``, the
    emulator and the receiver under the package's last name (its connector's type).

        syncd_connectors, syncd_emulators, syncd_webhook_receivers = vendor_hooks(__name__, "Acme")
    """
    kind = package.rpartition(".")[2]
    connectors, emulators = plugin_hooks(
        f"{package}.connector.{prefix}Connector",
        emulators={kind: f"{package}.emulator.{prefix}Emulator"},
    )
    return connectors, emulators, receivers_hook({kind: f"{package}.webhooks.{prefix}Webhooks"})


def receivers_hook(receivers: Mapping[str, str]) -> ReceiversHook:
    """``syncd_webhook_receivers`` for a plugin module, from the dotted names of its webhook
    receiver classes by connector type; imported only when syncd asks."""
    receivers = dict(receivers)

    @hookimpl
    def syncd_webhook_receivers() -> dict[str, Any]:
        return {key: _load(name) for key, name in receivers.items()}

    return syncd_webhook_receivers


def _load(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)
