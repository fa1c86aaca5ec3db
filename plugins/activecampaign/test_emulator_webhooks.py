"""The ActiveCampaign emulator's ``/api/3/webhooks`` and its form-encoded deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from syncd.emulator import Catcher, running, transport
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator


@pytest.fixture
def account() -> Iterator[tuple[ActiveCampaignEmulator, httpx.Client]]:
    emulator = ActiveCampaignEmulator(people=20, rate_limit=0)
    client = httpx.Client(
        base_url="http://ac.test",
        transport=transport(emulator),
        headers={"Api-Token": emulator.token},
    )
    yield emulator, client
    emulator.courier.close()


def hook(url: str, events: list[str], sources: list[str] | None = None) -> dict[str, Any]:
    return {
        "webhook": {"name": "syncd", "url": url, "events": events, "sources": sources or ["api"]}
    }


def test_create_list_read_update_delete(
    account: tuple[ActiveCampaignEmulator, httpx.Client],
) -> None:
    _, client = account
    made = client.post("/api/3/webhooks", json=hook("https://syncd.example/h", ["subscribe"]))
    assert made.status_code == 201
    row = made.json()["webhook"]
    assert row["url"] == "https://syncd.example/h" and row["events"] == ["subscribe"]
    assert row["sources"] == ["api"] and row["id"] == "1"
    listed = client.get("/api/3/webhooks").json()
    assert listed["meta"]["total"] == "1" and listed["webhooks"][0]["id"] == "1"
    assert (
        client.get("/api/3/webhooks", params={"filters[url]": "https://other"}).json()["webhooks"]
        == []
    )
    assert client.get("/api/3/webhooks/1").json()["webhook"]["name"] == "syncd"
    changed = client.put("/api/3/webhooks/1", json={"webhook": {"events": ["unsubscribe"]}})
    assert changed.json()["webhook"]["events"] == ["unsubscribe"]
    assert client.delete("/api/3/webhooks/1").status_code == 200
    assert client.get("/api/3/webhooks/1").status_code == 404
    assert client.get("/api/3/webhooks").json()["webhooks"] == []
    events = client.get("/api/3/webhook/events").json()["webhookEvents"]
    assert {"subscribe", "unsubscribe", "contact_tag_added", "update"} <= set(events)


def test_a_webhook_is_validated(account: tuple[ActiveCampaignEmulator, httpx.Client]) -> None:
    _, client = account
    assert client.post("/api/3/webhooks", json={"webhook": {"name": "x"}}).status_code == 422
    bad_event = hook("https://syncd.example/h", ["sneezed"])
    assert client.post("/api/3/webhooks", json=bad_event).status_code == 422
    assert client.post("/api/3/webhooks", json=hook("ftp://x", ["subscribe"])).status_code == 422
    assert client.get("/api/3/webhooks", headers={"Api-Token": "wrong"}).status_code == 403


def test_changes_are_posted_form_encoded_and_never_retried(
    account: tuple[ActiveCampaignEmulator, httpx.Client],
) -> None:
    emulator, client = account
    catcher = Catcher([500])  # AC never retries: the tag's webhook is lost
    with running(catcher) as url:
        events = ["contact_tag_added", "subscribe", "unsubscribe"]
        client.post("/api/3/webhooks", json=hook(url + "/webhooks/mail?token=s3", events))
        contact = client.get("/api/3/contacts").json()["contacts"][0]
        tag = client.post("/api/3/tags", json={"tag": {"tag": "fresh", "tagType": "contact"}})
        link = {"contactTag": {"contact": contact["id"], "tag": tag.json()["tag"]["id"]}}
        client.post("/api/3/contactTags", json=link)
        emulator.courier.wait_idle(10)
        new_list = client.post(
            "/api/3/lists",
            json={
                "list": {
                    "name": "News",
                    "stringid": "news",
                    "sender_url": "https://x.example",
                    "sender_reminder": "You signed up",
                }
            },
        )
        membership = {"contact": contact["id"], "list": new_list.json()["list"]["id"], "status": 1}
        client.post("/api/3/contactLists", json={"contactList": membership})
        assert emulator.courier.wait_idle(10)
    assert len(catcher.caught) == 2
    tagged, subscribed = catcher.caught
    assert tagged.path == "/webhooks/mail"
    assert tagged.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(tagged.body.decode())
    assert form["type"] == ["contact_tag_added"] and form["tag"] == ["fresh"]
    assert form["contact[email]"] == [contact["email"]]
    assert form["contact[id]"] == [contact["id"]]
    assert form["initiated_from"] == ["api"] and form["date_time"][0]
    assert "fresh" in form["contact[tags]"][0]
    sub = parse_qs(subscribed.body.decode())
    assert sub["type"] == ["subscribe"] and sub["list"] == [new_list.json()["list"]["id"]]
    assert [a.status for a in emulator.courier.log] == [500, 200]


def test_a_webhook_fires_only_for_its_sources(
    account: tuple[ActiveCampaignEmulator, httpx.Client], syncd_catcher: tuple[Catcher, str]
) -> None:
    emulator, client = account
    catcher, url = syncd_catcher
    client.post("/api/3/webhooks", json=hook(url + "/h", ["contact_tag_added"], ["admin"]))
    contact = client.get("/api/3/contacts").json()["contacts"][0]
    tag = client.post("/api/3/tags", json={"tag": {"tag": "other", "tagType": "contact"}})
    link = {"contactTag": {"contact": contact["id"], "tag": tag.json()["tag"]["id"]}}
    client.post("/api/3/contactTags", json=link)
    assert emulator.courier.wait_idle(10)
    assert catcher.caught == []  # a change through the API is not one made by an admin
