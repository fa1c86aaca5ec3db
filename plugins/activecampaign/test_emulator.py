"""The ActiveCampaign emulator, driven with plain httpx as a real AC client would drive AC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from syncd.emulator import ManualClock, running, transport
from syncd.plugins import get_plugin_manager
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator


@pytest.fixture
def emu(syncd_clock: ManualClock) -> ActiveCampaignEmulator:
    return ActiveCampaignEmulator(seed=11, clock=syncd_clock, rate_limit=0)


@pytest.fixture
def ac(emu: ActiveCampaignEmulator) -> Iterator[httpx.Client]:
    headers = {"Api-Token": DEFAULT_TOKEN}
    with httpx.Client(
        transport=transport(emu), base_url="https://acme.api-us1.com/api/3", headers=headers
    ) as client:
        yield client


def all_pages(ac: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = ac.get(path, params={**params, "limit": 100, "offset": len(rows)}).json()
        rows += page[key]
        if len(rows) >= int(page["meta"]["total"]) or not page[key]:
            return rows


def test_the_api_token_is_checked(emu: ActiveCampaignEmulator) -> None:
    with httpx.Client(transport=transport(emu), base_url="http://ac/api/3") as bare:
        for headers in ({}, {"Api-Token": "wrong"}):
            answer = bare.get("/contacts", headers=headers)
            assert answer.status_code == 403
            assert answer.json() == {"message": "You are not authorized to access this resource"}
        assert bare.get("/contacts", headers={"Api-Token": DEFAULT_TOKEN}).status_code == 200


def test_ids_and_totals_are_strings_and_pages_hold_at_most_100(ac: httpx.Client) -> None:
    page = ac.get("/contacts", params={"limit": 500}).json()
    assert len(page["contacts"]) == 100
    assert isinstance(page["meta"]["total"], str) and int(page["meta"]["total"]) > 100
    contact = page["contacts"][0]
    assert isinstance(contact["id"], str) and isinstance(contact["bounced_hard"], str)
    assert contact["udate"].endswith("-05:00") and "T" in contact["udate"]
    assert len(ac.get("/contacts").json()["contacts"]) == 20  # the default page


def test_offset_and_keyset_paging_see_every_contact_once(ac: httpx.Client) -> None:
    total = int(ac.get("/contacts").json()["meta"]["total"])
    by_offset = all_pages(ac, "/contacts", "contacts")
    by_keyset: list[dict[str, Any]] = []
    last = "0"
    while True:
        params = {"orders[id]": "ASC", "id_greater": last, "limit": "100"}
        page = ac.get("/contacts", params=params).json()["contacts"]
        if not page:
            break
        by_keyset += page
        last = page[-1]["id"]
    ids = [c["id"] for c in by_offset]
    assert len(ids) == len(set(ids)) == total
    assert [c["id"] for c in by_keyset] == sorted(ids, key=int)


def test_a_listing_read_page_by_page_shows_each_change_made_between_its_pages(
    ac: httpx.Client, emu: ActiveCampaignEmulator, syncd_clock: ManualClock
) -> None:
    """A listing is filtered and sorted once for its pages (``AccountState.listing``): a write
    through the API, or a change the account makes itself, between two pages shows in the
    next page and its total, as AC reads its tables on every request."""
    params: dict[str, str | int] = {"orders[udate]": "ASC", "orders[id]": "ASC", "limit": 5}
    first = ac.get("/contacts", params=params).json()
    oldest = first["contacts"][0]
    syncd_clock.advance(60)
    ac.put(f"/contacts/{oldest['id']}", json={"contact": {"firstName": "Moved"}})
    again = ac.get("/contacts", params=params).json()
    assert again["contacts"][0]["id"] != oldest["id"]  # updated: now last by udate
    newest = ac.get("/contacts", params={**params, "offset": int(first["meta"]["total"]) - 1})
    assert newest.json()["contacts"][0]["id"] == oldest["id"]
    total = int(ac.get("/contactTags", params={"limit": 1}).json()["meta"]["total"])
    tag = ac.post("/tags", json={"tag": {"tag": "Listed", "tagType": "contact"}}).json()["tag"]
    emu.account.add_tag(oldest["id"], tag["id"], syncd_clock())  # not through the API
    assert ac.get("/contactTags", params={"limit": 1}).json()["meta"]["total"] == str(total + 1)
    after: dict[str, str | int] = {"orders[id]": "ASC", "id_greater": oldest["id"], "limit": 100}
    up = ac.get("/contacts", params=after).json()
    descending = ac.get("/contacts", params={**after, "orders[id]": "DESC"}).json()
    for page in (up, descending):
        ids = [int(c["id"]) for c in page["contacts"]]
        assert ids and min(ids) > int(oldest["id"])
        assert ids == sorted(ids, reverse=page is descending)
    assert up["meta"]["total"] == descending["meta"]["total"]


def test_orders_sort_descending(ac: httpx.Client) -> None:
    page = ac.get("/contacts", params={"orders[udate]": "DESC", "limit": 50}).json()["contacts"]
    stamps = [datetime.fromisoformat(c["udate"]) for c in page]
    assert stamps == sorted(stamps, reverse=True)


def test_updated_after_sees_only_changed_contacts(
    ac: httpx.Client, syncd_clock: ManualClock
) -> None:
    syncd_clock.advance(3600)
    since = syncd_clock().isoformat()
    assert ac.get("/contacts", params={"filters[updated_after]": since}).json()["contacts"] == []
    contact = ac.get("/contacts").json()["contacts"][3]
    syncd_clock.advance(5)
    ac.post("/contact/sync", json={"contact": {"email": contact["email"], "firstName": "New"}})
    syncd_clock.advance(5)
    tag = ac.post("/tags", json={"tag": {"tag": "fresh", "tagType": "contact"}}).json()["tag"]
    other = ac.get("/contacts").json()["contacts"][7]
    ac.post("/contactTags", json={"contactTag": {"contact": other["id"], "tag": tag["id"]}})
    changed = ac.get("/contacts", params={"filters[updated_after]": since}).json()
    assert {c["id"] for c in changed["contacts"]} == {contact["id"], other["id"]}
    assert changed["meta"]["total"] == "2"


def test_email_filters_and_tag_search(ac: httpx.Client) -> None:
    email = ac.get("/contacts").json()["contacts"][2]["email"]
    found = ac.get("/contacts", params={"filters[email]": email.upper()}).json()["contacts"]
    assert [c["email"] for c in found] == [email]
    assert ac.get("/contacts", params={"email": email}).json()["meta"]["total"] == "1"
    names = [t["tag"] for t in ac.get("/tags", params={"search": "SIGN"}).json()["tags"]]
    assert names == ["newsletter-signup"]  # a part of the name matches
    assert ac.get("/tags", params={"search": "nothing-like-it"}).json()["meta"]["total"] == "0"


def test_contact_sync_creates_then_updates(ac: httpx.Client, syncd_clock: ManualClock) -> None:
    created = ac.post(
        "/contact/sync", json={"contact": {"email": "New.One@example.com", "firstName": "New"}}
    )
    assert created.status_code == 201
    contact = created.json()["contact"]
    syncd_clock.advance(60)
    updated = ac.post(
        "/contact/sync",
        json={
            "contact": {
                "email": "new.one@example.com",
                "lastName": "One",
                "fieldValues": [{"field": "1", "value": "Lyon"}],
            }
        },
    )
    assert updated.status_code == 200
    again = updated.json()
    assert again["contact"]["id"] == contact["id"]
    assert (again["contact"]["firstName"], again["contact"]["lastName"]) == ("New", "One")
    assert again["contact"]["udate"] > contact["udate"]
    assert again["fieldValues"][0]["value"] == "Lyon"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"contact": {"firstName": "x"}}, "/data/attributes/email"),
        ({"nothing": {}}, "/data/attributes/contact"),
        ({"contact": {"email": "not-an-address"}}, "/data/attributes/email"),
    ],
)
def test_contact_sync_errors_name_the_attribute(
    ac: httpx.Client, body: dict[str, Any], pointer: str
) -> None:
    answer = ac.post("/contact/sync", json=body)
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["status"] == 422 and error["source"]["pointer"] == pointer


def test_a_missing_contact_is_no_result(ac: httpx.Client) -> None:
    answer = ac.get("/contacts/99999")
    assert answer.status_code == 404
    assert answer.json() == {"message": "No Result found for Subscriber with id 99999"}


def test_tags_are_created_once(ac: httpx.Client) -> None:
    made = ac.post("/tags", json={"tag": {"tag": "vip", "tagType": "contact", "description": ""}})
    assert made.status_code == 201 and made.json()["tag"]["tag"] == "vip"
    assert isinstance(made.json()["tag"]["id"], str)
    again = ac.post("/tags", json={"tag": {"tag": "VIP", "tagType": "contact"}})
    assert again.status_code == 422
    assert again.json()["errors"][0]["source"]["pointer"] == "/data/attributes/tag"
    assert ac.post("/tags", json={"tag": {}}).status_code == 422


def test_contact_tags_added_listed_and_removed(ac: httpx.Client, syncd_clock: ManualClock) -> None:
    tag_id = ac.post("/tags", json={"tag": {"tag": "vip", "tagType": "contact"}}).json()["tag"]
    contact = ac.get("/contacts").json()["contacts"][0]
    syncd_clock.advance(10)
    body = {"contactTag": {"contact": contact["id"], "tag": tag_id["id"]}}
    added = ac.post("/contactTags", json=body)
    assert added.status_code == 201
    link = added.json()["contactTag"]
    assert isinstance(link["id"], str) and link["contact"] == contact["id"]  # ids are text
    assert added.json()["contacts"][0]["udate"] > contact["udate"]
    same = ac.post("/contactTags", json=body)
    assert same.status_code == 200 and same.json()["contactTag"]["id"] == link["id"]
    mine = ac.get(f"/contacts/{contact['id']}/contactTags").json()["contactTags"]
    assert str(link["id"]) in {t["id"] for t in mine}
    listed = ac.get("/contactTags", params={"filters[tag]": tag_id["id"]}).json()
    assert listed["meta"]["total"] == "1"
    assert ac.delete(f"/contactTags/{link['id']}").status_code == 200
    gone = ac.delete(f"/contactTags/{link['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"message": f"No Result found for SubscriberTag with id {link['id']}"}
    assert ac.get("/contactTags", params={"filters[tag]": tag_id["id"]}).json()["meta"] == {
        "total": "0"
    }


def test_contact_tag_errors(ac: httpx.Client) -> None:
    no_contact = ac.post("/contactTags", json={"contactTag": {"contact": "99999", "tag": "1"}})
    assert no_contact.status_code == 404
    assert no_contact.json() == {
        "errors": [{"status": 404, "title": "Not Found", "detail": "Contact not found"}]
    }
    lacking = ac.post("/contactTags", json={"contactTag": {"tag": "1"}})
    assert lacking.json()["errors"][0]["source"] == {"pointer": "/data/attributes/contact"}


def test_lists_and_subscriptions(ac: httpx.Client) -> None:
    assert ac.post("/lists", json={"list": {"name": "VIP"}}).status_code == 422
    made = ac.post(
        "/lists",
        json={
            "list": {
                "name": "VIP",
                "stringid": "vip",
                "sender_url": "https://shop.example.com",
                "sender_reminder": "You bought",
            }
        },
    )
    list_id = made.json()["list"]["id"]
    contact = ac.get("/contacts").json()["contacts"][5]["id"]
    for status in (1, 2, 1):
        body = {"contactList": {"list": list_id, "contact": contact, "status": status}}
        answer = ac.post("/contactLists", json=body)
        assert answer.status_code == 201
        assert answer.json()["contactList"]["status"] == str(status)
    rows = ac.get("/contactLists", params={"filters[list]": list_id}).json()["contactLists"]
    assert [(r["contact"], r["status"]) for r in rows] == [(contact, "1")]
    bad = {"contactList": {"list": list_id, "contact": contact, "status": 3}}
    assert ac.post("/contactLists", json=bad).status_code == 422


def test_fields_and_field_values(ac: httpx.Client) -> None:
    fields = ac.get("/fields").json()
    assert [f["title"] for f in fields["fields"]] == ["City", "Loyalty tier", "Last order date"]
    contact = ac.get("/contacts").json()["contacts"][0]["id"]
    set_ = ac.post(
        "/fieldValues", json={"fieldValue": {"contact": contact, "field": "2", "value": "platinum"}}
    )
    assert set_.status_code == 201
    values = ac.get("/fieldValues", params={"filters[contact]": contact}).json()["fieldValues"]
    assert ("2", "platinum") in {(v["field"], v["value"]) for v in values}


def test_events_orders_and_bounces(ac: httpx.Client) -> None:
    activities = all_pages(ac, "/emailActivities", "emailActivities")
    assert {a["event"] for a in activities} == {"open", "click"}
    assert all(datetime.fromisoformat(a["tstamp"]) for a in activities)
    orders = all_pages(ac, "/ecomOrders", "ecomOrders")
    assert {o["state"] for o in orders} <= {0, 1, 2, 3, 4} and 2 in {o["state"] for o in orders}
    for order in orders:  # amounts are numbers of cents; products are ids of their own rows
        assert all(isinstance(i, str) for i in order["orderProducts"])
        assert order["totalProducts"] == len(order["orderProducts"])
        lines = ac.get(f"/ecomOrders/{order['id']}/orderProducts").json()
        assert [p["id"] for p in lines["ecomOrderProducts"]] == order["orderProducts"]
        assert lines["meta"]["total"] == str(len(order["orderProducts"]))
        products = sum(p["price"] * p["quantity"] for p in lines["ecomOrderProducts"])
        assert order["totalPrice"] == products + order["shippingAmount"] - order["discountAmount"]
        assert order["links"]["orderProducts"].endswith(f"/ecomOrders/{order['id']}/orderProducts")
    email = orders[0]["email"]
    mine = ac.get("/ecomOrders", params={"filters[email]": email}).json()["ecomOrders"]
    assert mine and {o["email"] for o in mine} == {email}
    visits = [
        log
        for c in ac.get("/contacts", params={"limit": 30}).json()["contacts"]
        for log in ac.get(f"/contacts/{c['id']}/trackingLogs").json()["trackingLogs"]
    ]
    assert visits and {v["type"] for v in visits} == {"site"}
    assert all(v["value"].startswith("https://shop.example.com/") for v in visits)
    bounces = all_pages(ac, "/bounceLogs", "bounceLogs")
    hard = {b["contact"] for b in bounces if b["bounceType"] == "hard"}
    for cid in hard:
        assert int(ac.get(f"/contacts/{cid}").json()["contact"]["bounced_hard"]) >= 1


def bulk_contact(n: int, **extra: Any) -> dict[str, Any]:
    return {"email": f"bulk{n}@example.com", "first_name": f"B{n}", **extra}


def test_bulk_import_is_queued_then_applied(ac: httpx.Client, emu: ActiveCampaignEmulator) -> None:
    existing = ac.get("/contacts").json()["contacts"][0]
    unsubscribed = ac.get("/contactLists", params={"filters[status]": "2"}).json()
    quitter = unsubscribed["contactLists"][0]
    quitter_email = ac.get(f"/contacts/{quitter['contact']}").json()["contact"]["email"]
    contacts = [
        bulk_contact(
            n,
            tags=["vip", "customer"],
            fields=[{"id": 2, "value": "gold"}],
            subscribe=[{"listid": "1"}],
        )
        for n in range(3)
    ]
    contacts.append({"email": existing["email"], "unsubscribe": [{"listid": 2}]})
    contacts.append({"email": quitter_email, "subscribe": [{"listid": quitter["list"]}]})
    answer = ac.post("/import/bulk_import", json={"contacts": contacts}).json()
    assert answer["success"] == 1 and answer["queued_contacts"] == 5
    assert all(c["email"] != "bulk0@example.com" for c in emu.snapshot()["contacts"])
    info = ac.get("/import/info", params={"batchId": answer["batchId"]}).json()
    assert info["status"] == "completed" and len(info["success"]) == 5 and info["failure"] == []
    new = ac.get("/contacts", params={"email": "bulk0@example.com"}).json()["contacts"][0]
    tags = {t["tag"] for t in ac.get("/tags").json()["tags"]}
    assert {"vip", "customer"} <= tags
    links = ac.get(f"/contacts/{new['id']}/contactTags").json()["contactTags"]
    assert len(links) == 2
    lists = ac.get(f"/contacts/{new['id']}/contactLists").json()["contactLists"]
    assert [(x["list"], x["status"]) for x in lists] == [("1", "1")]
    values = ac.get(f"/contacts/{new['id']}/fieldValues").json()["fieldValues"]
    assert [(v["field"], v["value"]) for v in values] == [("2", "gold")]
    old = ac.get(f"/contacts/{existing['id']}/contactLists").json()["contactLists"]
    assert ("2", "2") in {(x["list"], x["status"]) for x in old}
    still = ac.get(
        "/contactLists",
        params={"filters[contact]": quitter["contact"], "filters[list]": quitter["list"]},
    )
    assert still.json()["contactLists"][0]["status"] == "2"  # bulk never resubscribes


def test_bulk_import_validation(ac: httpx.Client) -> None:
    too_many = ac.post(
        "/import/bulk_import", json={"contacts": [bulk_contact(n) for n in range(251)]}
    )
    assert too_many.status_code == 400 and too_many.json()["success"] == 0
    bad = ac.post("/import/bulk_import", json={"contacts": [bulk_contact(1), {"email": "nope"}]})
    assert bad.status_code == 400
    assert bad.json()["failureReasons"] == [
        {"contact": 1, "failureReason": "Field 'email' incorrect format"}
    ]
    assert ac.get("/import/info").status_code == 400
    assert ac.get("/import/info", params={"batchId": "nope"}).status_code == 404
    ok = ac.post("/import/bulk_import", json={"contacts": [bulk_contact(n) for n in range(250)]})
    assert ok.json()["queued_contacts"] == 250


def test_bulk_imports_are_capped_at_100_a_minute(
    ac: httpx.Client, syncd_clock: ManualClock
) -> None:
    body = {"contacts": [bulk_contact(1)]}
    statuses = [ac.post("/import/bulk_import", json=body).status_code for _ in range(101)]
    assert statuses == [200] * 100 + [429]
    refused = ac.post("/import/bulk_import", json=body)
    assert refused.json()["message"] == "Rate limit exceeded."
    assert int(refused.headers["Retry-After"]) >= 1
    syncd_clock.advance(60)
    assert ac.post("/import/bulk_import", json=body).status_code == 200


def test_the_bulk_import_cap_can_be_raised_after_the_account_is_made(
    emu: ActiveCampaignEmulator, ac: httpx.Client
) -> None:
    emu.imports_per_minute = 150  # as for an account whose limit was raised
    body = {"contacts": [bulk_contact(1)]}
    statuses = [ac.post("/import/bulk_import", json=body).status_code for _ in range(151)]
    assert statuses == [200] * 150 + [429] and emu.imports_per_minute == 150


def test_five_requests_a_second(syncd_clock: ManualClock) -> None:
    emu = ActiveCampaignEmulator(seed=1, clock=syncd_clock)  # the vendor's limit by default
    headers = {"Api-Token": DEFAULT_TOKEN}
    with httpx.Client(transport=transport(emu), base_url="http://ac/api/3", headers=headers) as ac:
        statuses = [ac.get("/tags").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        refused = ac.get("/tags")
        assert refused.headers["Retry-After"] == "1"
        syncd_clock.advance(1)
        assert [ac.get("/tags").status_code for _ in range(6)] == [200] * 5 + [429]


def test_every_answer_carries_the_rate_headers(syncd_clock: ManualClock) -> None:
    emu = ActiveCampaignEmulator(seed=1, clock=syncd_clock)
    headers = {"Api-Token": DEFAULT_TOKEN}
    with httpx.Client(transport=transport(emu), base_url="http://ac/api/3", headers=headers) as ac:
        answers = [ac.get("/tags") for _ in range(6)]
        assert [a.headers["RateLimit-Limit"] for a in answers] == ["5"] * 6
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
        assert answers[-1].status_code == 429 and "Retry-After" in answers[-1].headers
        syncd_clock.advance(1)
        assert ac.get("/nothing-here").headers["RateLimit-Remaining"] == "4"  # errors too
        assert "RateLimit-Limit" not in ac.get("http://ac/_emulator/state").headers


def test_the_api_root_answers_a_valid_token(emu: ActiveCampaignEmulator) -> None:
    with httpx.Client(transport=transport(emu), base_url="http://ac") as bare:
        for path in ("/api/3/", "/api/3"):
            assert bare.get(path, headers={"Api-Token": DEFAULT_TOKEN}).status_code == 200
            assert bare.get(path, headers={"Api-Token": "wrong"}).status_code == 403


def test_unknown_paths_and_methods_answer_acs_404(ac: httpx.Client) -> None:
    for answer in (
        ac.get("/nothing-here"),
        ac.get("/contacts/1/nothing"),
        ac.put("/bounceLogs", json={}),
        ac.patch("/contacts", json={}),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["errors"][0]["status"] == 404


def test_documented_collections_without_rows_answer_an_empty_page(ac: httpx.Client) -> None:
    for key in ("deals", "campaigns", "automations", "accounts", "segments", "activities"):
        assert ac.get(f"/{key}", params={"limit": 100}).json() == {
            key: [],
            "meta": {"total": "0"},
        }


def test_users_connections_and_rows_by_id(ac: httpx.Client) -> None:
    me = ac.get("/users/me").json()["user"]
    assert ac.get("/users").json()["users"] == [{k: v for k, v in me.items() if k != "links"}]
    assert ac.get(f"/users/{me['id']}").json()["user"]["email"] == me["email"]
    connection = ac.get("/connections").json()["connections"][0]
    order = ac.get("/ecomOrders").json()["ecomOrders"][0]
    assert order["connectionid"] == connection["id"]
    assert ac.get(f"/ecomOrders/{order['id']}").json()["ecomOrder"]["id"] == order["id"]
    product = ac.get(f"/ecomOrderProducts/{order['orderProducts'][0]}").json()
    assert product["ecomOrderProduct"]["orderid"] == order["id"]
    for table, key in (
        ("lists", "list"),
        ("contactTags", "contactTag"),
        ("contactLists", "contactList"),
        ("fields", "field"),
        ("fieldValues", "fieldValue"),
        ("ecomCustomers", "ecomCustomer"),
    ):
        row = ac.get(f"/{table}").json()[table][0]
        assert ac.get(f"/{table}/{row['id']}").json()[key] == row
        missing = ac.get(f"/{table}/99999")
        assert missing.status_code == 404 and "99999" in missing.json()["message"]
    assert ac.get("/ecomOrders/99999/orderProducts").status_code == 404


def test_lists_carry_their_timestamps(ac: httpx.Client) -> None:
    made = ac.post(
        "/lists",
        json={
            "list": {"name": "VIP", "stringid": "vip", "sender_url": "x", "sender_reminder": "y"}
        },
    ).json()["list"]
    for row in [*ac.get("/lists").json()["lists"], made]:
        assert datetime.strptime(row["updated_timestamp"], "%Y-%m-%d %H:%M:%S")
        assert datetime.strptime(row["created_timestamp"], "%Y-%m-%d %H:%M:%S")


def test_the_seed_makes_the_account(syncd_clock: ManualClock) -> None:
    one = ActiveCampaignEmulator(seed=4, clock=syncd_clock).state()
    assert one == ActiveCampaignEmulator(seed=4, clock=syncd_clock).state()
    assert one != ActiveCampaignEmulator(seed=5, clock=syncd_clock).state()


def test_registered_through_the_emulators_hook() -> None:
    factory = get_plugin_manager().emulators()["activecampaign"]
    emu = factory(seed=2, faults="5xx=1", rate_limit=0)
    with running(emu) as base_url:
        answer = httpx.get(f"{base_url}/api/3/tags", headers={"Api-Token": DEFAULT_TOKEN})
    assert answer.status_code >= 500
    assert emu.requests()[0].fault == "5xx"


# --- what syncd demo asks of the emulator ----------------------------------------------------


def test_its_demo_part_readies_the_fields_and_holds_tags_lists_and_fields_by_email(
    ac: httpx.Client, emu: ActiveCampaignEmulator
) -> None:
    emu.prepare_demo()
    fields = {f["perstag"]: f["id"] for f in ac.get("/fields").json()["fields"]}
    mapped = emu.demo.destination["fields"] if emu.demo else {}
    assert mapped and set(mapped) <= set(fields)  # the fields the demo writes exist
    contact = ac.get("/contacts").json()["contacts"][0]
    tag = ac.post("/tags", json={"tag": {"tag": "vip", "tagType": "contact"}}).json()["tag"]
    ac.post("/contactTags", json={"contactTag": {"contact": contact["id"], "tag": tag["id"]}})
    listed = ac.post("/lists", json={"list": {"name": "Trial", "stringid": "trial",
                                              "sender_url": "https://shop.example.com",
                                              "sender_reminder": "You signed up."}})  # fmt: skip
    list_id = listed.json()["list"]["id"]
    body = {"contactList": {"list": list_id, "contact": contact["id"], "status": 1}}
    assert ac.post("/contactLists", json=body).status_code == 201
    field = fields["RFM_CLASS"]
    body = {"fieldValue": {"contact": contact["id"], "field": field, "value": "champion"}}
    assert ac.post("/fieldValues", json=body).status_code == 201
    held = emu.holds()
    mine = held[contact["email"].lower()]
    assert "vip" in mine.tags and "Trial" in mine.lists
    assert mine.fields["RFM_CLASS"] == "champion"
    assert set(held) == emu.emails() == {c["email"].lower() for c in emu.state()["contacts"]}
    # unsubscribed: no longer held
    body = {"contactList": {"list": list_id, "contact": contact["id"], "status": 2}}
    ac.post("/contactLists", json=body)
    assert emu.holds()[contact["email"].lower()].lists == mine.lists - {"Trial"}
    options = emu.connector_config("http://127.0.0.1:9")
    assert (options["type"], options["url"], options["token"]) == (
        "activecampaign",
        "http://127.0.0.1:9",
        DEFAULT_TOKEN,
    )


def test_contacts_and_tags_updated_and_deleted_by_id(
    ac: httpx.Client, syncd_clock: ManualClock
) -> None:
    first, second = ac.get("/contacts", params={"limit": 2}).json()["contacts"]
    syncd_clock.advance(10)
    changed = ac.put(f"/contacts/{first['id']}", json={"contact": {"firstName": "Ada"}})
    assert changed.status_code == 200
    assert changed.json()["contact"]["firstName"] == "Ada"
    assert changed.json()["contact"]["udate"] > first["udate"]
    moved = ac.put(f"/contacts/{first['id']}", json={"contact": {"email": "ada@example.org"}})
    assert moved.json()["contact"]["email"] == "ada@example.org"
    assert ac.get("/contacts", params={"email": "ada@example.org"}).json()["meta"]["total"] == "1"
    taken = ac.put(f"/contacts/{first['id']}", json={"contact": {"email": second["email"]}})
    assert taken.status_code == 422
    assert ac.delete(f"/contacts/{first['id']}").json() == {}
    assert ac.get(f"/contacts/{first['id']}").status_code == 404
    assert ac.delete(f"/contacts/{first['id']}").status_code == 404
    assert ac.get(f"/contacts/{first['id']}/contactTags").status_code == 404
    gone = {link["contact"] for link in all_pages(ac, "/contactTags", "contactTags")}
    assert first["id"] not in gone
    tag = ac.get("/tags").json()["tags"][0]
    renamed = ac.put(f"/tags/{tag['id']}", json={"tag": {"tag": "renamed"}})
    assert renamed.status_code == 200 and renamed.json()["tag"]["tag"] == "renamed"
    assert ac.get("/tags", params={"search": "renamed"}).json()["tags"][0]["id"] == tag["id"]
    assert ac.delete(f"/tags/{tag['id']}").json() == {}
    assert ac.get(f"/tags/{tag['id']}").status_code == 404
    links = all_pages(ac, "/contactTags", "contactTags")
    assert tag["id"] not in {link["tag"] for link in links}
