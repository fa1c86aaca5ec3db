"""SALESmanago's webhooks: the automation rule action "Send information about executed rule"
posts JSON (``{"id", "name", "contactId", "description", "email", "phone", "company"}``) to a
URL, signed with nothing; the action may send HTTP Basic authorization. syncd checks it
against ``webhooks.connectors.NAME.username`` and ``password`` (in constant time), or, with
a ``token`` instead, the URL's ``?token=``.

The post gives the contact's id, e-mail, phone and company, mapped as the contacts stream maps
them; its tags, lists and events come with the next pull.

SALESmanago has no API to subscribe to webhooks: they are set up in its UI (Automation rules →
Add new rule), each posting JSON to an endpoint, optionally with HTTP Basic authorization.
"""

from __future__ import annotations

from typing import Any

from syncd.connectors import (
    BasicAuth,
    ContactRecord,
    FirstConfigured,
    Record,
    SubscribedByHand,
    UrlToken,
    WebhookReceiver,
)
from syncd_plugins.salesmanago.mapping import CONTACT


class RulesInTheUi(SubscribedByHand):
    how = (
        "SALESmanago's webhooks are set up in its UI: add an automation rule with the action "
        "'Send information about executed rule'"
    )


class SalesmanagoWebhooks(WebhookReceiver):
    """Posts of SALESmanago automation rules for one account. No delivery id: the post
    carries none, and one made from its body would drop a real repeat (a contact's phone A,
    then B, then A again) for as long as the inbox keeps it; a post applied twice writes the
    same fields twice, which changes nothing."""

    signature = FirstConfigured(BasicAuth(), UrlToken())
    subscriber = RulesInTheUi

    def topic_of(self, payload: dict[str, Any]) -> str:
        rule = str(payload.get("name") or payload.get("id") or "").strip()
        return f"rule {rule}"[:200] if rule else "rule"

    def records(self, topic: str, payload: dict[str, Any]) -> list[Record]:
        """The contact the rule ran for, with the fields the post carries."""
        contact = CONTACT.record({k: v for k, v in payload.items() if k != "id"})
        return [contact] if isinstance(contact, ContactRecord) else []
