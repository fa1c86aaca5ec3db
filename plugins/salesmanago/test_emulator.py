"""The SALESmanago emulator with plain httpx, as any client of the vendor's API would use it:
signed bodies, errors in HTTP 200, paging with hasMore, the batch upserts, the rate limit."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from syncd.emulator import ManualClock, running, transport
from syncd_plugins.salesmanago.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_OWNER,
    DEFAULT_SECRET,
    SalesmanagoEmulator,
)
from syncd_plugins.salesmanago.signed import signature

START = ManualClock.START  # where syncd_clock starts
BASE = "https://app3.salesmanago.com/api/"


def signed(body: dict[str, Any], *, secret: str = DEFAULT_SECRET, key: str = "k-123") -> Any:
    sha = signature(key, DEFAULT_CLIENT_ID, secret)
    return {
        "clientId": DEFAULT_CLIENT_ID,
        "apiKey": key,
        "requestTime": int(START.timestamp() * 1000),
        "sha": sha,
        "owner": DEFAULT_OWNER,
        **body,
    }


@pytest.fixture
def emu(syncd_clock: ManualClock) -> SalesmanagoEmulator:
    return SalesmanagoEmulator(seed=5, people=120, clock=syncd_clock)


@pytest.fixture
def client(emu: SalesmanagoEmulator) -> httpx.Client:
    return httpx.Client(transport=transport(emu), base_url=BASE)


def call(client: httpx.Client, method: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = client.post(method, json=signed(body, **kw))
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def test_a_wrong_signature_answers_success_false_in_http_200(client: httpx.Client) -> None:
    body = call(client, "contact/tags", {}, secret="not-the-secret")
    assert body["success"] is False
    assert "sha" in body["message"][0]
    unsigned = client.post("contact/tags", json={"owner": DEFAULT_OWNER})
    assert unsigned.status_code == 200 and unsigned.json()["success"] is False
    assert call(client, "contact/tags", {})["success"] is True
    # any apiKey the caller chooses works, signed with it
    assert call(client, "contact/tags", {}, key="another-random-key")["success"] is True


def test_errors_come_as_success_false(client: httpx.Client) -> None:
    assert call(client, "contact/tags", {"owner": "stranger@example.com"})["success"] is False
    broken = client.post("contact/upsert", content=b"{not json", headers={"X": "1"})
    assert broken.status_code == 200 and broken.json()["success"] is False
    bad = call(client, "contact/upsert", {"contact": {"email": "not-an-address"}})
    assert bad == {"success": False, "message": [bad["message"][0]]}
    assert "invalid" in bad["message"][0]


def test_sample_tags_encode_behaviour(emu: SalesmanagoEmulator) -> None:
    contacts = emu.state()["contacts"]
    tags = [t["tag"] for c in contacts for t in c["contactTags"]]
    assert "CHROME" in tags and "KOSIARKA_AKUMULATOROWA" in tags
    assert "POPUP_PODSTRONA_BLOG" in tags
    counters = [t for t in tags if re.fullmatch(r"CENNIK \(\d+\)", t)]
    assert counters and any(t != "CENNIK (1)" for t in counters)
    scoring = [t for c in contacts for t in c["contactTags"] if t["score"]]
    assert scoring and all(t["tag"] == "SCORING_ZAKUPY" for t in scoring)
    # the same seed makes the same account
    again = SalesmanagoEmulator(seed=5, people=120, clock=ManualClock(START)).state()
    assert again["contacts"] == contacts


def test_modified_contacts_page_with_has_more_then_list_by_id(
    client: httpx.Client, emu: SalesmanagoEmulator
) -> None:
    contacts = emu.state()["contacts"]
    window = {"from": 0, "to": int(START.timestamp() * 1000), "size": 25}
    seen: list[str] = []
    page = 0
    while True:
        body = call(client, "contact/paginatedModifiedContacts", {**window, "page": page})
        assert body["success"] is True
        seen += [r["contactId"] for r in body["modifiedContacts"]]
        if not body["hasMore"]:
            break
        page += 1
    assert page == (len(contacts) - 1) // 25
    assert sorted(seen) == sorted(c["id"] for c in contacts)
    full = call(client, "contact/listById", {"contactId": seen[:3]})["contacts"]
    assert [c["id"] for c in full] == seen[:3]
    assert {"email", "optedOut", "score", "contactTags", "properties", "contactExtEvents"} <= set(
        full[0]
    )
    assert call(client, "contact/listById", {"contactId": seen[:101]})["success"] is False


def test_upsert_adds_and_removes_tags_and_changes_the_window(
    client: httpx.Client, emu: SalesmanagoEmulator, syncd_clock: ManualClock
) -> None:
    syncd_clock.advance(3600)
    now = int(syncd_clock().timestamp() * 1000)
    contact = emu.state()["contacts"][0]
    old_tag = contact["contactTags"][0]["tag"]
    body = {
        "contact": {"email": contact["email"]},
        "tags": ["VIP"],
        "removeTags": [old_tag],
        "forceOptOut": True,
        "properties": {"tier": "gold"},
    }
    assert call(client, "contact/upsert", body) == {
        "success": True,
        "message": [],
        "contactId": contact["id"],
    }
    after = next(c for c in emu.state()["contacts"] if c["id"] == contact["id"])
    tags = {t["tag"] for t in after["contactTags"]}
    assert "VIP" in tags and old_tag not in tags
    assert after["optedOut"] is True
    assert {"name": "tier", "value": "gold"} in after["properties"]
    found = call(
        client, "contact/paginatedModifiedContacts", {"from": now, "to": now, "page": 0, "size": 10}
    )
    assert [r["contactId"] for r in found["modifiedContacts"]] == [contact["id"]]


def test_the_async_batch_upsert_answers_a_request_id(
    client: httpx.Client, emu: SalesmanagoEmulator, syncd_clock: ManualClock
) -> None:
    emu.upsert_delay = 5.0
    details = [{"contact": {"email": f"new{n}@example.com"}, "tags": ["NEW"]} for n in range(3)]
    body = call(client, "contact/batchupsertv2", {"upsertDetails": details, "fireEvents": False})
    request_id = body["requestId"]
    assert body["success"] is True and request_id
    assert call(client, "job/status", {"requestId": request_id})["status"] == "IN_PROGRESS"
    assert not [c for c in emu.state()["contacts"] if c["email"].startswith("new")]
    syncd_clock.advance(5)
    status = call(client, "job/status", {"requestId": request_id})
    assert status["status"] == "DONE" and len(status["contactIds"]) == 3
    assert len([c for c in emu.state()["contacts"] if c["email"].startswith("new")]) == 3
    assert call(client, "job/status", {"requestId": "nope"})["success"] is False


def test_the_sync_batch_upsert_names_the_contacts(
    client: httpx.Client, emu: SalesmanagoEmulator
) -> None:
    known = emu.state()["contacts"][1]
    details = [
        {"contact": {"email": known["email"].upper()}, "tags": ["A"]},
        {"contact": {"email": "fresh@example.com", "name": "Fresh Person"}, "tags": ["A"]},
    ]
    body = call(client, "contact/batchupsert", {"upsertDetails": details})
    assert body["contactIds"][known["email"]] == known["id"]
    assert set(body["contactIds"]) == {known["email"], "fresh@example.com"}
    # one bad address refuses the whole batch, as an error in HTTP 200
    bad = [*details, {"contact": {"email": "broken"}}]
    assert call(client, "contact/batchupsert", {"upsertDetails": bad})["success"] is False


def test_external_events_are_added_and_listed(
    client: httpx.Client, emu: SalesmanagoEmulator
) -> None:
    contact = emu.state()["contacts"][2]
    event = {"contactExtEventType": "DOWNLOAD", "date": 1717000000000, "description": "a.pdf"}
    body = call(client, "contact/addContactExtEvent", {"email": contact["email"],
                                                       "contactEvent": event})  # fmt: skip
    listed = call(client, "contact/listById", {"contactId": [contact["id"]]})["contacts"][0]
    assert {**event, "eventId": body["eventId"]} in listed["contactExtEvents"]


def test_the_rate_limit_is_configurable(client: httpx.Client, emu: SalesmanagoEmulator) -> None:
    emu.set_rate_limit(2)
    statuses = [client.post("contact/tags", json=signed({})).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = emu.requests(status=429)
    assert len(limited) == 1 and limited[0].fault == "rate_limit"


def test_control_routes_show_state_and_requests(client: httpx.Client) -> None:
    call(client, "contact/tags", {})
    state = client.get("https://app3.salesmanago.com/_emulator/state").json()
    assert state["owner"] == DEFAULT_OWNER and state["contacts"]
    log = client.get("https://app3.salesmanago.com/_emulator/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log["requests"]] == [
        ("POST", "/api/contact/tags", 200)
    ]


def test_the_signature_is_sha1_of_key_client_and_secret_in_lowercase_hex() -> None:
    # the one signature of the plugin, which the connector and the emulator both use
    sha = signature("k-123", DEFAULT_CLIENT_ID, DEFAULT_SECRET)
    assert sha == "d6d87e3aa7fa22d0c3adc2b3fdaf748e1131f72b"


# --- what syncd demo asks of the emulator ----------------------------------------------------


def test_its_demo_part_holds_tags_by_email_and_points_a_connector_at_it(
    client: httpx.Client, emu: SalesmanagoEmulator
) -> None:
    contact = emu.state()["contacts"][0]
    call(client, "contact/managetags", {"email": contact["email"], "tags": ["LOYAL"]})
    held = emu.holds()
    assert set(held) == emu.emails() == {c["email"].lower() for c in emu.state()["contacts"]}
    assert "LOYAL" in held[contact["email"].lower()].tags
    options = emu.connector_config("http://127.0.0.1:9")
    assert options["type"] == "salesmanago" and options["server"] == "http://127.0.0.1:9"
    assert (options["client_id"], options["api_secret"], options["owner"]) == (
        DEFAULT_CLIENT_ID,
        DEFAULT_SECRET,
        DEFAULT_OWNER,
    )


def test_the_demo_activity_is_a_cart_sent_through_the_signed_api(syncd_clock: ManualClock) -> None:
    emu = SalesmanagoEmulator(seed=5, people=40, clock=syncd_clock, rate_limit=0)
    known = sorted(emu.emails())
    with running(emu) as url:
        assert emu.make_activity(url, ["nobody@example.com"]) is None
        done = emu.make_activity(url, ["nobody@example.com", known[3], known[0]])
    assert done is not None and done.emails == (known[3],)
    assert done.call == "POST /api/contact/addContactExtEvent" and "cart" in done.what
    served = emu.requests(path="/api/contact/addContactExtEvent")
    assert [(r.method, r.status) for r in served] == [("POST", 200)]
    contact = next(c for c in emu.state()["contacts"] if c["email"].lower() == known[3])
    cart = contact["contactExtEvents"][-1]
    assert cart["contactExtEventType"] == "CART" and cart["date"] == int(START.timestamp() * 1000)


def test_an_unknown_method_or_verb_answers_success_false_in_http_200(
    client: httpx.Client,
) -> None:
    for response in (
        client.post("contact/noSuchMethod", json=signed({})),
        client.post("/nowhere", json=signed({})),
        client.get("contact/upsert"),
        client.delete("contact/tags"),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["success"] is False
        assert isinstance(body["message"], list) and body["message"][0]
    unknown = client.post("contact/noSuchMethod", json=signed({})).json()
    assert "contact/noSuchMethod" in unknown["message"][0]


def test_contacts_are_read_by_email_basic_and_whole(
    emu: SalesmanagoEmulator, client: httpx.Client
) -> None:
    first, second = emu.state()["contacts"][:2]
    emails = [first["email"], second["email"], "nobody@example.com"]
    basic = call(client, "contact/basic", {"email": emails})
    assert basic["success"] is True
    assert [c["contactId"] for c in basic["contacts"]] == [first["id"], second["id"]]
    assert "contactTags" not in basic["contacts"][0]
    assert basic["contacts"][0]["address"] == first["address"]
    whole = call(client, "contact/list", {"email": emails})
    assert whole["contacts"] == [first, second]
    assert call(client, "contact/basic", {"email": []})["success"] is False
    assert call(client, "contact/hasContact", {"email": first["email"]}) == {
        "success": True,
        "message": [],
        "result": True,
        "contactId": first["id"],
    }
    assert call(client, "contact/hasContact", {"email": "nobody@example.com"})["result"] is False


def test_modified_contacts_unpaged_equal_the_paged_ones(
    emu: SalesmanagoEmulator, client: httpx.Client
) -> None:
    window = {"from": 0, "to": int(START.timestamp() * 1000) + 1}
    everything = call(client, "contact/modifiedContacts", window)["modifiedContacts"]
    assert len(everything) == len(emu.state()["contacts"])
    paged = call(client, "contact/paginatedModifiedContacts", {**window, "size": 1000})
    assert paged["modifiedContacts"] == everything
    assert call(client, "contact/modifiedContacts", {"from": "x"})["success"] is False


def test_delete_marks_a_contact_deleted_or_removes_it_permanently(
    emu: SalesmanagoEmulator, client: httpx.Client
) -> None:
    first, second = emu.state()["contacts"][:2]
    assert call(client, "contact/delete", {"email": first["email"]})["contactId"] == first["id"]
    [kept] = [c for c in emu.state()["contacts"] if c["id"] == first["id"]]
    assert kept["deleted"] is True
    # sent again through the API, a removed contact is restored
    call(client, "contact/upsert", {"contact": {"email": first["email"]}})
    [back] = [c for c in emu.state()["contacts"] if c["id"] == first["id"]]
    assert back["deleted"] is False
    call(client, "contact/delete", {"email": second["email"], "permanently": True})
    assert second["id"] not in {c["id"] for c in emu.state()["contacts"]}
    assert call(client, "contact/delete", {"email": second["email"]})["success"] is False


def test_a_contact_is_found_by_email_after_another_with_it_was_deleted_for_good(
    emu: SalesmanagoEmulator,
) -> None:
    """Looked up in the index of e-mails: any case, and a contact deleted for good is not
    found, while the one made with its e-mail after it is."""
    account = emu.account
    first = next(iter(account.contacts.values()))
    email = first["email"]
    assert account.by_email(f" {email.upper()} ") is first
    del account.contacts[first["id"]]  # as contact/delete with permanently does
    assert account.by_email(email) is None
    again = account.upsert({"contact": {"email": email}}, emu.now_ms())
    assert again is not first and account.by_email(email) is again


def test_modified_contacts_follow_every_change_made_after_a_read(
    client: httpx.Client, emu: SalesmanagoEmulator, syncd_clock: ManualClock
) -> None:
    """The window is read again after each kind of change: a contact opted out, one deleted
    (marked, and for good through the API and by hand), one new, one with a new event."""
    window = {"from": 0, "to": 10**15}

    def listed() -> list[str]:
        return [
            r["contactId"]
            for r in call(client, "contact/modifiedContacts", window)["modifiedContacts"]
        ]

    def expected() -> list[str]:
        held = emu.account.contacts.values()
        return [c["id"] for c in sorted(held, key=lambda c: (c["modifiedOn"], c["id"]))]

    before = listed()
    assert before == expected() and len(before) > 5
    first, second, third, fourth, fifth, sixth = (emu.account.contacts[i] for i in before[:6])
    event = {"contactExtEventType": "VISIT", "date": 1, "description": "/pricing"}
    steps = [
        ("contact/optout", {"email": first["email"]}),
        ("contact/delete", {"email": second["email"]}),
        ("contact/delete", {"email": third["email"], "permanently": True}),
        ("contact/upsert", {"contact": {"email": "new.one@example.com"}}),
        ("contact/upsert", {"contact": {"email": fourth["email"]}, "tags": ["VIP"]}),
        ("contact/addContactExtEvent", {"email": sixth["email"], "contactEvent": event}),
    ]
    for method, body in steps:
        syncd_clock.advance(60)
        assert call(client, method, body)["success"] is True
        now = listed()
        assert now == expected() and now != before
        before = now
    assert before[-2:] == [fourth["id"], sixth["id"]] and third["id"] not in before
    del emu.account.contacts[fifth["id"]]  # by hand, as a test may
    assert listed() == expected() and fifth["id"] not in listed()
