"""The config fuzzer (config_fuzz.py) over the sample config and the demo's: 1,000 configs,
each through ``syncd check`` and ``syncd sync --dry-run`` in this process, a sample of them
as real processes too; no traceback, every mistake one line (check says all of them, sync its
first), a config mistake exit 2. And
the proof that the fuzzer sees a broken error path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from syncd.demo import shop

from .config_fuzz import Answer, Case, cases, fuzz, judge, run_in_process, sample_base

pytestmark = pytest.mark.usefixtures("clean_env")
NOW = "2026-11-20T12:00:00Z"
# SYNCD_FUZZ_CONFIGS runs more (or fewer) configs; what must be shown is 1,000
COUNT = int(os.environ.get("SYNCD_FUZZ_CONFIGS", "1000"))


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """The two configs mutated: the sample, and the demo's at its emulators (served on
    loopback for the module, with a small crowd), in a folder with the sample's files."""
    import shutil

    folder = tmp_path_factory.mktemp("fuzz") / "config"
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "config", folder, ignore=shutil.ignore_patterns("*.db*"))
    library = shop.library_path()
    assert library is not None
    tools = shop.make_tools(seed=7, people=10)
    with shop.serving(tools):
        demo = shop.config_text(tools, library).replace(
            "url: sqlite:///syncd.db", "url: sqlite:///fuzz-stores/demo.db"
        )
        yield {"sample": sample_base(folder), "demo": demo}, folder


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_NOW", NOW)


@pytest.mark.usefixtures("now")
def test_a_thousand_fuzzed_configs_no_traceback_one_line_each(
    bases: tuple[dict[str, str], Path],
) -> None:
    texts, folder = bases
    figures = fuzz(texts, folder, COUNT, seed=22)
    print("\n" + "\n".join(figures.lines()))
    assert figures.configs == COUNT
    assert figures.tracebacks == 0, "\n".join(figures.failures[:20])
    assert not figures.failures, f"{len(figures.failures)} wrong:\n" + "\n".join(
        figures.failures[:20]
    )
    # the fuzzer reaches both sides: configs refused, and configs synced
    assert figures.codes["check 2"] > COUNT // 2
    assert figures.codes["sync 0"] + figures.codes["sync 3"] > COUNT // 50


@pytest.mark.e2e
@pytest.mark.usefixtures("now")
def test_a_sample_as_real_processes_says_the_same(bases: tuple[dict[str, str], Path]) -> None:
    """The in-process answers are what the real command prints: a sample of 24 configs run
    as ``python -m syncd``, their stderr free of tracebacks."""
    texts, folder = bases
    sample = [c for c in cases(texts, 240, seed=5) if c.number % 10 == 0]
    for case in sample:
        config = folder / f"real-{case.number}.yaml"
        config.write_bytes(case.data)
        for command in (["check"], ["sync", "--dry-run", "--quiet"]):
            real = subprocess.run(
                [sys.executable, "-m", "syncd", "--config", str(config), *command],
                env={**os.environ, **case.env},
                capture_output=True,
                text=True,
                errors="replace",
                timeout=300,
            )
            assert "Traceback" not in real.stderr, f"{case.describe()}\n{real.stderr[-3000:]}"
            mine = run_in_process(config, command, case.env)
            said = Answer(real.returncode, real.stdout, real.stderr).said()
            assert (real.returncode, said) == (mine.code, mine.said()), case.describe()


@pytest.mark.usefixtures("now")
@pytest.mark.parametrize(
    "broken",
    ["a validator raises a bare error", "no bound on YAML depth", "durations unbounded"],
)
def test_the_fuzzer_finds_a_broken_error_path(
    broken: str, bases: tuple[dict[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each error path broken on purpose is caught by the fuzzer's judgement."""
    import syncd.config
    import syncd.duration
    import syncd.yamlsource

    words: tuple[str, ...] = ()  # the cases that reach the broken path
    if broken == "a validator raises a bare error":

        def bare(_config: object) -> None:
            raise KeyError("segments")

        monkeypatch.setattr(syncd.config, "_check_rule_nesting", bare)
    elif broken == "no bound on YAML depth":
        monkeypatch.setattr(syncd.yamlsource, "MAX_DEPTH", 10**6)
        words = ("brackets 5000", "brackets 1000")
    else:
        unbounded = SimpleNamespace(total_seconds=lambda: float("inf"), days=0)
        monkeypatch.setattr(syncd.duration, "LONGEST", unbounded)
        words = ("'10000000000d'",)
    texts, folder = bases
    figures = fuzz(
        texts,
        folder,
        1000 if words else 100,
        22,
        lambda c: not words or any(w in c.describe() for w in words),
    )
    assert figures.configs > 0
    assert figures.tracebacks > 0, figures.lines()
    assert any("a traceback" in f for f in figures.failures)


def test_the_judge_wants_lines_that_say_where_and_exit_2(
    bases: tuple[dict[str, str], Path],
) -> None:
    """The judgement itself: two lines from sync, a message without its place, an exit 1 that
    is not an ``error:`` line, and sync saying what check did not are each wrong."""
    case = Case(0, "sample", b"")
    good = Answer(2, "", "syncd.yaml:3: store.url: bad\n")
    assert judge(case, good, good) == []
    two = Answer(2, "", "syncd.yaml:3: store.url: bad\nsyncd.yaml:4: store.x: bad\n")
    assert judge(case, two, good) == []  # check says every mistake; sync its first
    assert "sync --dry-run: exit 2 with 2 lines" in judge(case, two, two)[0]
    assert "sync --dry-run" in judge(case, two, Answer(2, "", "syncd.yaml:9: other: bad\n"))[0]
    secret = Answer(2, "", "syncd.yaml:7: connectors.x.token: environment variable T is not set\n")
    assert judge(case, good, secret) == []  # check does not count an unset secret
    unplaced = Answer(2, "", "syncd.yaml:3: store.url: bad\nand more\n")
    assert "without saying where" in judge(case, unplaced, good)[0]
    nowhere = Answer(2, "", "bad\n")
    assert "without saying where" in judge(case, nowhere, nowhere)[0]
    assert "without 'error: '" in judge(case, Answer(1, "", "x\n"), good)[0]
    assert "sync --dry-run" in judge(case, good, Answer(0, "", ""))[0]
    logged = Answer(2, "", '{"event": "a log line"}\nsyncd.yaml:3: store.url: bad\n')
    assert judge(case, logged, logged) == []
