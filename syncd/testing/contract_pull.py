"""The source side of the contract: full, resumed and incremental pulls, and quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from syncd.testing.bench import Bench
from syncd.testing.harness import Harness
from syncd.testing.store import content_diff, quarantined, store_content


class Conformance:
    """The base of every generated suite: the harness and the bench each test runs on."""

    harness_class: ClassVar[type[Harness]]

    @pytest.fixture
    def conformance(self, tmp_path: Path) -> Iterator[Bench]:
        """A bench for this test's harness, in virtual time."""
        bench = Bench(self.harness_class, tmp_path)
        yield bench
        bench.close()


def writes_now(bench: Bench) -> int | None:
    """The vendor's write calls so far, or None when the harness cannot count them."""
    try:
        return bench.harness.writes()
    except NotImplementedError:
        return None


def assert_no_writes(bench: Bench, before: int | None, what: str) -> None:
    if before is not None:
        sent = bench.harness.writes() - before
        assert sent == 0, f"{what} sent {sent} write calls to the vendor"


class PullContract(Conformance):
    """What every source must do."""

    def test_a_full_pull_reads_every_stream_to_its_end(self, conformance: Bench) -> None:
        bench = conformance
        connector, names = bench.fresh_source()
        engine = bench.store()
        before = writes_now(bench)
        run = bench.pull(engine, connector).ok()
        unfinished = [n for n in names if n not in run.finished]
        assert not unfinished, f"streams not read to their end: {unfinished}"
        assert not run.cursor_problems, "a page's cursor is not stored with it:\n" + "\n".join(
            run.cursor_problems[:5]
        )
        bad = quarantined(engine)
        assert not bad, f"{len(bad)} records quarantined in a clean pull, e.g. {bad[0][1]}"
        assert run.count, "the pull read no record: give the vendor double some data"
        assert_no_writes(bench, before, "a pull")
        try:
            expected = bench.harness.external_ids()
        except NotImplementedError:
            return
        missing = sorted(expected - run.external_ids())
        assert not missing, f"a full pull did not read {len(missing)} records: {missing[:5]}"

    def test_a_pull_resumes_from_every_page_after_a_crash(self, conformance: Bench) -> None:
        bench = conformance
        connector, names = bench.fresh_source()
        clean_store = bench.store()
        clean = bench.pull(clean_store, connector).ok("the clean pull")
        expected = store_content(clean_store)
        crashes = [(name, k) for name in names for k in range(1, clean.pages[name])]
        if not crashes:
            pytest.skip(
                "every stream was read in one page: give the vendor double more records "
                "than a page holds (a small page_size in options())"
            )
        for name, k in crashes:
            where = f"after a crash at page {k} of {name}"
            bench.start()
            engine = bench.store()
            first = bench.pull(engine, crash_after=(name, k)).ok(f"the pull that crashed {where}")
            bench.advance(5)
            resumed = bench.pull(engine).ok(f"the pull {where}")  # a new process
            got = store_content(engine)
            assert got == expected, (
                f"{where}, the next pull did not end where a clean pull ends:\n"
                + content_diff(expected, got)
            )
            left = clean.pages[name] - k
            assert resumed.pages[name] <= left, (
                f"{where}, the next pull read {resumed.pages[name]} pages of {name} where "
                f"{left} were left: it read pages before the crash again"
            )
            left = clean.requests[name] - first.requests[name] + bench.harness.lookups
            assert resumed.requests[name] <= left, (
                f"{where}, the next pull sent {resumed.requests[name]} requests for {name} "
                f"where {left} were left: it read pages before the crash again"
            )
            bench.advance(5)
            after = bench.pull(engine).ok(f"the second pull {where}")
            assert after.count == 0, (
                f"{where} and a resumed pull, a pull with nothing changed read {after.count} "
                "records again: the resumed read did not leave the cursor where a clean one does"
            )

    def test_an_incremental_pull_reads_only_what_changed(self, conformance: Bench) -> None:
        bench = conformance
        engine, connector = bench.full_pull()
        bench.advance(60)
        changed: set[str] = bench.ask("change")
        bench.advance(60)
        run = bench.pull(engine, connector).ok("the pull after the change")
        got = run.external_ids()
        missing = sorted(changed - got)
        assert not missing, f"the pull after a change did not read {missing}"
        again = sorted(got - changed)
        allowed = bench.harness.rereads
        assert len(again) <= allowed, (
            f"the pull after a change read {len(again)} records that did not change "
            f"({again[:5]}); a stream reads from its cursor and drops what it already read "
            f"(Harness.rereads allows {allowed})"
        )

    def test_a_pull_with_nothing_changed_reads_nothing(self, conformance: Bench) -> None:
        bench = conformance
        engine, connector = bench.full_pull()
        before = store_content(engine, times=True)
        writes = writes_now(bench)
        bench.advance(30)
        run = bench.pull(engine, connector).ok("the second pull")
        assert run.count == 0, (
            f"a pull right after a full one read {run.count} records again "
            f"(ids {sorted(run.external_ids())[:5]})"
        )
        after = store_content(engine, times=True)
        assert after == before, "a pull that read nothing changed the store:\n" + content_diff(
            before, after
        )
        assert_no_writes(bench, writes, "a pull")

    def test_a_pull_with_nothing_new_asks_once_a_stream_and_gets_no_row(
        self, conformance: Bench
    ) -> None:
        bench = conformance
        engine, connector = bench.full_pull()
        bench.advance(30)
        run = bench.pull(engine, connector).ok("the second pull")
        if bench.wire is not None:
            more = {name: n for name, n in run.requests.items() if n > 1}
            assert not more, (
                f"a pull with nothing new sent more than one request a stream: {more}; a "
                "stream asks from its cursor once, and gets nothing back"
            )
        rows, allowed = sum(run.rows.values()), bench.harness.quiet_rows
        assert rows <= allowed, (
            f"a pull with nothing new got {rows} rows back from the vendor "
            f"({dict(run.rows)}; Harness.quiet_rows allows {allowed}): a stream whose "
            "bound is a record's own value asks strictly after it (RestStream.after, or "
            "cursor_step for times in whole seconds)"
        )

    def test_a_bad_record_is_quarantined_and_the_read_goes_on(self, conformance: Bench) -> None:
        bench = conformance
        connector, names = bench.fresh_source()
        clean_store = bench.store()
        bench.pull(clean_store, connector).ok("the clean pull")
        expected = store_content(clean_store)
        bench.start()
        fragment: str = bench.ask("plant_bad_record")
        engine = bench.store()
        run = bench.pull(engine)
        assert run.error is None, (
            "a pull stopped at a bad record instead of quarantining it: "
            f"{type(run.error).__name__}: {run.error}"
        )
        bad = quarantined(engine)
        assert any(fragment in reason for _, reason in bad), (
            f"no record quarantined with a reason holding {fragment!r}; quarantined: {bad[:3]}"
        )
        got = store_content(engine)
        got.pop("quarantine", None)
        expected.pop("quarantine", None)
        assert got == expected, "the good records are not all stored:\n" + content_diff(
            expected, got
        )
        assert set(names) <= run.finished, "a bad record stopped a stream before its end"
        bench.advance(60)
        after = bench.pull(engine).ok("the pull after the bad record")
        assert len(quarantined(engine)) == len(bad), (
            "the next pull quarantined the bad record again: the cursor did not move past it"
        )
        assert after.count == 0, f"the next pull read {after.count} records again"
