"""The conformance suite (syncd.testing): the sample connector passes it, and for each rule
a connector that breaks it fails it, with a message that names the rule.

Each broken connector is the sample with one thing changed; its proof runs that one
generated test directly on a bench and expects an AssertionError. One more run goes
through pytest itself (``pytester``), with the plugin loaded from its entry point.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog

from syncd.connectors import (
    Change,
    ChangeResult,
    ContactRecord,
    Cursor,
    Outcome,
    Page,
    RetryableError,
)
from syncd.connectors.client import ApiClient
from syncd.testing import Bench, Harness, conformance_suite
from syncd.testing.sample.connector import Contacts, SampleConnector, SampleDestination
from syncd.testing.sample.harness import SampleHarness

pytest_plugins = ["pytester"]

TestSampleConformance = conformance_suite(SampleHarness)


def broken(
    stream: type[Contacts] | None = None,
    destination: type[SampleDestination] | None = None,
    connector: type[SampleConnector] = SampleConnector,
) -> type[Harness]:
    """The sample's harness on a connector that differs from the sample by its ``stream``,
    its ``destination`` or its class, and is named after what differs."""
    attrs: dict[str, Any] = {}
    if stream is not None:
        attrs["stream_classes"] = (stream,)
    if destination is not None:
        attrs["build_destination"] = lambda self: destination(self)
    name = next((c.__name__ for c in (stream, destination) if c is not None), connector.__name__)
    cls = type(name, (connector,), attrs)
    return type(f"{name}Harness", (SampleHarness,), {"connector": cls})


# --- sources that break a rule ----------------------------------------------------------------


class CursorOnlyAtTheEnd(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        pages = list(super().read(cursor))
        yield from (Page(p.records, None) for p in pages[:-1])
        yield pages[-1]


class MisspeltField(Contacts):
    def map(self, row: dict[str, Any]) -> ContactRecord:
        return super().map({**row, "email": row.get("e_mail")})


class FirstPageOnly(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        yield next(iter(super().read(cursor)))


class StartsOverOnResume(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        stored = Cursor.load(cursor)
        yield from super().read(None if stored.reading else cursor)


class SkipsAPageOnResume(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        pages = super().read(cursor)
        if Cursor.load(cursor).reading:
            skipped = next(pages)
            yield Page([], skipped.cursor)
        yield from pages


class ReadsFromTheStart(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        yield from super().read(None)


class ReadsOnce(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        if cursor is None:
            yield from super().read(None)


class AsksInclusively(Contacts):
    def after(self, value: Any) -> dict[str, Any]:
        return {}


class ForgetsWhatItRead(AsksInclusively):  # the ties at the bound come back: not dropped
    def read(self, cursor: str | None) -> Iterator[Page]:
        stored = Cursor.load(cursor)
        yield from super().read(dataclasses.replace(stored, seen={}).dump() if cursor else None)


class EndsQuietlyOnErrors(Contacts):
    def read(self, cursor: str | None) -> Iterator[Page]:
        try:
            yield from super().read(cursor)
        except RetryableError:
            return


class RaisesOnABadRecord(Contacts):
    def map(self, row: dict[str, Any]) -> ContactRecord:
        if not row.get("email"):
            raise RuntimeError("no e-mail")
        return super().map(row)


class DropsABadRecord(Contacts):
    def map(self, row: dict[str, Any]) -> ContactRecord | None:  # type: ignore[override]
        return super().map(row) if row.get("email") else None


# --- destinations that break a rule -----------------------------------------------------------


class EmptyPlanCalls(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        self.api.get("v1/me")
        return super().push(changes)


class AnswersTwice(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results = super().push(changes)
        return results + results[:1]


class AnswersForAnother(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results = super().push(changes)
        return [dataclasses.replace(results[0], change_id=-1), *results[1:]]


class OneWritePerChange(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: list[ChangeResult] = []
        for change in changes:
            results += super().push([change])
        return results


class LargerThanTheVendorTakes(SampleDestination):
    batch_size = 100


class DoneWhenItFailed(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return [dataclasses.replace(r, outcome=Outcome.DONE) for r in super().push(changes)]


class ShowsItsHeaders(SampleDestination):
    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        try:
            self.api.client.get("v1/me").raise_for_status()
        except Exception:
            headers = dict(self.api.client.headers)
            return [
                ChangeResult(c.id, Outcome.RETRYABLE, f"failed with {headers}") for c in changes
            ]
        return super().push(changes)


# --- connectors that break a rule -------------------------------------------------------------


def retrying(name: str, **policy: Any) -> type[SampleConnector]:
    """The sample connector, named ``name``, whose client retries with ``policy`` changed."""

    def api(self: SampleConnector) -> ApiClient:
        client: ApiClient = SampleConnector.api.__get__(self)
        for setting, value in policy.items():
            assert hasattr(client.retry, setting), setting
            setattr(client.retry, setting, value)
        return client

    return type(name, (SampleConnector,), {"api": property(api)})


NoRetries = retrying("NoRetries", attempts=1)
NoWaitForRetryAfter = retrying("NoWaitForRetryAfter", max_retry_after=0.0)


class TakesAnyToken(SampleConnector):
    def check(self) -> None:
        """A connection check that asks the vendor nothing."""


class LogsItsToken(SampleConnector):
    def auth_headers(self) -> dict[str, str]:
        structlog.get_logger("sample").debug("authenticating", token=self.secret("token"))
        return super().auth_headers()


PULL = "test_a_full_pull_reads_every_stream_to_its_end"
RESUME = "test_a_pull_resumes_from_every_page_after_a_crash"
INCREMENTAL = "test_an_incremental_pull_reads_only_what_changed"
NOTHING = "test_a_pull_with_nothing_changed_reads_nothing"
EMPTY_PLAN = "test_an_empty_plan_sends_nothing"
PULL_FAULTS = "test_a_pull_retries_through_faults_within_one_run"
PUSH_FAULTS = "test_a_push_retries_through_faults_within_one_run"
VENDOR_PULL_FAULTS = "test_a_pull_under_vendor_faults_ends_as_a_clean_one"
VENDOR_PUSH_FAULTS = "test_a_push_under_vendor_faults_ends_as_a_clean_one"
OUTCOMES = "test_each_change_gets_one_outcome_with_its_id"
WRITES = "test_a_push_takes_the_fewest_writes"
SECRETS = "test_no_secret_in_logs_or_errors"
QUARANTINE = "test_a_bad_record_is_quarantined_and_the_read_goes_on"
QUIET = "test_a_pull_with_nothing_new_asks_once_a_stream_and_gets_no_row"


def proof(harness: type[Harness], test: str, message: str, **params: Any) -> Any:
    """One broken connector, the generated test it must fail, and the failure's message."""
    name = f"{harness.connector.__name__}-{test.removeprefix('test_')}"
    return pytest.param(harness, test, params, message, id=name)


