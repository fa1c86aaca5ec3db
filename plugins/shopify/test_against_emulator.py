"""The Shopify connector against the in-process emulator, beyond the connector contract (the
conformance suite, at the end): a full pull through GraphQL within the shop's limits, cursors
stored before the kit, a change during a read, other apps' tags left alone, the fewest write
calls counted from the emulator's request log, a lost answer sent again without harm,
Throttled GraphQL, loopback HTTP and the real pipeline twice. Not one REST call is made.
Time is virtual: the connector's sleeps move the emulator's clock, so Retry-After and the
cost budget cost no real time."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

import httpx
import pytest

from syncd.connectors import (
    Change,
    ChangeKind,
    ConnectorContext,
    ContactRecord,
    EventRecord,
    parse_time,
    tag_writes,
)
from syncd.emulator import ManualClock, VirtualTime, running, transport
from syncd.testing import (
    EmulatorHarness,
    Pipeline,
    conformance_suite,
    emulator_context,
    migrated_cursor,
    pull,
    pull_valid,
    push_until_done,
)
from syncd_plugins.shopify.api import MAX_QUERY_COST
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions
from syncd_plugins.shopify.destination import MUTATION_COST
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN, ShopifyEmulator
from syncd_plugins.shopify.emulator_state import OTHER_APP_TAGS, split_tags, stamp
from syncd_plugins.shopify.test_emulator import TAGS_ADD, admin, gid

GRAPHQL = "/admin/api/2024-10/graphql.json"


def is_customer(record: Any) -> TypeGuard[ContactRecord]:
    """A customer as the customers stream reads it (an order gives its customer's source
    fields alone, with no tags)."""
    return isinstance(record, ContactRecord) and record.tags is not None


def emulator(clock: ManualClock) -> ShopifyEmulator:
    return ShopifyEmulator(seed=3, people=120, clock=clock)


def connect(emu: ShopifyEmulator, vt: VirtualTime, **options: Any) -> ShopifyConnector:
    given: dict[str, Any] = {"shop": "emulated", "access_token": DEFAULT_TOKEN, **options}
    return ShopifyConnector(ShopifyOptions(**given), emulator_context("shop", emu, time=vt))


def through(wire: httpx.BaseTransport, vt: VirtualTime, **options: Any) -> ShopifyConnector:
    """A connector whose requests go through ``wire``."""
    given: dict[str, Any] = {"shop": "emulated", "access_token": DEFAULT_TOKEN, **options}
    context = ConnectorContext(
        "shop", transport=wire, clock=vt.clock, sleep=vt.sleep, monotonic=vt.monotonic
    )
    return ShopifyConnector(ShopifyOptions(**given), context)


def shop_user(emu: ShopifyEmulator) -> httpx.Client:
    """Someone else using the shop's API (a shopkeeper, another app)."""
    return admin(emu)


def writes(emu: ShopifyEmulator) -> int:
    """Write calls served: GraphQL mutations, as the emulator marks them (``mark_write``)."""
    return sum(1 for r in emu.requests(status=200) if r.is_write)


def reads(emu: ShopifyEmulator) -> int:
    """Read calls served: GraphQL queries."""
    return sum(1 for r in emu.requests(status=200) if not r.is_write)


def only_graphql(emu: ShopifyEmulator) -> bool:
    """Whether every request the emulator served went to the GraphQL endpoint."""
    return all(r.method == "POST" and r.path == GRAPHQL for r in emu.requests())


