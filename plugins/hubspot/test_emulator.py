"""The HubSpot emulator with plain httpx, as any HubSpot client would use it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncd.emulator import ManualClock, running, transport
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator
from syncd_plugins.hubspot.emulator_state import epoch_ms

BASE = "https://api.hubapi.com"


def client(emu: HubSpotEmulator, token: str = DEFAULT_TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(transport=transport(emu), base_url=BASE, headers=headers)


@pytest.fixture
def emu(syncd_clock: ManualClock) -> HubSpotEmulator:
    return HubSpotEmulator(seed=1, people=80, clock=syncd_clock)


def test_a_wrong_token_is_401_in_the_error_schema(emu: HubSpotEmulator) -> None:
    reply = client(emu, "nope").get("/crm/v3/owners")
    assert reply.status_code == 401
    body = reply.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] and body["message"]


def test_owners_and_contacts_have_hubspot_shapes(emu: HubSpotEmulator) -> None:
    api = client(emu)
    owners = api.get("/crm/v3/owners").json()["results"]
    assert owners and all(isinstance(o["id"], str) and "@" in o["email"] for o in owners)
    page = api.get("/crm/v3/objects/contacts", params={"limit": 5, "properties": "email"}).json()
    assert len(page["results"]) == 5 and page["paging"]["next"]["after"] == "5"
    first = page["results"][0]
    assert isinstance(first["id"], str) and set(first["properties"]) == {"email"}
    state = emu.state()
    assert {
        c["properties"]["hubspot_owner_id"]
        for c in state["contacts"]
        if "hubspot_owner_id" in c["properties"]
    } <= {o["id"] for o in owners}
    stages = {d["properties"]["dealstage"] for d in state["deals"]}
    assert "negotiation" in stages and all(d["contacts"] for d in state["deals"])


def test_search_filters_sorts_and_pages_up_to_the_cap(syncd_clock: ManualClock) -> None:
    emu = HubSpotEmulator(seed=1, people=80, clock=syncd_clock, search_cap=20)
    api = client(emu)
    contacts = emu.state()["contacts"]
    times = sorted(epoch_ms(c["properties"]["lastmodifieddate"]) or 0 for c in contacts)
    since = times[len(times) // 3]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lastmodifieddate"],
        "limit": 8,
    }
    seen: list[int] = []
    reply = api.post("/crm/v3/objects/contacts/search", json=body).json()
    wanted = len([t for t in times if t >= since])
    assert reply["total"] == wanted > 20
    while True:
        seen += [epoch_ms(r["properties"]["lastmodifieddate"]) or 0 for r in reply["results"]]
        nxt = reply.get("paging", {}).get("next")
        if not nxt:
            break
        syncd_clock.advance(1)  # the search limit: 5 a second
        reply = api.post("/crm/v3/objects/contacts/search", json={**body, "after": nxt["after"]})
        reply = reply.json()
    assert len(seen) == 20 and seen == sorted(seen) and min(seen) >= since  # the cap
    over = api.post("/crm/v3/objects/contacts/search", json={**body, "after": "20"})
    assert over.status_code == 400 and over.json()["category"] == "VALIDATION_ERROR"
    syncd_clock.advance(1)
    many = {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6
    }
    assert api.post("/crm/v3/objects/contacts/search", json=many).status_code == 400


def test_the_search_limit_is_5_a_second_without_rate_headers(emu: HubSpotEmulator) -> None:
    api = client(emu)
    replies = [api.post("/crm/v3/objects/deals/search", json={"limit": 1}) for _ in range(6)]
    assert [r.status_code for r in replies] == [200] * 5 + [429]
    assert replies[-1].json()["errorType"] == "RATE_LIMIT"
    assert "x-hubspot-ratelimit-remaining" not in replies[0].headers


def test_the_burst_limit_counts_down_in_headers_then_429(syncd_clock: ManualClock) -> None:
    emu = HubSpotEmulator(seed=1, people=10, clock=syncd_clock, burst=3)
    api = client(emu)
    replies = [api.get("/crm/v3/owners") for _ in range(4)]
    assert [r.headers.get("x-hubspot-ratelimit-remaining") for r in replies[:3]] == ["2", "1", "0"]
    assert replies[0].headers["x-hubspot-ratelimit-max"] == "3"
    assert replies[0].headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert replies[3].status_code == 429
    assert replies[3].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    syncd_clock.advance(10)
    assert api.get("/crm/v3/owners").status_code == 200


def test_batch_upsert_creates_and_updates_by_email(emu: HubSpotEmulator) -> None:
    api = client(emu)
    known = emu.state()["contacts"][0]
    inputs = [
        {
            "idProperty": "email",
            "id": known["properties"]["email"],
            "properties": {"loyalty_tier": "gold"},
        },
        {"idProperty": "email", "id": "new.person@example.com", "properties": {"firstname": "N"}},
    ]
    reply = api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}).json()
    assert reply["status"] == "COMPLETE"
    by_new = {r["new"]: r for r in reply["results"]}
    assert by_new[False]["id"] == known["id"]
    assert by_new[True]["properties"]["email"] == "new.person@example.com"
    state = {c["id"]: c["properties"] for c in emu.state()["contacts"]}
    assert state[known["id"]]["loyalty_tier"] == "gold"
    bad = [{"idProperty": "email", "id": "x@example.com", "properties": {"nope": "1"}}]
    refused = api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": bad})
    assert refused.status_code == 400 and refused.json()["category"] == "VALIDATION_ERROR"
    many = [{"idProperty": "email", "id": f"m{n}@example.com"} for n in range(101)]
    assert (
        api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": many}).status_code == 400
    )


def test_lists_and_memberships(emu: HubSpotEmulator) -> None:
    api = client(emu)
    assert api.get("/crm/v3/lists/object-type-id/0-1/name/VIP").status_code == 404
    made = api.post(
        "/crm/v3/lists", json={"name": "VIP", "objectTypeId": "0-1", "processingType": "MANUAL"}
    ).json()["list"]
    again = api.post(
        "/crm/v3/lists", json={"name": "VIP", "objectTypeId": "0-1", "processingType": "MANUAL"}
    )
    assert again.status_code == 400
    found = api.get("/crm/v3/lists/object-type-id/0-1/name/VIP").json()["list"]
    assert found["listId"] == made["listId"]
    ids = [c["id"] for c in emu.state()["contacts"][:3]]
    path = f"/crm/v3/lists/{made['listId']}/memberships/add-and-remove"
    reply = api.put(path, json={"recordIdsToAdd": [*ids, "999999"], "recordIdsToRemove": []})
    assert reply.json() == {
        "recordsIdsAdded": ids,
        "recordIdsRemoved": [],
        "recordIdsMissing": ["999999"],
    }
    reply = api.put(path, json={"recordIdsToAdd": [], "recordIdsToRemove": ids[:1]})
    assert reply.json()["recordIdsRemoved"] == ids[:1]
    members = api.get(f"/crm/v3/lists/{made['listId']}/memberships").json()["results"]
    assert [m["recordId"] for m in members] == ids[1:]
    dynamic = api.post(
        "/crm/v3/lists", json={"name": "D", "objectTypeId": "0-1", "processingType": "DYNAMIC"}
    ).json()["list"]
    refused = api.put(
        f"/crm/v3/lists/{dynamic['listId']}/memberships/add-and-remove",
        json={"recordIdsToAdd": ids},
    )
    assert refused.status_code == 400


def test_deal_associations_batch_and_single(emu: HubSpotEmulator) -> None:
    api = client(emu)
    deals = emu.state()["deals"]
    reply = api.post(
        "/crm/v4/associations/deals/contacts/batch/read",
        json={"inputs": [{"id": d["id"]} for d in deals[:3]]},
    ).json()
    got = {r["from"]["id"]: [str(t["toObjectId"]) for t in r["to"]] for r in reply["results"]}
    assert got == {d["id"]: d["contacts"] for d in deals[:3]}
    one = api.get(f"/crm/v4/objects/deals/{deals[0]['id']}/associations/contacts").json()
    assert [str(t["toObjectId"]) for t in one["results"]] == deals[0]["contacts"]


def test_control_routes(emu: HubSpotEmulator) -> None:
    api = client(emu)
    api.get("/crm/v3/owners")
    log = api.get("/_emulator/requests").json()
    assert log["requests"][-1]["path"] == "/crm/v3/owners"
    assert set(api.get("/_emulator/state").json()) == {
        "owners",
        "contacts",
        "deals",
        "lists",
        "options",
        "archived",
    }


def test_a_checkbox_property_takes_only_its_options(emu: HubSpotEmulator) -> None:
    api = client(emu)
    email = emu.state()["contacts"][0]["properties"]["email"]
    inputs = [{"idProperty": "email", "id": email, "properties": {"syncd_segments": "VIP"}}]
    refused = api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "INVALID_OPTION"
    path = "/crm/v3/properties/contacts/syncd_segments"
    assert api.get(path).json()["fieldType"] == "checkbox"
    patched = api.patch(path, json={"options": [{"label": "VIP", "value": "VIP"}]}).json()
    assert [o["value"] for o in patched["options"]] == ["VIP"]
    assert api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}).is_success
    assert api.get("/crm/v3/properties/contacts/nope").status_code == 404


# --- what syncd demo asks of the emulator ----------------------------------------------------


def test_its_demo_part_holds_list_memberships_by_email(emu: HubSpotEmulator) -> None:
    api = client(emu)
    made = api.post("/crm/v3/lists", json={"name": "Top leads", "objectTypeId": "0-1",
                                           "processingType": "MANUAL"}).json()  # fmt: skip
    contact = emu.state()["contacts"][0]
    path = f"/crm/v3/lists/{made['list']['listId']}/memberships/add-and-remove"
    assert api.put(path, json={"recordIdsToAdd": [contact["id"]]}).status_code == 200
    held = emu.holds()
    email = contact["properties"]["email"].lower()
    assert set(held) == emu.emails() and held[email].lists == {"Top leads"}
    assert sum(1 for h in held.values() if h.lists) == 1
    options = emu.connector_config("http://127.0.0.1:9")
    assert options == {"type": "hubspot", "base_url": "http://127.0.0.1:9", "token": DEFAULT_TOKEN}


def test_the_demo_activity_wins_a_deal_through_the_api(syncd_clock: ManualClock) -> None:
    emu = HubSpotEmulator(seed=7, people=60, clock=syncd_clock, rate_limit=0)
    state = emu.state()
    emails = {c["id"]: c["properties"]["email"].lower() for c in state["contacts"]}
    open_deals = [d for d in state["deals"] if d["properties"]["dealstage"] == "negotiation"]
    negotiating = sorted({emails[c] for d in open_deals for c in d["contacts"]})
    assert negotiating
    with running(emu) as url:
        assert emu.make_activity(url, ["nobody@example.com"]) is None
        done = emu.make_activity(url, negotiating)
    assert done is not None and set(done.emails) & set(negotiating)
    deal_id = done.call.rsplit("/", 1)[-1]
    assert done.call == f"PATCH /crm/v3/objects/deals/{deal_id}" and "won the deal" in done.what
    assert [(r.method, r.status) for r in emu.requests(path=done.call.split()[1])] == [
        ("PATCH", 200)
    ]
    deal = next(d for d in emu.state()["deals"] if d["id"] == deal_id)
    assert deal["properties"]["dealstage"] == "closedwon"
    assert {emails[c] for c in deal["contacts"]} == set(done.emails)


# --- the surface real clients use ---------------------------------------------------------


def test_repeated_properties_parameters_are_all_kept(emu: HubSpotEmulator) -> None:
    api = client(emu)
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("properties", "email"),
        ("properties", "lifecyclestage,city"),
        ("limit", "3"),
    ]
    page = api.get("/crm/v3/objects/contacts", params=params).json()
    assert {tuple(r["properties"]) for r in page["results"]} == {
        ("email", "lifecyclestage", "city")
    }
    one = page["results"][0]["id"]
    got = api.get(f"/crm/v3/objects/contacts/{one}", params=[*params[:2], ("properties", "x")])
    assert set(got.json()["properties"]) == {"email", "lifecyclestage", "city"}


def test_properties_of_each_object_type(emu: HubSpotEmulator) -> None:
    api = client(emu)
    contacts = api.get("/crm/v3/properties/contacts").json()["results"]
    by_name = {p["name"]: p for p in contacts}
    assert set(by_name) == emu.portal.properties["contacts"]
    assert by_name["createdate"]["type"] == "datetime"
    assert by_name["hs_object_id"]["type"] == "number"
    assert by_name["lifecyclestage"]["type"] == "enumeration"
    assert by_name["lifecyclestage"]["options"][0]["value"] == "subscriber"
    assert by_name["syncd_segments"]["fieldType"] == "checkbox"
    assert not by_name["syncd_segments"]["hubspotDefined"]
    for prop in contacts:
        assert {"name", "label", "type", "fieldType", "groupName", "options"} <= set(prop)
        assert {"archivable", "readOnlyValue", "readOnlyDefinition"} <= set(
            prop["modificationMetadata"]
        )
    deals = api.get("/crm/v3/properties/0-3").json()["results"]
    assert {p["name"] for p in deals} == emu.portal.properties["deals"]
    assert api.get("/crm/v3/properties/deals/amount").json()["type"] == "number"
    unknown = api.get("/crm/v3/properties/widgets")
    assert unknown.status_code == 400 and unknown.json()["category"] == "VALIDATION_ERROR"


def test_create_get_update_and_archive_a_contact(emu: HubSpotEmulator) -> None:
    api = client(emu)
    props = {"email": "New.Person@example.com", "firstname": "New", "lifecyclestage": "lead"}
    made = api.post("/crm/v3/objects/contacts", json={"properties": props})
    assert made.status_code == 201
    body = made.json()
    cid = body["id"]
    assert body["properties"]["email"] == "new.person@example.com"
    assert body["properties"]["hs_object_id"] == cid and body["archived"] is False
    again = api.post("/crm/v3/objects/contacts", json={"properties": props})
    assert again.status_code == 409 and again.json()["category"] == "CONFLICT"
    assert f"Existing ID: {cid}" in again.json()["message"]
    by_email = api.get(
        "/crm/v3/objects/contacts/new.person@example.com", params={"idProperty": "email"}
    )
    assert by_email.json()["id"] == cid
    changed = api.patch(f"/crm/v3/objects/contacts/{cid}", json={"properties": {"city": "Oslo"}})
    assert changed.status_code == 200 and changed.json()["properties"]["city"] == "Oslo"
    gone = api.delete(f"/crm/v3/objects/contacts/{cid}")
    assert gone.status_code == 204 and gone.content == b""
    assert api.get(f"/crm/v3/objects/contacts/{cid}").status_code == 404
    archived = api.get(f"/crm/v3/objects/contacts/{cid}", params={"archived": "true"}).json()
    assert archived["archived"] is True and archived["archivedAt"]
    state = emu.state()
    assert cid in state["archived"]["contacts"]
    assert cid not in {c["id"] for c in state["contacts"]}


def test_creating_with_unknown_properties_is_refused(emu: HubSpotEmulator) -> None:
    reply = client(emu).post("/crm/v3/objects/contacts", json={"properties": {"nope": "1"}})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


def test_a_deal_created_with_a_contact_is_associated_both_ways(emu: HubSpotEmulator) -> None:
    api = client(emu)
    contact = emu.state()["contacts"][0]["id"]
    link = {
        "to": {"id": contact},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
    }
    deal = api.post(
        "/crm/v3/objects/deals",
        json={
            "properties": {"dealname": "Big one", "dealstage": "negotiation"},
            "associations": [link],
        },
    ).json()
    back = api.post(
        "/crm/v4/associations/contacts/deals/batch/read", json={"inputs": [{"id": contact}]}
    ).json()
    assert deal["id"] in [str(t["toObjectId"]) for t in back["results"][0]["to"]]
    assert back["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 4
    read = api.get(f"/crm/v3/objects/deals/{deal['id']}", params={"associations": "contacts"})
    assert read.json()["associations"]["contacts"]["results"] == [
        {"id": contact, "type": "deal_to_contact"}
    ]


def test_owners_carry_their_type_and_read_by_id(emu: HubSpotEmulator) -> None:
    api = client(emu)
    owners = api.get("/crm/v3/owners/").json()["results"]
    assert {o["type"] for o in owners} == {"PERSON"}
    one = api.get(f"/crm/v3/owners/{owners[0]['id']}").json()
    assert one == owners[0]
    by_user = api.get(f"/crm/v3/owners/{owners[0]['userId']}", params={"idProperty": "userId"})
    assert by_user.json()["id"] == owners[0]["id"]


def test_search_takes_a_free_text_query(emu: HubSpotEmulator) -> None:
    target = emu.state()["contacts"][3]["properties"]["email"]
    reply = client(emu).post(
        "/crm/v3/objects/contacts/search", json={"query": target, "properties": ["email"]}
    )
    assert [r["properties"]["email"] for r in reply.json()["results"]] == [target]


def test_unknown_routes_and_methods_answer_in_the_error_schema(emu: HubSpotEmulator) -> None:
    api = client(emu)
    missing = api.get("/crm/v3/nothing/here")
    assert missing.status_code == 404
    body = missing.json()
    assert set(body) >= {"status", "message", "correlationId", "category"}
    assert missing.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]
    wrong = api.put("/crm/v3/objects/contacts")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == "error" and wrong.json()["category"]
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_deals_v1_page_by_offset_with_versioned_properties(emu: HubSpotEmulator) -> None:
    api = client(emu)
    held = {d["id"]: d for d in emu.state()["deals"]}
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 7, "includeAllProperties": "true"}
    while True:
        page = api.get("/deals/v1/deal/paged", params=params).json()
        seen.extend(page["deals"])
        if not page["hasMore"]:
            break
        params["offset"] = page["offset"]
    assert {str(d["dealId"]) for d in seen} == set(held)
    first = seen[0]
    stage = first["properties"]["dealstage"]
    assert stage["value"] == held[str(first["dealId"])]["properties"]["dealstage"]
    assert isinstance(stage["timestamp"], int) and stage["versions"][0]["name"] == "dealstage"
    props = api.get("/properties/v1/deals/properties").json()
    assert isinstance(props, list) and {p["name"] for p in props} >= {"dealname", "dealstage"}
    pipelines = api.get("/deals/v1/pipelines").json()
    assert {s["stageId"] for s in pipelines[0]["stages"]} >= {"negotiation", "closedwon"}


def test_lists_search_pages_by_offset(emu: HubSpotEmulator) -> None:
    api = client(emu)
    for name in ("A", "B", "C"):
        api.post(
            "/crm/v3/lists",
            json={"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"},
        )
    first = api.post("/crm/v3/lists/search", json={"count": 2, "sort": "HS_LIST_NAME"}).json()
    assert [lst["name"] for lst in first["lists"]] == ["A", "B"]
    assert first["hasMore"] and first["offset"] == 2 and first["total"] == 3
    rest = api.post("/crm/v3/lists/search", json={"count": 2, "offset": 2}).json()
    assert [lst["name"] for lst in rest["lists"]] == ["C"] and not rest["hasMore"]


def test_products_without_scope_are_403_and_the_portal_has_no_custom_objects(
    emu: HubSpotEmulator,
) -> None:
    api = client(emu)
    for path in ("/companies/v2/properties", "/crm/v3/properties/tickets", "/forms/v2/forms"):
        reply = api.get(path)
        assert reply.status_code == 403, path
        assert reply.json()["category"] == "MISSING_SCOPES"
    assert client(emu, "nope").get("/forms/v2/forms").status_code == 401
    assert api.get("/crm/v3/schemas").json() == {"results": []}


def test_a_contact_is_found_by_the_email_it_holds_now(
    emu: HubSpotEmulator, syncd_clock: ManualClock
) -> None:
    """Looked up in the index of e-mails every write keeps: by its new e-mail once changed,
    not by its old one, which a contact made later takes; an archived contact is not found."""
    portal, now = emu.portal, syncd_clock()
    contact = next(iter(portal.objects["contacts"].values()))
    old = contact.properties["email"]
    contact.properties["email"] = "moved@example.com"
    portal.touch("contacts", contact, now)
    assert portal.by_email("MOVED@example.com") is contact
    assert portal.by_email(old) is None
    other = portal.add("contacts", {"email": old}, now, now)
    assert portal.by_email(old) is other
    portal.archive("contacts", other, now)
    assert portal.by_email(old) is None
