"""The emulator answers as Mailchimp's documentation says (API.md), and the connector finds
the API's root from the key."""

from __future__ import annotations

import httpx
import pytest

from syncd.connectors import ConnectorContext
from syncd.emulator import transport
from syncd_mailchimp.connector import MailchimpConnector, MailchimpOptions
from syncd_mailchimp.emulator import API_KEY, LIST_ID, MailchimpEmulator

ROOT = "https://us6.api.mailchimp.com/3.0/"


@pytest.fixture
def api() -> httpx.Client:
    emulator = MailchimpEmulator(seed=1, people=30)
    return httpx.Client(transport=transport(emulator), base_url=ROOT, auth=("any", API_KEY))


def test_errors_are_problem_details(api: httpx.Client) -> None:
    unknown = api.get("lists/nope/members")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert set(unknown.json()) == {"type", "title", "status", "detail", "instance"}
    assert api.get("ping", auth=("any", "not-the-key-us6")).json()["status"] == 401
    assert api.get("no/such/route").json()["title"] == "Resource Not Found"


def test_members_page_by_count_and_offset_from_a_change(api: httpx.Client) -> None:
    members = f"lists/{LIST_ID}/members"
    first = api.get(members).json()
    assert (len(first["members"]), first["total_items"]) == (10, 30)  # 10 unless asked
    assert len(api.get(members, params={"count": 5000}).json()["members"]) == 30
    newest = max(m["last_changed"] for m in first["members"])
    after = api.get(members, params={"since_last_changed": newest, "count": 1000}).json()
    assert all(m["last_changed"] > newest for m in after["members"])  # after, not at


def test_a_batch_takes_at_most_500_members(api: httpx.Client) -> None:
    rows = [{"email_address": f"p{n}@example.com", "status": "subscribed"} for n in range(501)]
    assert api.post(f"lists/{LIST_ID}", json={"members": rows}).status_code == 400
    done = api.post(f"lists/{LIST_ID}", json={"members": rows[:500]}).json()
    assert (done["total_created"], done["error_count"]) == (500, 0)


def test_the_api_root_is_the_data_center_of_the_key() -> None:
    options = MailchimpOptions.model_validate({"api_key": "abc-us21", "list_id": LIST_ID})
    connector = MailchimpConnector(options, ConnectorContext("mc"))
    assert connector.base_url() == "https://us21.api.mailchimp.com/3.0/"
    with pytest.raises(ValueError, match="ends with the account's data center"):
        MailchimpOptions.model_validate({"api_key": "abc", "list_id": LIST_ID})
