"""What the connector kit runs for a destination: the HTTP destination's push (unsupported
kinds, refused e-mails, answers left open), batches sent and answered (by size, by weight, a
refused call split), ids looked up by e-mail, the last change of a key winning, a vendor job
polled, a GET that takes a 404 as nothing there, the connector's declared auth header and
destination, and a vendor package's hooks by convention."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from syncd.connectors import (
    Answers,
    Change,
    ChangeKind,
    ConnectorContext,
    HttpConnector,
    HttpDestination,
    HttpOptions,
    Outcome,
    RecordError,
    RetryableError,
    Write,
    by_key,
    in_batches,
    known_ids,
    last_writes,
    poll,
    vendor_hooks,
)
from syncd.secrets import redact

ADD, REMOVE = ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG
SUB, UNSUB = ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE


def change(n: int, email: str, kind: ChangeKind = ADD, key: str = "VIP", **more: Any) -> Change:
    return Change(n, kind, email, key, **more)


# --- the HTTP destination ------------------------------------------------------------------


class AcmeOptions(HttpOptions):
    url: str = "https://api.acme.example"
    token: SecretStr
    batch_size: int = 7


class AcmeDestination(HttpDestination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset({ADD, REMOVE, SUB})
    unsupported = {UNSUB: "Acme never unsubscribes anyone"}
    email_kinds = frozenset({ADD})
    written: ClassVar[list[list[int]]] = []

    def write(self, answers: Answers) -> None:
        AcmeDestination.written.append([c.id for c in answers.open()])
        answers.done(answers.open({ADD}), external_id="9")  # REMOVE and SUB left open


class Acme(HttpConnector):
    name = "acme"
    vendor = "Acme"
    Options = AcmeOptions
    auth_header = ("Authorization", "Bearer {token}")
    destination_class = AcmeDestination


def acme(handler: Callable[[httpx.Request], httpx.Response] | None = None) -> Acme:
    handler = handler or (lambda request: httpx.Response(200, json={}))
    context = ConnectorContext("acme-1", transport=httpx.MockTransport(handler))
    return Acme(AcmeOptions(token=SecretStr("s3cret-token")), context)


def test_the_push_fails_what_the_destination_cannot_take_and_write_answers_the_rest() -> None:
    connector = acme()
    destination = connector.destination()
    assert isinstance(destination, AcmeDestination) and connector.destination() is destination
    assert destination.batch_size == 7  # the options'
    batch = [
        change(1, "a@x.com"),
        change(2, "not an address"),  # refused for a kind of email_kinds ...
        change(3, "not an address", REMOVE),  # ... and left to the vendor for another
        change(4, "b@x.com", UNSUB, "news"),
        change(5, "b@x.com", ChangeKind.SET_FIELD, "tier"),
        change(6, "b@x.com", SUB, "news"),
    ]
    AcmeDestination.written.clear()
    results = {r.change_id: r for r in destination.push(batch)}
    assert AcmeDestination.written == [[1, 3, 6]]
    assert (results[1].outcome, results[1].external_id) == (Outcome.DONE, "9")
    assert results[2].reason == "Acme would refuse e-mail 'not an address'"
    assert (results[4].outcome, results[4].reason) == (
        Outcome.FAILED,
        "Acme never unsubscribes anyone",
    )
    assert results[5].reason == "set_field is not supported by this destination"
    assert results[3].outcome is results[6].outcome is Outcome.RETRYABLE  # left open


def test_the_declared_auth_header_carries_the_secret_option_and_the_secret_is_redacted() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={})

    connector = acme(handler)
    assert connector.auth_headers() == {"Authorization": "Bearer s3cret-token"}
    connector.api.get("me")
    assert seen == ["Bearer s3cret-token"]
    assert "s3cret-token" not in redact("sent Bearer s3cret-token")


# --- batches sent and answered ---------------------------------------------------------------


def test_batches_by_weight_hold_at_most_the_weight_a_heavy_item_alone() -> None:
    weights = [3, 4, 2, 9, 1, 1]
    batches = list(in_batches(weights, 6, weight=lambda n: n))
    assert batches == [[3], [4, 2], [9], [1, 1]]
    assert [n for batch in batches for n in batch] == weights  # all of them, in order


def rows(*groups: list[Change]) -> list[Write[str]]:
    return [(group[0].email, group) for group in groups]


def test_answers_send_batches_and_an_error_answers_only_its_calls_changes() -> None:
    batch = [change(n, f"c{n}@x.com") for n in range(1, 6)]
    answers = Answers(batch)
    calls: list[list[str]] = []

    def send(sent: list[Write[str]]) -> None:
        calls.append([email for email, _ in sent])
        if len(calls) == 2:
            raise RetryableError("HTTP 503")
        answers.done([c for _, group in sent for c in group])

    answers.send(rows(*([c] for c in batch)), 2, send)
    assert calls == [["c1@x.com", "c2@x.com"], ["c3@x.com", "c4@x.com"], ["c5@x.com"]]
    outcomes = [r.outcome for r in answers.results()]
    assert outcomes == [Outcome.DONE, Outcome.DONE, Outcome.RETRYABLE, Outcome.RETRYABLE, "done"]


@pytest.mark.parametrize(("split", "calls"), [("singles", 1 + 4), ("halves", 1 + 2 + 2)])
def test_a_refused_call_is_split_so_only_the_refused_contact_fails(split: Any, calls: int) -> None:
    batch = [change(n, f"c{n}@x.com") for n in range(1, 5)]
    answers = Answers(batch)
    sent_calls: list[list[str]] = []

    def send(sent: list[Write[str]]) -> None:
        sent_calls.append([email for email, _ in sent])
        if "c2@x.com" in sent_calls[-1]:
            raise RecordError("HTTP 400: c2 is refused", status=400)
        answers.done([c for _, group in sent for c in group])

    answers.send(rows(*([c] for c in batch)), 10, send, split=split)
    assert len(sent_calls) == calls
    results = answers.results()
    assert [r.outcome for r in results] == ["done", "failed", "done", "done"]
    assert results[1].reason == "HTTP 400: c2 is refused"


# --- ids by e-mail, last writes, grouping -----------------------------------------------------


def test_known_ids_come_from_the_changes_and_the_rest_are_looked_up_in_batches() -> None:
    batch = [
        change(1, "a@x.com"),
        change(2, "a@x.com", external_id="11"),  # a later change of the contact knows it
        change(3, "b@x.com"),
        change(4, "c@x.com"),
        change(5, "d@x.com"),
    ]
    answers = Answers(batch)
    looked_up: list[list[str]] = []

    def find(emails: list[str]) -> Mapping[str, str]:
        looked_up.append(emails)
        if "d@x.com" in emails:
            raise RetryableError("HTTP 502")
        return {"b@x.com": "22"}  # c@x.com is not at the vendor

    groups = {e: [c for c in batch if c.email == e] for e in dict.fromkeys(c.email for c in batch)}
    ids = known_ids(answers, groups, find, 2)
    assert ids == {"a@x.com": "11", "b@x.com": "22"}
    assert looked_up == [["b@x.com", "c@x.com"], ["d@x.com"]]
    assert [c.id for c in answers.open()] == [1, 2, 3, 4]  # only d's look-up failed
    assert answers.given[5].outcome is Outcome.RETRYABLE


def test_the_last_change_of_a_key_wins_and_changes_group_by_key() -> None:
    group = [
        change(1, "a@x.com", SUB, "news"),
        change(2, "a@x.com", UNSUB, "deals"),
        change(3, "a@x.com", UNSUB, "news"),
        change(4, "a@x.com", ADD, "VIP"),
        change(5, "a@x.com", SUB, "deals"),
    ]
    on, off = last_writes(group, SUB, UNSUB)
    assert on == {"deals": [group[1], group[4]]}
    assert off == {"news": [group[0], group[2]]}
    assert by_key(group) == {
        "news": [group[0], group[2]],
        "deals": [group[1], group[4]],
        "VIP": [group[3]],
    }


# --- polling, a GET that may find nothing -----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_poll_waits_with_doubling_pauses_until_found_or_the_timeout() -> None:
    clock = Clock()
    answers = iter([None, None, None, "report"])
    found = poll(lambda: next(answers), 60, sleep=clock.sleep, monotonic=lambda: clock.now)
    assert found == "report" and clock.pauses == [0.5, 1.0, 2.0]
    clock = Clock()
    never = poll(lambda: None, 10, sleep=clock.sleep, monotonic=lambda: clock.now, longest=4)
    assert never is None and clock.pauses == [0.5, 1.0, 2.0, 4.0]  # a next pause of 4 ends at 11.5


def test_find_takes_a_404_as_nothing_there_and_raises_other_refusals() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        status = {"/lists/1": 200, "/lists/2": 404}.get(request.url.path, 400)
        return httpx.Response(status, json={"id": "1"} if status == 200 else {"error": "no"})

    api = acme(handler).api
    assert api.find("lists/1") == {"id": "1"}
    assert api.find("lists/2") is None
    with pytest.raises(RecordError):
        api.find("lists/3")


# --- a vendor package's hooks ----------------------------------------------------------------


def test_vendor_hooks_find_a_packages_classes_by_convention() -> None:
    connectors, emulators, receivers = vendor_hooks("syncd_plugins.shopify", "Shopify")
    assert [c.__name__ for c in connectors()] == ["ShopifyConnector"]
    assert {k: v.__name__ for k, v in emulators().items()} == {"shopify": "ShopifyEmulator"}
    assert {k: v.__name__ for k, v in receivers().items()} == {"shopify": "ShopifyWebhooks"}
    connectors, _, _ = vendor_hooks("syncd_plugins.shopify", "Shopfy")  # misspelt
    with pytest.raises(AttributeError):
        connectors()
