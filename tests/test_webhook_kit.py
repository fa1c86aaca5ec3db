"""The connector kit's webhook pieces, on a made-up vendor: declared signatures (an HMAC of the
body or of method + URL + body + timestamp, a URL token, HTTP Basic, the first configured of
several), the declared read (form or JSON, topic and id by header, field or body digest,
batches), the reconciliation of a vendor's subscriptions, and Reshape."""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

import syncd.connectors as kit
from syncd.connectors.webhook_auth import basic_credentials
from syncd_plugins.files.connector import FilesConnector

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
URL = "https://syncd.example/webhooks/tool?a=%3A"
BODY = b'{"kind": "tagged", "who": "7", "tag": "vip"}'


def connector() -> FilesConnector:
    return FilesConnector(FilesConnector.Options(), kit.ConnectorContext("tool"))


def mac(key: str, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(key.encode(), message, digest).digest()


class Tool(kit.WebhookReceiver):
    signature = kit.HmacSignature("X-Tool-Hmac", digest="sha256", encoding="base64")
    topic_header = "X-Tool-Topic"
    id_header = "X-Tool-Id"

    def records(self, topic: str, payload: dict[str, Any]) -> list[kit.Record]:
        return [kit.TagRecord(str(payload["who"]), str(payload["tag"]), present=True)]


def receiver(cls: type[kit.WebhookReceiver] = Tool, **secrets: str) -> kit.WebhookReceiver:
    return cls(connector(), kit.WebhookSecrets(**secrets), lambda: NOW)


def request(headers: dict[str, str], body: bytes = BODY, query: dict[str, str] | None = None,
            url: str = URL) -> kit.WebhookRequest:  # fmt: skip
    return kit.WebhookRequest("POST", url, headers, query or {}, body, NOW)


def test_an_hmac_of_the_body_is_verified_as_declared() -> None:
    good = base64.b64encode(mac("k", BODY)).decode()
    receiver(secret="k").verify(request({"x-tool-hmac": good}))
    with pytest.raises(kit.WebhookRefused, match="X-Tool-Hmac does not match the body") as refused:
        receiver(secret="other").verify(request({"x-tool-hmac": good}))
    assert refused.value.status == 401
    with pytest.raises(kit.WebhookRefused, match="no X-Tool-Hmac header"):
        receiver(secret="k").verify(request({}))
    with pytest.raises(kit.WebhookRefused, match=r"webhooks\.connectors\.tool\.secret is not set"):
        receiver().verify(request({"x-tool-hmac": good}))
    hex_sha1 = kit.HmacSignature("X-Sig", digest="sha1", encoding="hex")
    signed = request({"x-sig": mac("k", BODY, "sha1").hex()})
    hex_sha1.check(receiver(secret="k"), signed)
    with pytest.raises(kit.WebhookRefused):
        kit.HmacSignature("X-Sig", digest="sha256", encoding="hex").check(
            receiver(secret="k"), signed
        )


def test_an_hmac_of_method_url_body_and_timestamp_within_its_age() -> None:
    signature = kit.HmacSignature(
        "X-Sig",
        signs=("method", "url", "body", "timestamp"),
        url=lambda url: url.replace("%3A", ":"),
        timestamp=kit.SignedTimestamp("X-Stamp", unit="ms", max_age=timedelta(minutes=5)),
    )
    tool = receiver(secret="k")

    def sent(at: datetime, url: str = URL) -> kit.WebhookRequest:
        stamp = str(int(at.timestamp() * 1000))
        message = b"POST" + url.replace("%3A", ":").encode() + BODY + stamp.encode()
        sig = base64.b64encode(mac("k", message)).decode()
        return request({"x-sig": sig, "x-stamp": stamp})

    signature.check(tool, sent(NOW - timedelta(minutes=4, seconds=59)))
    for at, why in [
        (NOW - timedelta(minutes=5, seconds=1), "X-Stamp is older than 5 minutes"),
        (NOW + timedelta(minutes=5, seconds=1), "X-Stamp is over 5 minutes ahead"),
    ]:
        with pytest.raises(kit.WebhookRefused, match=why):
            signature.check(tool, sent(at))
    moved = sent(NOW, url="https://elsewhere.example/")
    with pytest.raises(kit.WebhookRefused, match="X-Sig does not match the request"):
        signature.check(tool, moved)
    with pytest.raises(kit.WebhookRefused, match="no X-Sig or X-Stamp header"):
        signature.check(tool, request({"x-sig": "abc"}))
    with pytest.raises(kit.WebhookRefused, match="X-Stamp is not epoch milliseconds"):
        signature.check(tool, request({"x-sig": "abc", "x-stamp": "yesterday"}))


def test_a_signature_declared_wrong_says_so_at_once() -> None:
    with pytest.raises(ValueError, match="no digest named 'sha0'"):
        kit.HmacSignature("X-Sig", digest="sha0")
    with pytest.raises(ValueError, match="signs a timestamp but names none"):
        kit.HmacSignature("X-Sig", signs=("body", "timestamp"))
    with pytest.raises(ValueError, match="no encoding 'rot13'"):
        kit.HmacSignature("X-Sig", encoding="rot13")  # type: ignore[arg-type]


class Tokened(kit.WebhookReceiver):
    signature = kit.UrlToken("key", secret="token")


def test_a_url_token_is_required_and_carried_by_the_address() -> None:
    tool = receiver(Tokened, token="t0k")
    tool.verify(request({}, query={"key": "t0k"}))
    for wrong in ({"key": "guess"}, {}):
        with pytest.raises(kit.WebhookRefused, match="the URL's key is missing or wrong"):
            tool.verify(request({}, query=wrong))
    address = "https://syncd.example/webhooks/tool?key=old&x=1"
    assert kit.UrlToken("key").address(tool, address) == (
        "https://syncd.example/webhooks/tool?x=1&key=t0k"
    )
    with pytest.raises(kit.FatalError, match=r"webhooks\.connectors\.tool\.token is not set"):
        kit.UrlToken("key").address(receiver(Tokened), address)


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_authorization_and_the_first_configured_of_several() -> None:
    either = kit.FirstConfigured(kit.BasicAuth(), kit.UrlToken())
    with_basic = receiver(username="u", password="p")
    either.check(with_basic, request(basic("u", "p")))
    for wrong in (basic("u", "x"), basic("x", "p")):
        with pytest.raises(kit.WebhookRefused, match="user name or password is wrong"):
            either.check(with_basic, request(wrong))
    with pytest.raises(kit.WebhookRefused, match="no HTTP Basic authorization"):
        either.check(with_basic, request({}, query={"token": "t"}))
    with_token = receiver(token="t")  # Basic not configured: the token is the check
    either.check(with_token, request({}, query={"token": "t"}))
    with pytest.raises(kit.WebhookRefused, match="token is missing or wrong"):
        either.check(with_token, request(basic("u", "p")))
    with pytest.raises(
        kit.WebhookRefused, match=r"webhooks\.connectors\.tool\.username is not set"
    ):
        either.check(receiver(), request(basic("u", "p")))  # nothing set: the first says what


def test_basic_credentials_are_read_or_refused() -> None:
    assert basic_credentials("Basic " + base64.b64encode(b"a:b:c").decode()) == ("a", "b:c")
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic " + base64.b64encode(b"no-colon").decode()) is None


def test_the_declared_read_takes_topic_and_id_from_headers() -> None:
    delivery = receiver().read(request({"x-tool-topic": "tag/added", "x-tool-id": "d-1"}))
    assert (delivery.id, delivery.topic) == ("d-1", "tag/added")
    assert delivery.records == [kit.TagRecord("7", "vip", present=True)]
    assert receiver().read(request({"x-tool-topic": "tag/added"})).id is None
    with pytest.raises(kit.WebhookRefused, match="no X-Tool-Topic header") as refused:
        receiver().read(request({"x-tool-id": "d-1"}, body=b"{not json"))
    assert refused.value.status == 400
    for body in (b"{not json", b"[1, 2]"):
        with pytest.raises(kit.WebhookRefused) as unreadable:
            receiver().read(request({"x-tool-topic": "t"}, body=body))
        assert unreadable.value.status == 400


class Form(Tool):
    form = True
    topic_header = None
    topic_field = "kind"
    id_header = None
    id_from_body = True


def test_a_form_post_names_its_topic_and_is_its_own_id() -> None:
    fields = {"kind": "tagged", "who": "7", "tag": "vip"}
    first = receiver(Form).read(request({}, body=urlencode(fields).encode()))
    again = receiver(Form).read(request({}, body=urlencode(fields).encode()))
    other = receiver(Form).read(request({}, body=urlencode({**fields, "tag": "b"}).encode()))
    assert first.topic == "tagged" and first.records == [kit.TagRecord("7", "vip", present=True)]
    assert first.id is not None and first.id == again.id != other.id
    with pytest.raises(kit.WebhookRefused, match="a webhook without a kind"):
        receiver(Form).read(request({}, body=b"who=7"))
    with pytest.raises(kit.WebhookRefused, match="not UTF-8"):
        receiver(Form).read(request({}, body=b"kind=\xff"))


class Batch(Tool):
    batch = True
    topic_field = "kind"
    id_field = "n"

    def records(self, topic: str, payload: dict[str, Any]) -> list[kit.Record]:
        return super().records(topic, payload) if topic == "tagged" else []


def test_a_batch_is_one_delivery_of_its_events_in_any_order() -> None:
    a = {"n": 1, "kind": "tagged", "who": "7", "tag": "a"}
    b = {"n": 2, "kind": "created", "who": "8"}
    first = receiver(Batch).read(request({}, body=json.dumps([a, b]).encode()))
    again = receiver(Batch).read(request({}, body=json.dumps([b, a]).encode()))
    alone = receiver(Batch).read(request({}, body=json.dumps(a).encode()))
    assert first.topic == "created,tagged" and first.records == [
        kit.TagRecord("7", "a", present=True)
    ]
    assert first.id is not None and first.id == again.id != alone.id
    assert alone.topic == "tagged"
    with pytest.raises(kit.WebhookRefused, match="list of event objects"):
        receiver(Batch).read(request({}, body=b"[1]"))


class Vendor(kit.WebhookSubscriptions):
    """A vendor with an app's one target URL, holding subscriptions in memory."""

    held: list[kit.WebhookSubscription]
    app_target = ""
    calls: list[str]

    def topics(self) -> list[str]:
        return ["a", "b", "c"]

    def subscriptions(self) -> list[kit.WebhookSubscription]:
        return [kit.WebhookSubscription(s.id, s.topic, self.app_target) for s in self.held]

    def create(self, address: str, missing: list[str], held: list[kit.WebhookSubscription]) -> None:
        self.calls.append(f"create {','.join(missing)} with {len(held)} held")
        self.held += [
            kit.WebhookSubscription(str(len(self.held) + i), t, "") for i, t in enumerate(missing)
        ]

    def target(self) -> str:
        return self.app_target

    def set_target(self, address: str) -> None:
        self.calls.append(f"target {address}")
        type(self).app_target = address


def test_register_moves_the_target_and_creates_only_what_is_missing() -> None:
    Vendor.held, Vendor.calls = [kit.WebhookSubscription("0", "b", "")], []
    vendor = Vendor(connector(), kit.WebhookSecrets())
    made = vendor.register("https://new")
    assert Vendor.calls == ["target https://new", "create a,c with 1 held"]
    assert sorted(s.topic for s in made) == ["a", "b", "c"]
    assert {s.address for s in made} == {"https://new"}
    assert vendor.register("https://new") == made and len(Vendor.calls) == 2  # nothing more


def test_a_paused_subscription_counts_as_held_and_is_shown_so() -> None:
    paused = kit.WebhookSubscription("1", "contact.creation", "https://a", paused=True)
    assert paused.shown_topic == "contact.creation (paused)"
    assert kit.WebhookSubscription("1", "t", "https://a").shown_topic == "t"


def test_an_address_carrying_a_secret_is_matched_whole_and_shown_masked() -> None:
    held = [kit.WebhookSubscription("1", "a", "https://h/w?token=old")]

    class Tokened(kit.WebhookSubscriptions):
        def topics(self) -> list[str]:
            return ["a"]

        def subscriptions(self) -> list[kit.WebhookSubscription]:
            return list(held)

        def create(self, address: str, missing: list[str], held_there: list[Any]) -> None:
            held.append(kit.WebhookSubscription("2", "a", address))

    class Receiver(Tool):
        signature = kit.UrlToken()
        subscriber = Tokened

    tool = receiver(Receiver, token="new")
    made = tool.register("https://h/w")  # a new token is a new address: the old one is no use
    assert [(s.id, s.address) for s in made] == [("2", "https://h/w?token=***")]
    assert [s.address for s in tool.subscriptions()] == ["https://h/w?token=***"] * 2
    assert tool.register("https://h/w") == made and len(held) == 2


def test_a_vendor_without_a_subscription_api_says_where_instead() -> None:
    class ByHand(kit.SubscribedByHand):
        how = "set a rule up in its UI"

    class Manual(Tool):
        subscriber = ByHand

    with pytest.raises(
        NotImplementedError, match="set a rule up in its UI, with the endpoint https://h/w"
    ):
        receiver(Manual, secret="k").register("https://h/w")
    with pytest.raises(NotImplementedError, match="does not list webhooks: set a rule up"):
        receiver(Manual).subscriptions()


def test_reshape_builds_nested_objects_from_paths_alternatives_and_functions() -> None:
    line = kit.Reshape({"title": "title", "product.id": "product_id"})
    order = kit.Reshape(
        {
            "id": "id",
            "email": ("email", "contact_email"),
            "total.money.amount": "total",
            "codes": kit.Reshape.each("discount_codes", "code"),
            "lines.nodes": kit.Reshape.each("line_items", line),
            "buyer": kit.Reshape.at("customer", kit.Reshape({"id": "id"})),
            "paid": lambda row: row.get("status") == "paid",
        }
    )
    row = {"id": 5, "email": "", "contact_email": "c@x", "total": "9.5", "status": "paid",
           "discount_codes": [{"code": "TEN"}, "junk"], "customer": {"id": 3},
           "line_items": [{"title": "Mug", "product_id": 1}]}  # fmt: skip
    assert order(row) == {
        "id": 5, "email": "c@x", "total": {"money": {"amount": "9.5"}}, "codes": ["TEN"],
        "lines": {"nodes": [{"title": "Mug", "product": {"id": 1}}]}, "buyer": {"id": 3},
        "paid": True,
    }  # fmt: skip
    assert order({}) == {
        "id": None, "email": None, "total": {"money": {"amount": None}}, "codes": [],
        "lines": {"nodes": []}, "buyer": None, "paid": False,
    }  # fmt: skip


class People(kit.RestStream):
    name = "people"
    path = "people"

    def map(self, row: dict[str, Any]) -> kit.Record | None:
        return kit.ContactRecord(str(row["id"]), row["email"]) if row.get("email") else None


class Places(People):
    name = "places"


class PeopleOptions(kit.HttpOptions):
    url: str = "https://api.example.com"


class PeopleTool(kit.HttpConnector):
    name = "people-tool"
    Options = PeopleOptions
    stream_classes = (People, Places)


def test_a_payload_is_mapped_by_the_instance_stream_of_its_name() -> None:
    def mapper(streams: list[str] | None) -> kit.WebhookReceiver:
        tool = PeopleTool(PeopleOptions(streams=streams), kit.ConnectorContext("tool"))
        return kit.WebhookReceiver(tool, kit.WebhookSecrets(), lambda: NOW)

    row = {"id": 4, "email": "d@example.com"}
    assert mapper(None).mapped("people", row) == [kit.ContactRecord("4", "d@example.com")]
    assert mapper(None).mapped("people", {"id": 4}) == []  # the stream maps it to nothing
    assert mapper(["places"]).mapped("people", row) == []  # the instance reads no people
    assert mapper(None).mapped("nobody", row) == []


def test_epoch_times_in_seconds_or_milliseconds() -> None:
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert kit.epoch_time(1796637600) == at
    assert kit.epoch_time("1796637600000", "ms") == kit.epoch_time(1796637600000.0, "ms") == at
    for nothing in (None, True, "", "soon", "9" * 40, float("nan")):
        assert kit.epoch_time(nothing, "ms") is None