# fmt: off
BROKEN = [
    # 1. a full pull reads every stream to its end, each page's cursor stored with it
    proof(broken(CursorOnlyAtTheEnd), PULL, "page 1 carried no cursor"),
    proof(broken(MisspeltField), PULL, "23 records quarantined in a clean pull"),
    proof(broken(FirstPageOnly), PULL, "a full pull did not read 18 records"),
    # 2. a read resumes from every page's cursor after a crash
    proof(broken(StartsOverOnResume), RESUME, "it read pages before the crash again"),
    proof(broken(SkipsAPageOnResume), RESUME, "did not end where a clean pull ends"),
    # 3. an incremental pull reads only what changed
    proof(broken(ReadsFromTheStart), INCREMENTAL, "read 22 records that did not change"),
    proof(broken(ReadsOnce), INCREMENTAL, r"did not read \['24', '3'\]"),
    # 4. a cycle with no change reads nothing new and writes nothing
    proof(broken(ForgetsWhatItRead), NOTHING, "read 1 records again"),
    proof(broken(AsksInclusively), QUIET, "got 1 rows back from the vendor"),
    proof(broken(destination=EmptyPlanCalls), EMPTY_PLAN, "pushing no change sent 1 requests"),
    # 5. faults converge, within one run when each request fails once
    proof(broken(connector=NoRetries), PULL_FAULTS, "did not get through in one run",
          fault="5xx"),
    proof(broken(connector=NoRetries), PUSH_FAULTS, "not done after 1 rounds", fault="drop"),
    proof(broken(connector=NoWaitForRetryAfter), PULL_FAULTS, "Retry-After is not honoured",
          fault="429"),
    proof(broken(EndsQuietlyOnErrors, connector=NoRetries), VENDOR_PULL_FAULTS,
          "did not end as a clean one", spec="5xx=0.3"),
    proof(broken(destination=DoneWhenItFailed, connector=NoRetries), PUSH_FAULTS,
          "left the vendor otherwise", fault="drop"),
    proof(broken(destination=DoneWhenItFailed, connector=NoRetries), VENDOR_PUSH_FAULTS,
          "left the vendor otherwise", spec="5xx=0.3"),
    # 6. one outcome per change, with its id
    proof(broken(destination=AnswersTwice), OUTCOMES, r"repeated results for \[0\]"),
    proof(broken(destination=AnswersForAnother), OUTCOMES, r"repeated results for \[-1\]"),
    # 7. batches the vendor takes, and the fewest write calls
    proof(broken(destination=OneWritePerChange), WRITES,
          "took 84 write calls where the vendor's API allows 2"),
    proof(broken(destination=LargerThanTheVendorTakes), WRITES, "at most 50 contacts a call"),
    # 8. no secret in a log line or an error
    proof(broken(connector=LogsItsToken), SECRETS, "a secret shows in"),
    proof(broken(destination=ShowsItsHeaders), SECRETS, "a secret shows in"),
    proof(broken(connector=TakesAnyToken), SECRETS, "a wrong credential raised no ConnectorError"),
    # 9. a bad record is quarantined with its reason, and the read goes on
    proof(broken(RaisesOnABadRecord), QUARANTINE, "stopped at a bad record"),
    proof(broken(DropsABadRecord), QUARANTINE, "no record quarantined with a reason"),
]
# fmt: on


