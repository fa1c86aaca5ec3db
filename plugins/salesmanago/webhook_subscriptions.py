"""SALESmanago has no API to subscribe to webhooks: its webhooks are automation rules with
the action "Send information about executed rule", set up in its UI (Automation rules → Add
new rule), each posting JSON to an endpoint, optionally with HTTP Basic authorization."""

from __future__ import annotations

from typing import NoReturn

IN_UI = (
    "SALESmanago's webhooks are set up in its UI: add an automation rule with the action "
    "'Send information about executed rule' and the endpoint {address}"
)


def subscriptions() -> NoReturn:
    raise NotImplementedError(
        "SALESmanago's API does not list webhooks: they are automation rules in its UI"
    )


def register(address: str) -> NoReturn:
    raise NotImplementedError(IN_UI.format(address=address))
