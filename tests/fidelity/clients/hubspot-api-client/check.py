"""HubSpot's official Python SDK (hubspot-api-client) against the emulator, used as its README
shows: ``HubSpot(access_token=...)``, only the host pointed at the emulator. It pages contacts and
deals with several ``properties`` (sent as repeated parameters), reads one by id, creates,
updates and archives a contact, searches, reads the property definitions, the owners and the
deal-contact associations (v4 batch read), and checks an error's body; every answer is compared
with the emulator's own state. Then its webhooks API with the developer API key
(``HubSpot(api_key=...)``): the app's settings pointed at a local receiver, a subscription
created, listed and archived, and the delivery of a contact's change checked with the SDK's
own ``Signature.is_valid`` (v3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import (
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.utils.signature import Signature
from hubspot.webhooks import SettingsChangeRequest, SubscriptionCreateRequest, ThrottlingSettings
from verdict import CONFIG, URL, Catcher, state, step

APP, DEVELOPER_KEY, SECRET = 4242, "fidelity-developer-key", "fidelity-client-secret"  # client.json
CONTACT_PROPS = ["email", "firstname", "lastname", "lifecyclestage", "hubspot_owner_id"]
DEAL_PROPS = ["dealname", "amount", "dealstage", "pipeline"]


client = HubSpot(access_token=CONFIG["token"], host=URL)


def pages(fetch: Callable[[str | None], Any]) -> list[Any]:
    found: list[Any] = []
    after: str | None = None
    while True:
        page = fetch(after)
        found.extend(page.results)
        if page.paging is None or page.paging.next is None:
            return found
        after = page.paging.next.after


def expected(obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {n: obj["properties"].get(n) for n in names}


def contacts_get_page() -> tuple[bool, int | None, str]:
    got = pages(
        lambda after: client.crm.contacts.basic_api.get_page(
            limit=100, after=after, properties=CONTACT_PROPS
        )
    )
    held = {c["id"]: c for c in state()["contacts"]}
    wrong = [
        c.id for c in got if c.id not in held or c.properties != expected(held[c.id], CONTACT_PROPS)
    ]
    ok = not wrong and len(got) == len(held) and len({c.id for c in got}) == len(got)
    return ok, len(got), f"{len(held)} held; wrong: {wrong[:5]}"


def contacts_get_by_id() -> tuple[bool, int | None, str]:
    held = state()["contacts"][7]
    got = client.crm.contacts.basic_api.get_by_id(held["id"], properties=CONTACT_PROPS)
    ok = got.id == held["id"] and got.properties == expected(held, CONTACT_PROPS)
    return ok, 1, f"id {got.id}: {got.properties}"


created: dict[str, str] = {}


def contacts_create() -> tuple[bool, int | None, str]:
    props = {"email": "fidelity.sdk@example.com", "firstname": "Fidel", "lastname": "Ity"}
    made = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    created["id"] = made.id
    held = {c["id"]: c for c in state()["contacts"]}.get(made.id)
    ok = held is not None and all(held["properties"].get(k) == v for k, v in props.items())
    return ok, 1, f"id {made.id}"


def contacts_update() -> tuple[bool, int | None, str]:
    cid = created["id"]
    got = client.crm.contacts.basic_api.update(
        cid, SimplePublicObjectInput(properties={"lifecyclestage": "lead", "city": "Porto"})
    )
    held = {c["id"]: c for c in state()["contacts"]}[cid]["properties"]
    ok = held.get("lifecyclestage") == "lead" and held.get("city") == "Porto" and got.id == cid
    return ok, 1, f"id {cid}"


def contacts_archive() -> tuple[bool, int | None, str]:
    cid = created["id"]
    client.crm.contacts.basic_api.archive(cid)
    now = state()
    gone = cid not in {c["id"] for c in now["contacts"]}
    ok = gone and cid in now["archived"]["contacts"]
    try:
        client.crm.contacts.basic_api.get_by_id(cid)
        ok = False
    except ApiException as exc:
        ok = ok and exc.status == 404
    return ok, 1, f"id {cid} archived"


def contacts_search() -> tuple[bool, int | None, str]:
    flt = Filter(property_name="lifecyclestage", operator="EQ", value="customer")
    got = pages(
        lambda after: client.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[flt])],
                properties=CONTACT_PROPS,
                limit=50,
                after=after,
            )
        )
    )
    held = {
        c["id"]: c
        for c in state()["contacts"]
        if c["properties"].get("lifecyclestage") == "customer"
    }
    ok = {c.id for c in got} == set(held) and all(
        c.properties == expected(held[c.id], CONTACT_PROPS) for c in got
    )
    return ok and bool(held), len(got), f"{len(held)} customers held"


def properties_get_all() -> tuple[bool, int | None, str]:
    now = state()
    total, details = 0, []
    ok = True
    for kind in ("contacts", "deals"):
        got = client.crm.properties.core_api.get_all(kind).results
        names = {p.name for p in got}
        used = {n for obj in now[kind] for n in obj["properties"]}
        ok = ok and used <= names and all(p.type and p.field_type for p in got)
        total += len(got)
        details.append(f"{kind}: {len(got)} ({sorted(used - names)} missing)")
    return ok, total, "; ".join(details)


def owners_get_page() -> tuple[bool, int | None, str]:
    got = pages(lambda after: client.crm.owners.owners_api.get_page(limit=2, after=after))
    held = {o["id"]: o for o in state()["owners"]}
    ok = {o.id for o in got} == set(held) and all(o.email == held[o.id]["email"] for o in got)
    return ok, len(got), f"{len(held)} held"


def deals_get_page() -> tuple[bool, int | None, str]:
    got = pages(
        lambda after: client.crm.deals.basic_api.get_page(
            limit=100, after=after, properties=DEAL_PROPS
        )
    )
    held = {d["id"]: d for d in state()["deals"]}
    ok = {d.id for d in got} == set(held) and all(
        d.properties == expected(held[d.id], DEAL_PROPS) for d in got
    )
    return ok, len(got), f"{len(held)} held"


def associations_batch_read() -> tuple[bool, int | None, str]:
    deals = state()["deals"]
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=d["id"]) for d in deals]
    )
    got = client.crm.associations.v4.batch_api.get_page("deals", "contacts", request)
    links = {r._from.id: sorted(str(t.to_object_id) for t in r.to) for r in got.results}
    want = {d["id"]: sorted(d["contacts"]) for d in deals if d["contacts"]}
    return links == want and bool(want), sum(map(len, links.values())), f"{len(want)} deals"


def error_body() -> tuple[bool, int | None, str]:
    try:
        client.crm.contacts.basic_api.get_by_id("999999999")
    except ApiException as exc:
        body = json.loads(exc.body)
        fields = {"status", "message", "correlationId", "category"}
        ok = exc.status == 404 and fields <= set(body) and body["status"] == "error"
        return ok, None, f"{exc.status} {body.get('category')}"
    return False, None, "a missing contact was found"


step("crm.contacts.basic_api.get_page(properties=[5])", contacts_get_page)
step("crm.contacts.basic_api.get_by_id", contacts_get_by_id)
step("crm.contacts.basic_api.create", contacts_create)
if "id" in created:
    step("crm.contacts.basic_api.update", contacts_update)
    step("crm.contacts.basic_api.archive", contacts_archive)
step("crm.contacts.search_api.do_search", contacts_search)
step("crm.properties.core_api.get_all(contacts, deals)", properties_get_all)
step("crm.owners.owners_api.get_page", owners_get_page)
step("crm.deals.basic_api.get_page(properties=[4])", deals_get_page)
step("crm.associations.v4.batch_api.get_page(deals, contacts)", associations_batch_read)
step("error body of a missing contact (404)", error_body)


developer = HubSpot(api_key=DEVELOPER_KEY, host=URL)
catcher = Catcher()
target = catcher.url + "/webhooks/crm"
subscribed: dict[str, Any] = {}


def webhooks_settings() -> tuple[bool, int | None, str]:
    change = SettingsChangeRequest(
        target_url=target, throttling=ThrottlingSettings(max_concurrent_requests=10)
    )
    got = developer.webhooks.settings_api.configure(APP, change)
    again = developer.webhooks.settings_api.get_all(APP)
    return got.target_url == again.target_url == target, None, str(got.target_url)


def webhooks_subscribe() -> tuple[bool, int | None, str]:
    ask = SubscriptionCreateRequest(
        event_type="contact.propertyChange", property_name="firstname", active=True
    )
    got = developer.webhooks.subscriptions_api.create(APP, ask)
    subscribed["id"] = got.id
    listed = developer.webhooks.subscriptions_api.get_all(APP).results
    ok = got.event_type == "contact.propertyChange" and [s.id for s in listed] == [got.id]
    return ok, len(listed), f"id {got.id}"


def webhooks_delivery() -> tuple[bool, int | None, str]:
    contact = state()["contacts"][0]
    change = SimplePublicObjectInput(properties={"firstname": "Hooked"})
    client.crm.contacts.basic_api.update(contact["id"], change)
    caught = catcher.wait(1)
    if not caught:
        return False, 0, "no webhook came"
    _, headers, body = caught[0]
    valid = Signature.is_valid(
        signature=headers.get("x-hubspot-signature-v3", ""),
        client_secret=SECRET,
        request_body=body.decode(),
        http_uri=target,
        http_method="POST",
        signature_version="v3",
        timestamp=headers.get("x-hubspot-request-timestamp"),
    )
    events = json.loads(body)
    ok = valid and str(events[0]["objectId"]) == contact["id"]
    ok = ok and events[0]["propertyValue"] == "Hooked"
    return ok, len(events), f"Signature.is_valid(v3): {valid}"


def webhooks_archive() -> tuple[bool, int | None, str]:
    developer.webhooks.subscriptions_api.archive(subscribed["id"], APP)
    left = developer.webhooks.subscriptions_api.get_all(APP).results
    return left == [], len(left), "archived"


step("webhooks.settings_api.configure / get_all", webhooks_settings)
step("webhooks.subscriptions_api.create / get_all", webhooks_subscribe)
if "id" in subscribed:
    step("a change delivered, Signature.is_valid (v3)", webhooks_delivery)
    step("webhooks.subscriptions_api.archive", webhooks_archive)
catcher.close()
