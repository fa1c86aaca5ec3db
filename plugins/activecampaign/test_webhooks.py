"""ActiveCampaign's webhooks: a token in the URL (AC signs nothing), form-encoded posts read
as the contact, list membership or tag they report, and a repeat of one post applied once."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from syncd.connectors import (
    ConnectorContext,
    ContactRecord,
    ListRecord,
    TagRecord,
    WebhookRefused,
    WebhookRequest,
)
from syncd.testing import received, webhook_receiver
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector
from syncd_plugins.activecampaign.webhooks import ActiveCampaignWebhooks

TOKEN = "a-long-random-token"
SUBSCRIBE = {
    "type": "subscribe", "date_time": "2026-12-07T04:00:00-06:00", "initiated_from": "admin",
    "list": "3", "list[name]": "Newsletter", "contact[id]": "42",
    "contact[email]": "dee@example.com", "contact[first_name]": "Dee",
    "contact[last_name]": "Lo", "contact[phone]": "", "contact[tags]": "a, b",
}  # fmt: skip


def receiver(token: str | None = TOKEN) -> ActiveCampaignWebhooks:
    options = ActiveCampaignConnector.Options(url="https://acme.api-us1.com", token="t")
    connector = ActiveCampaignConnector(options, ConnectorContext("esp"))
    return webhook_receiver(ActiveCampaignWebhooks, connector, token=token)


def post(fields: dict[str, str], token: str | None = TOKEN) -> WebhookRequest:
    query = {"token": token} if token is not None else {}
    url = "https://h/webhooks/esp" + (f"?token={token}" if token is not None else "")
    return received("POST", url, {}, query, urlencode(fields).encode())


def test_the_url_token_is_required() -> None:
    receiver().verify(post(SUBSCRIBE))
    for wrong in ("guess", "", None):
        with pytest.raises(WebhookRefused, match="token is missing or wrong") as refused:
            receiver().verify(post(SUBSCRIBE, wrong))
        assert refused.value.status == 401
    with pytest.raises(WebhookRefused, match=r"webhooks\.connectors\.esp\.token is not set"):
        receiver(None).verify(post(SUBSCRIBE))


def test_a_subscribe_is_the_contact_and_its_membership() -> None:
    delivery = receiver().read(post(SUBSCRIBE))
    contact, membership = delivery.records
    assert isinstance(contact, ContactRecord)
    assert (contact.external_id, contact.email) == ("42", "dee@example.com")
    assert contact.attributes == {"first_name": "Dee", "last_name": "Lo"}
    assert contact.updated_at == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert membership == ListRecord("42", "Newsletter", "subscribed")
    assert delivery.topic == "subscribe"
    gone = receiver().read(post({**SUBSCRIBE, "type": "unsubscribe"})).records
    assert ListRecord("42", "Newsletter", "unsubscribed") in gone


def test_tags_added_and_removed() -> None:
    added = {"type": "contact_tag_added", "contact[id]": "42", "tag": "VIP"}
    assert receiver().read(post(added)).records == [TagRecord("42", "VIP", present=True)]
    removed = {**added, "type": "contact_tag_removed"}
    assert receiver().read(post(removed)).records == [TagRecord("42", "VIP", present=False)]


def test_one_post_twice_is_one_delivery_and_others_read_nothing() -> None:
    first, again = (receiver().read(post(SUBSCRIBE)) for _ in range(2))
    later = receiver().read(post({**SUBSCRIBE, "date_time": "2026-12-07T04:00:01-06:00"}))
    assert first.id == again.id != later.id
    opened = {"type": "open", "contact[id]": "42", "campaign[id]": "7"}
    assert receiver().read(post(opened)).records == []
    with pytest.raises(WebhookRefused, match="without a type") as refused:
        receiver().read(post({"contact[id]": "42"}))
    assert refused.value.status == 400