def run_generated(harness: type[Harness], test: str, directory: Path, **params: Any) -> None:
    """Run one test of the suite generated for ``harness``, as pytest would."""
    bench = Bench(harness, directory)
    try:
        getattr(conformance_suite(harness)(), test)(bench, **params)
    finally:
        bench.close()


@pytest.mark.parametrize(("harness", "test", "params", "message"), BROKEN)
def test_the_suite_fails_a_connector_that_breaks_a_rule(
    harness: type[Harness], test: str, params: dict[str, Any], message: str, tmp_path: Path
) -> None:
    run_generated(SampleHarness, test, tmp_path / "sample", **params)  # the sample passes it
    with pytest.raises(AssertionError, match=message):
        run_generated(harness, test, tmp_path / "broken", **params)


LEAKY = """
import structlog

from syncd.testing import conformance_suite
from syncd.testing.sample.connector import SampleConnector
from syncd.testing.sample.harness import SampleHarness


class LeakyConnector(SampleConnector):
    def auth_headers(self):
        structlog.get_logger("leaky").info("signing in", token=self.secret("token"))
        return super().auth_headers()


class LeakyHarness(SampleHarness):
    connector = LeakyConnector


TestLeakyConformance = conformance_suite(LeakyHarness)


def test_the_plugin_gives_virtual_time_and_a_store(syncd_time, syncd_store):
    syncd_time.sleep(5)
    assert syncd_time.monotonic() == 5
    assert syncd_store.url.get_backend_name() == "sqlite"
"""


def test_pytest_runs_a_generated_suite_with_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "error::pytest.PytestUnknownMarkWarning",  # the plugin registers the suite's marker
        "-k",
        "secret or full_pull or plugin_gives",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: a secret shows in 2 log lines or errors*",
            "FAILED test_leaky.py::TestLeakyConformance::test_no_secret_in_logs_or_errors*",
        ]
    )


class OnePage:
    """A connector with one stream that reads ``records`` in one page (cursor ``c1``)."""

    name = "contacts"

    def __init__(self, *records: Any) -> None:
        self.records = list(records)

    def streams(self) -> list[OnePage]:
        return [self]

    def read(self, cursor: str | None) -> Iterator[Page]:
        yield Page(self.records, "c1")


def test_pull_valid_fails_the_test_on_a_record_the_connector_could_not_read() -> None:
    from syncd.connectors import InvalidRecord
    from syncd.testing import pull_valid

    ada = ContactRecord("1", "ada@example.com")
    cursors: dict[str, str | None] = {}
    assert pull_valid(OnePage(ada), cursors) == [ada]  # type: ignore[arg-type]
    assert cursors == {"contacts": "c1"}
    unread = OnePage(ada, InvalidRecord("no e-mail", {}), InvalidRecord("bad date", {}))
    with pytest.raises(AssertionError, match="2 invalid records, the first: no e-mail"):
        pull_valid(unread, {})  # type: ignore[arg-type]