def fewest_writes(changes: Sequence[Change], batch_size: int) -> int:
    """The fewest documents the API allows for ``changes`` pushed ``batch_size`` contacts a
    batch: a contact's tags to add are one ``tagsAdd``, those to remove one ``tagsRemove``;
    a document asks 1,000 points at most, and a mutation costs 10."""
    emails = list(dict.fromkeys(c.email for c in changes))
    total = 0
    for start in range(0, len(emails), batch_size):
        batch = emails[start : start + batch_size]
        mutations = sum(
            sum(bool(tags) for tags in tag_writes([c for c in changes if c.email == email]))
            for email in batch
        )
        total += math.ceil(mutations / (MAX_QUERY_COST // MUTATION_COST))
    return total


def tags(emu: ShopifyEmulator) -> dict[str, list[str]]:
    return {c["email"]: split_tags(c["tags"]) for c in emu.state()["customers"]}


def test_a_full_pull_reads_the_whole_shop_within_its_bucket(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    state = emu.state()
    # about 75 GraphQL pages: over the REST bucket of 40 the same client keeps
    records = pull_valid(connect(emu, syncd_time, page_size=5), {})
    contacts = {r.external_id: r for r in records if is_customer(r)}
    assert set(contacts) == {str(c["id"]) for c in state["customers"]}
    for c in state["customers"]:
        got = contacts[str(c["id"])]
        assert got.tags == split_tags(c["tags"])
        expected = {"subscribed": "granted", "unsubscribed": "revoked"}
        assert got.consent == expected.get(c["email_marketing_consent"]["state"])
    events = [r for r in records if isinstance(r, EventRecord)]
    orders = [e for e in events if e.type == "order_placed"]
    assert {e.external_id for e in orders} == {f"order/{o['id']}" for o in state["orders"]}
    assert sum(e.value or 0 for e in orders) == pytest.approx(
        sum(float(o["total_price"]) for o in state["orders"])
    )
    open_carts = {f"checkout/{k['id']}" for k in state["checkouts"] if not k["completed_at"]}
    assert {e.external_id for e in events if e.type == "checkout_abandoned"} == open_carts
    assert len(emu.requests()) > 60 and not emu.requests(status=429)  # paced, never refused
    assert emu.throttled == 0 and only_graphql(emu)  # GraphQL only, in budget
    assert writes(emu) == 0 and reads(emu) == len(emu.requests())


def test_orders_carry_their_line_items_as_normalised_items(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    records = pull(connect(emu, syncd_time), {})
    orders = {
        e.external_id: e for e in records if isinstance(e, EventRecord) and e.type == "order_placed"
    }
    products = emu.shop.catalog.products
    assert orders
    for order in emu.state()["orders"]:
        got = orders[f"order/{order['id']}"].properties["items"]
        assert got == [
            {
                "product": line["title"],
                "variant": None,
                "sku": line["sku"],
                "category": products[line["product_id"]]["product_type"],
                "vendor": products[line["product_id"]]["vendor"],
                "quantity": line["quantity"],
                "price": float(line["price"]),
            }
            for line in order["line_items"]
        ]
    categories = {i["category"] for e in orders.values() for i in e.properties["items"]}
    assert categories == {"Shoes", "Bags", "Accessories"}


def unsubscribe_key(customer: dict[str, Any]) -> str | None:
    """The id of the ``email_unsubscribed`` event of an unsubscribed customer."""
    consent = customer["email_marketing_consent"]
    at = parse_time(consent["consent_updated_at"]) if consent["consent_updated_at"] else None
    if consent["state"] != "unsubscribed" or at is None:
        return None
    return f"unsubscribe/{customer['id']}/{int(at.timestamp())}"


def test_an_unsubscribed_customer_comes_with_an_unsubscribe_event(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    records = pull(connect(emu, syncd_time), {})
    quits = {r.external_id for r in records if isinstance(r, EventRecord)} - {None}
    expected = {k for c in emu.state()["customers"] if (k := unsubscribe_key(c))}
    assert expected and expected <= quits
    got = [r for r in records if isinstance(r, EventRecord) and r.type == "email_unsubscribed"]
    assert {e.external_id for e in got} == expected


def shop_time(iso: str) -> str:
    at = parse_time(iso)
    assert at is not None
    return stamp(at)


def test_a_cursor_stored_before_the_kit_resumes_where_it_was(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    cursors: dict[str, str | None] = {}
    pull(connect(emu, syncd_time), cursors)
    syncd_time.sleep(120)
    changed = emu.state()["customers"][3]
    shopkeeper = shop_user(emu)
    variables = {"id": gid(changed), "tags": ["from-another-app"]}
    assert shopkeeper.post("graphql.json", json={"query": TAGS_ADD, "variables": variables})
    # what the connector stored before the kit: the newest updated_at it read, in the shop's
    # offset; migration 0007 turns it into the kit's cursor
    old = {
        n: {"updated_at_min": shop_time(json.loads(c or "")["bound"])} for n, c in cursors.items()
    }
    migrated = {n: migrated_cursor(json.dumps(c)) for n, c in old.items()}
    emu.clear_requests()
    records = pull(connect(emu, syncd_time), dict(migrated))
    contacts = [r for r in records if is_customer(r)]
    assert str(changed["id"]) in {r.external_id for r in contacts}
    assert len(contacts) < len(emu.state()["customers"]) // 4  # no full re-pull
    assert reads(emu) == len(emu.requests()) == 3  # one page a stream


def customers_page(request: httpx.Request) -> bool:
    """Whether a request asks for a page of customers."""
    return request.url.path.endswith("/graphql.json") and b"syncd_customers" in request.content


def test_a_customer_changed_during_a_read_is_read_in_that_read_or_the_next(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    by_order = sorted(emu.state()["customers"], key=lambda c: (c["updated_at"], c["id"]))
    early, late = by_order[0], by_order[-1]  # on the first page, and on the last
    served, user = transport(emu), shop_user(emu)

    class Meanwhile(httpx.BaseTransport):
        pages = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = served.handle_request(request)
            if customers_page(request):
                Meanwhile.pages += 1
                if Meanwhile.pages == 1:  # the shop changes while syncd reads it
                    for customer, tag in ((early, "changed-early"), (late, "changed-late")):
                        variables = {"id": gid(customer), "tags": [tag]}
                        user.post("graphql.json", json={"query": TAGS_ADD, "variables": variables})
                        syncd_time.sleep(300)
            return response

    connector = through(Meanwhile(), syncd_time, page_size=20)
    cursors: dict[str, str | None] = {}
    first = {r.external_id: r for r in pull(connector, cursors) if is_customer(r)}
    # by updatedAt, the changed customer moved to a page still to come
    assert "changed-early" in (first[str(early["id"])].tags or [])
    assert "changed-late" in (first[str(late["id"])].tags or [])
    syncd_time.sleep(60)
    again = {r.external_id: r for r in pull(connector, cursors) if is_customer(r)}
    latest = {**first, **again}  # syncd has the change and loses nothing
    assert "changed-early" in (latest[str(early["id"])].tags or [])
    assert pull(connector, cursors) == []


def plan(emu: ShopifyEmulator) -> list[Change]:
    """``syncd-vip`` for every customer, ``syncd-lapsed`` for a third of them; a few
    customers named by e-mail only."""
    customers = emu.state()["customers"]
    changes: list[Change] = []
    for n, c in enumerate(customers):
        known = str(c["id"]) if n % 10 else None
        changes.append(
            Change(len(changes), ChangeKind.ADD_TAG, c["email"], "syncd-vip", external_id=known)
        )
        if n % 3 == 0:
            changes.append(
                Change(
                    len(changes), ChangeKind.ADD_TAG, c["email"], "syncd-lapsed", external_id=known
                )
            )
    return changes


def then(emu: ShopifyEmulator) -> list[Change]:
    """After ``plan``: a third lose ``syncd-lapsed`` and gain ``syncd-winback`` (a tagsAdd and
    a tagsRemove each), a few others lose ``syncd-vip``."""
    changes: list[Change] = []
    for n, c in enumerate(emu.state()["customers"]):
        known = str(c["id"]) if n % 10 else None
        wanted = (
            [(ChangeKind.REMOVE_TAG, "syncd-lapsed"), (ChangeKind.ADD_TAG, "syncd-winback")]
            if n % 3 == 0
            else [(ChangeKind.REMOVE_TAG, "syncd-vip")]
            if n % 5 == 0
            else []
        )
        for kind, tag in wanted:
            changes.append(Change(1000 + len(changes), kind, c["email"], tag, external_id=known))
    return changes


@pytest.mark.parametrize("batch_size", [500, 40])
def test_a_push_takes_the_fewest_writes_and_leaves_other_apps_tags(
    syncd_clock: ManualClock, syncd_time: VirtualTime, batch_size: int
) -> None:
    emu = emulator(syncd_clock)
    before = tags(emu)
    assert sum(bool(set(t) & set(OTHER_APP_TAGS)) for t in before.values()) > 20
    connector = connect(emu, syncd_time, batch_size=batch_size)
    for changes in (plan(emu), then(emu)):
        emu.clear_requests()
        assert push_until_done(connector, changes) == 1
        fewest = fewest_writes(changes, batch_size)
        if batch_size == 500:  # one batch: the fewest the API allows for the whole plan
            assert fewest == fewest_writes(changes, 10_000)
        assert writes(emu) / fewest == 1.00, f"{writes(emu)} write calls, {fewest} the fewest"
        # the customers known by e-mail only: one search a batch (100 e-mails a search)
        assert reads(emu) == math.ceil(len({c.email for c in changes}) / batch_size)
        assert only_graphql(emu) and not emu.requests(status=429) and emu.throttled == 0
    after = tags(emu)
    for n, (email, had) in enumerate(before.items()):
        wanted = ["syncd-vip", "syncd-winback"] if n % 3 == 0 else ["syncd-vip"]
        wanted = [] if n % 5 == 0 and n % 3 else wanted
        assert after[email] == had + wanted  # the other apps' tags all still there


def test_a_write_whose_answer_was_lost_is_sent_again_and_changes_nothing_twice(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    """syncd creates nothing in a shop, and tagsAdd / tagsRemove name the tags: a document
    sent again after its answer was lost (the shop applied it) leaves the shop as one
    sending would."""
    expected = expected_after_plan()
    emu = emulator(syncd_clock)
    served = transport(emu)

    class LosesTheFirstAnswer(httpx.BaseTransport):
        lost = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = served.handle_request(request)
            if b"mutation syncdTags" in request.content and not LosesTheFirstAnswer.lost:
                LosesTheFirstAnswer.lost += 1
                raise httpx.ReadError("connection closed before the answer", request=request)
            return response

    customers = len(emu.state()["customers"])
    changes = plan(emu)
    push_until_done(through(LosesTheFirstAnswer(), syncd_time), changes)
    assert LosesTheFirstAnswer.lost == 1
    assert writes(emu) == fewest_writes(changes, 500) + 1  # the lost one, sent again
    assert tags(emu) == expected  # each tag once
    assert len(emu.state()["customers"]) == customers  # no customer created


def test_removing_syncds_tag_keeps_a_tag_another_app_set_meanwhile(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    connector = connect(emu, syncd_time)
    customer = next(c for c in emu.state()["customers"] if "," in c["tags"])
    cid, email = str(customer["id"]), customer["email"]
    push_until_done(connector, [Change(1, ChangeKind.ADD_TAG, email, "syncd-vip", external_id=cid)])
    user = shop_user(emu)
    variables = {"id": gid(customer), "tags": ["Reviewed 5 stars"]}
    user.post("graphql.json", json={"query": TAGS_ADD, "variables": variables})
    push_until_done(
        connector, [Change(2, ChangeKind.REMOVE_TAG, email, "syncd-vip", external_id=cid)]
    )
    assert tags(emu)[email] == [*split_tags(customer["tags"]), "Reviewed 5 stars"]


def expected_after_plan() -> dict[str, list[str]]:
    clean = ManualClock()
    emu = emulator(clean)
    push_until_done(connect(emu, VirtualTime(clean)), plan(emu))
    return tags(emu)


def test_a_push_on_a_spent_budget_is_throttled_then_converges(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    expected = expected_after_plan()
    emu = emulator(syncd_clock)
    emu.spend_graphql(10_000)  # another app used up the store's GraphQL points
    push_until_done(connect(emu, syncd_time, batch_size=50), plan(emu))
    assert emu.throttled >= 1
    assert tags(emu) == expected


def test_over_loopback_http_pages_and_writes_work_unchanged(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    with running(emu) as url:
        given = {"shop": url, "access_token": DEFAULT_TOKEN, "page_size": 25}
        context = ConnectorContext(
            "shop", clock=syncd_clock, sleep=syncd_time.sleep, monotonic=syncd_time.monotonic
        )
        connector = ShopifyConnector(ShopifyOptions(**given), context)
        records = pull(connector, {})
        first = next(r for r in records if is_customer(r))
        change = Change(1, ChangeKind.ADD_TAG, str(first.email), "syncd-vip")
        assert push_until_done(connector, [change]) == 1
        connector.close()
    customers = emu.state()["customers"]
    assert len([r for r in records if is_customer(r)]) == len(customers)
    assert reads(emu) > len(customers) // 25  # GraphQL pages followed by their cursors
    assert not emu.requests(method="GET")  # nothing read over REST
    assert "syncd-vip" in tags(emu)[str(first.email)]


# --- the real pipeline: syncd sync with a Shopify instance -------------------------------

CONFIG = """
store:
  url: sqlite:///{db}
connectors:
  shop:
    type: shopify
    shop: emulated
    access_token: ${{SHOPIFY_ACCESS_TOKEN}}
segments:
  buyers: {{event: order_placed}}
destinations:
  - connector: shop
    mode: managed
    tags:
      buyers: syncd-buyer
"""


@pytest.fixture
def pipeline(
    syncd_clock: ManualClock, syncd_pipeline: Callable[..., Pipeline]
) -> tuple[ShopifyEmulator, Pipeline]:
    emu = emulator(syncd_clock)
    return emu, syncd_pipeline(CONFIG, emu, env={"SHOPIFY_ACCESS_TOKEN": DEFAULT_TOKEN})


def test_syncd_sync_tags_buyers_keeps_other_tags_then_has_nothing_to_do(
    pipeline: tuple[ShopifyEmulator, Pipeline],
) -> None:
    emu, syncd = pipeline
    before = tags(emu)
    buyers = {o["email"] for o in emu.state()["orders"]}
    assert len(buyers) > 10
    assert syncd.run("sync") == 0
    after = tags(emu)
    assert {e for e, t in after.items() if "syncd-buyer" in t} == buyers
    assert all(after[e] == [*before[e], *(["syncd-buyer"] if e in buyers else [])] for e in before)
    assert writes(emu) == math.ceil(len(buyers) / 100)  # 100 tagsAdd a document
    emu.clear_requests()
    assert syncd.run("sync") == 0
    assert writes(emu) == 0  # nothing to do: not one write
    assert reads(emu) and tags(emu) == after


def test_a_cancelled_order_stops_counting_as_a_purchase(
    pipeline: tuple[ShopifyEmulator, Pipeline], syncd_time: VirtualTime
) -> None:
    emu, syncd = pipeline
    assert syncd.run("sync") == 0
    orders = emu.state()["orders"]
    open_ = [o for o in orders if o["fulfillment_status"] is None]
    once = [o for o in open_ if sum(p["email"] == o["email"] for p in orders) == 1]
    twice = [o for o in open_ if sum(p["email"] == o["email"] for p in orders) > 1]
    assert once and twice
    shopkeeper = shop_user(emu)
    syncd_time.sleep(120)
    for order in (once[0], twice[0]):
        assert shopkeeper.post(f"orders/{order['id']}/cancel.json").is_success
    again = shopkeeper.post(f"orders/{once[0]['id']}/cancel.json")
    assert again.status_code == 422 and "already been cancelled" in again.text
    fulfilled = next(o for o in orders if o["fulfillment_status"] == "fulfilled")
    assert shopkeeper.post(f"orders/{fulfilled['id']}/cancel.json").status_code == 422
    emu.clear_requests()
    assert syncd.run("sync") == 0
    after = tags(emu)
    assert "syncd-buyer" not in after[once[0]["email"]]  # no purchase left
    assert "syncd-buyer" in after[twice[0]["email"]]  # another order still stands
    assert writes(emu) == 1
    assert syncd.run("segments", "show", "buyers", "--json") == 0


# --- the connector contract ----------------------------------------------------------------


class ShopifyHarness(EmulatorHarness[ShopifyEmulator]):
    connector = ShopifyConnector
    secrets = (DEFAULT_TOKEN,)
    seed = 3
    people = 40

    def options(self) -> dict[str, Any]:
        given = {"shop": "emulated", "access_token": DEFAULT_TOKEN}
        return {**given, "page_size": 10, "batch_size": 10}

    def external_ids(self) -> set[str]:
        state = self.emu.state()
        return (
            {str(c["id"]) for c in state["customers"]}
            | {f"order/{o['id']}" for o in state["orders"]}
            | {f"checkout/{k['id']}" for k in state["checkouts"] if not k["completed_at"]}
            | {q for c in state["customers"] if (q := unsubscribe_key(c))}
        )

    def change(self) -> set[str]:
        customer = self.emu.state()["customers"][5]
        variables = {"id": gid(customer), "tags": ["from-another-app"]}
        shop_user(self.emu).post("graphql.json", json={"query": TAGS_ADD, "variables": variables})
        quit_key = unsubscribe_key(customer)  # read again with its unsubscribe, if any
        return {str(customer["id"]), *([quit_key] if quit_key else [])}

    def plant_bad_record(self) -> str:
        customers = self.emu.shop.customers
        first = next(iter(customers.values()))
        customers[first["id"] + 1] = {**first, "id": first["id"] + 1, "email": None}
        return "has no e-mail"

    def changes(self) -> list[Change]:
        return plan(self.emu)

    def remote(self) -> dict[str, list[str]]:
        return tags(self.emu)

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        return fewest_writes(changes, 10)


TestShopifyConformance = conformance_suite(ShopifyHarness)


def test_a_first_order_gives_its_customer_source_and_every_order_its_journey(
    syncd_clock: ManualClock, syncd_time: VirtualTime
) -> None:
    emu = emulator(syncd_clock)
    journeys = emu.shop.journeys
    records = pull_valid(connect(emu, syncd_time), {})
    sources = {
        r.external_id: r.attributes
        for r in records
        if isinstance(r, ContactRecord) and "source" in r.attributes
    }
    firsts = {
        str(emu.shop.orders[oid]["customer"]["id"]): j["firstVisit"]
        for oid, j in journeys.items()
        if j is not None and j["customerOrderIndex"] == 0
    }
    assert firsts and set(sources) == set(firsts)
    channels = {a["source"] for a in sources.values()}
    assert {"organic_search", "paid_search", "paid_social", "referrals"} <= channels
    for customer, visit in firsts.items():
        got = sources[customer]
        utm = visit["utmParameters"] or {}
        assert got.get("utm_campaign") == utm.get("campaign")
        assert got.get("referrer") == visit["referrerUrl"]
        assert got["landing_page"] == visit["landingPage"]
    events = {r.external_id: r for r in records if isinstance(r, EventRecord)}
    tagged = [
        events[f"order/{oid}"].properties for oid, j in journeys.items()
        if j is not None and j["firstVisit"]["utmParameters"]
    ]  # fmt: skip
    assert tagged and all(p["utm_source"] and p["last_source"] for p in tagged)
