"""SALESmanago's webhooks: the automation rule action "Send information about executed rule"
posts JSON (``{"id", "name", "contactId", "description", "email", "phone", "company"}``) to a
URL, signed with nothing; the action may send HTTP Basic authorization. syncd checks it
against ``webhooks.connectors.NAME.username`` and ``password`` (in constant time), or, with
a ``token`` instead, the URL's ``?token=``.

The post gives the contact's id, e-mail, phone and company, mapped as the contacts stream maps
them; its tags, lists and events come with the next pull.
"""

from __future__ import annotations

import base64
import binascii

from syncd.connectors import (
    ContactRecord,
    Record,
    WebhookDelivery,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    WebhookSubscription,
    json_body,
    same_secret,
)
from syncd_plugins.salesmanago import webhook_subscriptions as subs
from syncd_plugins.salesmanago.mapping import CONTACT


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The user name and password of an ``Authorization: Basic ...`` header, or None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class SalesmanagoWebhooks(WebhookReceiver):
    """Posts of SALESmanago automation rules for one account."""

    def subscriptions(self) -> list[WebhookSubscription]:
        return subs.subscriptions()

    def register(self, address: str) -> list[WebhookSubscription]:
        return subs.register(address)

    def verify(self, request: WebhookRequest) -> None:
        if self.secrets.token and not (self.secrets.username or self.secrets.password):
            if not same_secret(self.secrets.token, request.query.get("token")):
                raise WebhookRefused(401, "the URL's token is missing or wrong")
            return
        wanted = self.needs("username", "password")
        given = basic_credentials(request.headers.get("authorization"))
        if given is None:
            raise WebhookRefused(401, "no HTTP Basic authorization")
        user_ok = same_secret(wanted["username"], given[0])
        password_ok = same_secret(wanted["password"], given[1])
        if not (user_ok and password_ok):
            raise WebhookRefused(401, "the HTTP Basic user name or password is wrong")

    def read(self, request: WebhookRequest) -> WebhookDelivery:
        row = json_body(request)
        if not isinstance(row, dict):
            raise WebhookRefused(400, "a SALESmanago rule post is a JSON object")
        rule = str(row.get("name") or row.get("id") or "").strip()
        topic = f"rule {rule}"[:200] if rule else "rule"
        # no delivery id: the post carries none, and one made from its body would drop a real
        # repeat (a contact's phone A, then B, then A again) for as long as the inbox keeps it;
        # a post applied twice writes the same fields twice, which changes nothing
        return WebhookDelivery(None, topic, records(row))


def records(row: dict[str, object]) -> list[Record]:
    """The contact the rule ran for, with the fields the post carries."""
    contact = CONTACT.record({k: v for k, v in row.items() if k != "id"})
    return [contact] if isinstance(contact, ContactRecord) else []
