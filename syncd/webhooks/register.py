"""``syncd webhooks register`` and ``list``: each connector instance's subscriptions at its
vendor, made and read through the instance's webhook receiver, pointing at
``<webhooks.public_url>/webhooks/<instance>``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncd.connectors.webhooks import WebhookSecrets, WebhookSubscription
from syncd.errors import ConfigError, ConnectorError, first_line
from syncd.runtime import Runtime


@dataclass
class Outcome:
    """What one instance said: its subscriptions, or in one line why it has none."""

    instance: str
    type: str
    address: str | None
    subscriptions: list[WebhookSubscription] = field(default_factory=list)
    note: str | None = None  # takes no webhooks, is set up in the vendor's UI, ...
    error: str | None = None  # the vendor's refusal

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "type": self.type,
            "address": self.address,
            "subscriptions": [
                {"id": s.id, "topic": s.shown_topic, "address": s.address}
                for s in self.subscriptions
            ],
            "note": self.note,
            "error": self.error,
        }


def address_of(rt: Runtime, instance: str) -> str:
    """Where the vendor posts the webhooks of ``instance``."""
    public = rt.config.webhooks.public_url
    if not public:
        raise ConfigError(
            "webhooks.public_url is not set: give the URL at which the vendors reach the "
            "daemon's port (subscriptions post to PUBLIC_URL/webhooks/NAME)"
        )
    return f"{public.rstrip('/')}/webhooks/{instance}"


def each(rt: Runtime, *, register: bool) -> list[Outcome]:
    """Every connector instance's subscriptions (made first when ``register``)."""
    if register:
        address_of(rt, "")  # no public URL: one line before any vendor is asked
    factories = rt.plugins.webhook_receivers()
    taken = rt.config.webhooks.connectors
    found = []
    for instance, settings in rt.config.connectors.items():
        address = address_of(rt, instance) if rt.config.webhooks.public_url else None
        outcome = Outcome(instance, settings.type, address)
        found.append(outcome)
        factory = factories.get(settings.type)
        connector = rt.connectors.get(instance)
        if factory is None or connector is None:
            outcome.note = f"{settings.type} takes no webhooks"
            continue
        if instance not in taken:
            outcome.note = (
                f"not under webhooks.connectors: the daemon takes no webhooks for it (add "
                f"webhooks.connectors.{instance} with its secret)"
            )
            if register:
                continue
        receiver = factory(connector, taken.get(instance) or WebhookSecrets(), rt.clock)
        try:
            if register:
                assert address is not None
                outcome.subscriptions = receiver.register(address)
            else:
                outcome.subscriptions = receiver.subscriptions()
        except NotImplementedError as exc:
            outcome.note = first_line(exc) or "its subscriptions are not managed through its API"
        except ConnectorError as exc:
            outcome.error = first_line(exc)
    return found
