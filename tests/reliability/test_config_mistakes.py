"""The config mistakes that once ended in a traceback or the wrong exit code, each answered
by ``syncd check`` and ``syncd sync --dry-run`` with one line and exit 2."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.cli import main
from tests.test_config import replace

pytestmark = pytest.mark.usefixtures("clean_env")


def _not_nested(depth: int) -> str:
    rule = "{tag: VIP}"
    for _ in range(depth):
        rule = "{not: " + rule + "}"
    return rule


def _laughs() -> str:
    lines = ["lol: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "x:\n" + "".join(f"  {line}\n" for line in lines)


def _whole(text: str) -> Callable[[str], str]:
    return lambda _sample: text


MISTAKES: dict[str, tuple[Callable[[str], str], str]] = {
    "a duration of ten billion days": (
        replace("every: 15m", "every: 10000000000d"),
        r":\d+: schedules\.every_15_minutes\.every: duration '10000000000d' is longer than",
    ),
    "a NUL byte": (
        replace("mode: managed", "mode: mana\0ged"),
        r":\d+: invalid YAML: the character #x0000 is not allowed",
    ),
    "YAML nested 5,000 deep": (
        _whole("segments:\n  x: " + "[" * 5000 + "]" * 5000 + "\n"),
        r":2: the YAML nests deeper than 64 levels",
    ),
    "an alias that contains itself": (
        _whole("segments: &a\n  x: *a\n"),
        r":2: segments\.x: an alias refers to the value that contains it",
    ),
    "a merge key of a scalar": (
        _whole("url: &u sqlite:///x.db\nstore:\n  <<: *u\n"),
        r":\d+: invalid YAML: expected a mapping or list of mappings for merging",
    ),
    "a billion laughs": (
        _whole(_laughs()),
        r":\d+: x\.a\d.*: the YAML expands to more than 100,000 values",
    ),
    "a date that does not exist": (
        replace("daemon:\n", "daemon:\n  ready_within: 2026-02-30\n"),
        r":\d+: daemon\.ready_within: bad value '2026-02-30': day is out of range",
    ),
    "a python tag": (
        _whole("store: !!python/object:os.system ls\n"),
        r":1: invalid YAML: could not determine a constructor",
    ),
    "a key that is a list": (
        _whole("? [a, b]\n: 1\n"),
        r":1: a key must be a plain value, not seq",
    ),
    "not nested 6 deep": (
        replace("  vip:              {tag: VIP}", "  vip: " + _not_nested(6)),
        r":\d+: segments\.vip: segment 'vip' nests all/any/not 6 levels deep; at most 5",
    ),
    "not nested 50 deep": (
        replace("  vip:              {tag: VIP}", "  vip: " + _not_nested(50)),
        r":\d+: segments\.vip: segment 'vip' nests all/any/not 50 levels deep",
    ),
    "not nested 200 deep": (
        replace("  vip:              {tag: VIP}", "  vip: " + _not_nested(200)),
        r":\d+: the YAML nests deeper than 64 levels",
    ),
    "nesting through a reference": (
        replace(
            "  vip:              {tag: VIP}",
            "  vip: " + _not_nested(3) + "\n  vvip: {not: {not: {not: {segment: vip}}}}",
        ),
        r":\d+: segments\.vvip\.not\.not\.not\.segment: segment 'vvip' nests all/any/not 6 "
        r"levels deep, counting segment 'vip'",
    ),
    "any of 600 parts": (
        replace(
            "  vip:              {tag: VIP}",
            "  vip: {any: [" + ", ".join(f"{{tag: T{i}}}" for i in range(600)) + "]}",
        ),
        r":\d+: segments\.vip\.any: any has 600 parts; at most 200",
    ),
    "a MySQL store": (
        replace("url: sqlite:///../var/syncd.db", "url: mysql://x"),
        r":\d+: store\.url: the store url names 'mysql': syncd stores in SQLite or PostgreSQL",
    ),
    "a driver that is not installed": (
        replace("url: sqlite:///../var/syncd.db", "url: postgresql+psycopg2://u:pw@h/db"),
        r":\d+: store\.url: the store url's driver 'postgresql\+psycopg2' is not installed",
    ),
    "a port that is not a number": (
        replace("url: sqlite:///../var/syncd.db", "url: postgresql://u@h:port/db"),
        r":\d+: store\.url: the store url is not a database URL",
    ),
    "a busy timeout of a day": (
        replace("url: sqlite:///../var/syncd.db", "url: sqlite:///x.db\n  busy_timeout: 1d"),
        r":\d+: store\.busy_timeout: busy_timeout is at most 1h",
    ),
}


@pytest.mark.parametrize("command", [["check"], ["sync", "--dry-run"]])
@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_config_mistake_is_one_line_and_exit_2(
    name: str, command: list[str], sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit, expected = MISTAKES[name]
    path = sample_dir / "syncd.yaml"
    path.write_text(edit(path.read_text()))
    code = main(["--config", str(path), *command])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert (code, len(lines)) == (2, 1), (code, err[-2000:])
    assert lines[0].startswith(str(path)), lines[0]
    assert re.search(expected, lines[0][len(str(path)) :]), lines[0]
    assert len(lines[0]) < 400, lines[0]  # one line a person reads, not a dump of the value
    assert out == ""


@pytest.mark.parametrize("now", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z"])
def test_a_time_no_window_can_reach_is_one_line(
    now: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCD_NOW", now)
    code = main(["--config", str(sample_dir / "syncd.yaml"), "sync", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.splitlines() == [
        "SYNCD_NOW: should be a time between the years 1970 and 2999, got " + now[:19] + "+00:00"
    ]


def test_rules_as_deep_as_allowed_run_in_the_store(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bound is where SQLite still takes the rule: five nots, and a rule five levels deep
    that refers to a segment, run in a real sync."""
    monkeypatch.setenv("SYNCD_NOW", "2026-11-20T12:00:00Z")
    path = sample_dir / "syncd.yaml"
    text = path.read_text().replace(
        "  vip:              {tag: VIP}",
        "  vip: "
        + _not_nested(5)
        + "\n  wide: {all: [{any: [{all: [{any: [{not: {segment: customers}}]}]}]}]}",
    )
    path.write_text(text)
    code = main(["--config", str(path), "sync", "--dry-run"])
    assert code in (0, 3), capsys.readouterr().err
