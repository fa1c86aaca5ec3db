"""SALESmanago's rule webhooks: HTTP Basic authorization (or a URL token) checked, and the
post read as the contact it names."""

from __future__ import annotations

import base64
import json

import pytest

from syncd.connectors import (
    ConnectorContext,
    ContactRecord,
    WebhookRefused,
    WebhookRequest,
)
from syncd.testing import received, webhook_receiver
from syncd_plugins.salesmanago.connector import SalesmanagoConnector
from syncd_plugins.salesmanago.webhooks import SalesmanagoWebhooks

RULE = {"id": "rule-1", "name": "Cart left", "contactId": "0b1c-42", "description": "",
        "email": "eve@example.com", "phone": "+48 600 000 000", "company": "Acme"}  # fmt: skip


def receiver(**secrets: str) -> SalesmanagoWebhooks:
    options = SalesmanagoConnector.Options(
        server="app3", client_id="c", api_key="k", api_secret="s", owner="o@example.com"
    )
    connector = SalesmanagoConnector(options, ConnectorContext("sm"))
    return webhook_receiver(SalesmanagoWebhooks, connector, **secrets)


def post(
    user: str | None = "syncd", password: str = "pw", token: str | None = None
) -> WebhookRequest:
    headers = {}
    if user is not None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["authorization"] = f"Basic {pair}"
    query = {"token": token} if token else {}
    return received("POST", "https://h/webhooks/sm", headers, query, json.dumps(RULE).encode())


def test_basic_authorization_is_checked() -> None:
    sm = receiver(username="syncd", password="pw")
    sm.verify(post())
    for wrong in (post(password="guess"), post(user="root"), post(user=None)):
        with pytest.raises(WebhookRefused) as refused:
            sm.verify(wrong)
        assert refused.value.status == 401
    with pytest.raises(WebhookRefused, match=r"webhooks\.connectors\.sm\.username is not set"):
        receiver().verify(post())


def test_a_url_token_instead() -> None:
    sm = receiver(token="t0k3n")
    sm.verify(post(user=None, token="t0k3n"))
    with pytest.raises(WebhookRefused, match="token is missing or wrong"):
        sm.verify(post(user=None, token="nope"))


def test_the_post_is_the_contact_it_names() -> None:
    delivery = receiver(username="syncd", password="pw").read(post())
    (contact,) = delivery.records
    assert isinstance(contact, ContactRecord)
    assert (contact.external_id, contact.email) == ("0b1c-42", "eve@example.com")
    assert contact.attributes == {"phone": "+48 600 000 000", "company": "Acme"}
    assert contact.tags is None and contact.lists is None  # the post says nothing of them
    assert delivery.topic == "rule Cart left"
    assert delivery.id is None  # no id in the post: a body repeated later is a real repeat


def test_its_webhooks_are_set_up_in_its_ui() -> None:
    sm = receiver(username="syncd", password="pw")
    with pytest.raises(NotImplementedError, match=r"automation rule.* endpoint https://h/w"):
        sm.register("https://h/w")
    with pytest.raises(NotImplementedError, match="does not list"):
        sm.subscriptions()
