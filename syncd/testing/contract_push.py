"""The destination side of the contract: nothing sent for nothing, one outcome per change,
and the fewest write calls in batches no larger than the destination declares."""

from __future__ import annotations

from syncd.connectors.contract import Change, Destination
from syncd.testing.bench import Bench, PushRun
from syncd.testing.contract_pull import Conformance, assert_no_writes, writes_now


def plan_for(bench: Bench, destination: Destination) -> list[Change]:
    """The harness's plan, checked: unique ids, kinds the destination takes."""
    changes: list[Change] = bench.ask("changes")
    assert changes, f"{type(bench.harness).__name__}.changes() gave an empty plan"
    ids = [c.id for c in changes]
    assert len(set(ids)) == len(ids), "the harness's plan repeats change ids"
    unknown = sorted({c.kind.value for c in changes} - {k.value for k in destination.change_kinds})
    assert not unknown, (
        f"the harness's plan holds kinds the destination does not declare in change_kinds: "
        f"{unknown}"
    )
    return changes


def assert_all_done(run: PushRun, what: str) -> None:
    problems = run.outcome_problems()
    assert not problems, f"{what}: not one outcome per change:\n" + "\n".join(problems[:5])
    assert not run.failed, f"{what}: {len(run.failed)} changes failed, e.g. {run.failed[0].reason}"
    assert not run.pending, (
        f"{what}: {len(run.pending)} changes still not done after {run.rounds} rounds"
    )


class PushContract(Conformance):
    """What every destination must do."""

    def test_an_empty_plan_sends_nothing(self, conformance: Bench) -> None:
        bench = conformance
        bench.start()
        destination = bench.destination(bench.connector())
        sent = len(bench.wire.sent) if bench.wire else 0
        writes = writes_now(bench)
        results = destination.push([])
        assert results == [], f"pushing no change answered {results!r}"
        if bench.wire is not None:
            extra = len(bench.wire.sent) - sent
            assert extra == 0, f"pushing no change sent {extra} requests"
        assert_no_writes(bench, writes, "pushing no change")

    def test_each_change_gets_one_outcome_with_its_id(self, conformance: Bench) -> None:
        bench = conformance
        bench.start()
        connector = bench.connector()
        changes = plan_for(bench, bench.destination(connector))
        assert_all_done(bench.push(changes, connector), "a push to a clean vendor")

    def test_a_push_takes_the_fewest_writes(self, conformance: Bench) -> None:
        bench = conformance
        bench.start()
        connector = bench.connector()
        destination = bench.destination(connector)
        assert destination.batch_size >= 1, "a destination's batch_size is at least 1"
        changes = plan_for(bench, destination)
        before: int = bench.ask("writes")
        minimum: int = bench.ask("minimum_writes", changes)
        run = bench.push(changes, connector)
        assert_all_done(run, "a push to a clean vendor")
        contacts = len({c.email.strip().lower() for c in changes})
        assert contacts > destination.batch_size, (
            f"the harness's plan holds {contacts} contacts, not more than one batch "
            f"(batch_size {destination.batch_size}): make changes() span two batches at least"
        )
        writes = bench.harness.writes() - before
        assert writes == minimum, (
            f"the push took {writes} write calls where the vendor's API allows {minimum} "
            f"for {len(changes)} changes of {contacts} contacts in batches of "
            f"{destination.batch_size}"
        )
