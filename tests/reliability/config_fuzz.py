"""A config fuzzer: mutations of a config (wrong types, missing keys, huge and negative
numbers, bad durations, broken YAML, unicode, NUL bytes, deep nesting, aliases, bad
environment references, unknown connector types, bad segment rules, bad store URLs), each
run through ``syncd check`` and ``syncd sync --dry-run``, and the judgement of what syncd
answered: no traceback, every failure one line, a config mistake exit 2.

``python tests/reliability/config_fuzz.py [--count N] [--seed S]`` prints the figures for
the sample config (docs/reliability.md § "Config mistakes").
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncd.cli import main

Data = Any
Mutator = Callable[[random.Random, Data], str]  # changes data in place; says what it did

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 3.5, 10**30, -(10**30), 1e308, float("inf"), float("nan"),
    "", " ", "x", "zażółć ☃ 🎉", "\u202eevil", "a\0b", "\x1b[31mred", "${NOPE}", [], [1, "a"],
    {}, {"k": "v"}, "2026-02-30", "10000000000d", "%", "*",
]  # fmt: skip
BAD_DURATIONS: list[Any] = [
    "0s", "-5m", "10000000000d", "1.5.5h", "5 minutes", "", "99999999999999999999w",
    "1e9d", 0, -1, 15, True, "15", "15 m", "inf", "nan s", "36501d", "0.0000001s", [],
    "\u0661\u0665m",
]  # fmt: skip
BAD_RULES: list[Any] = [
    {}, [], None, 5, "vip", {"event": 5}, {"event": None}, {"tag": [1]}, {"tag": {}},
    {"field": "x", "gt": [1]}, {"field": "x"}, {"field": 5, "eq": 1}, {"not": []},
    {"not": None}, {"all": {}}, {"all": []}, {"any": "x"}, {"sql": "DROP TABLE contacts"},
    {"sql": "select 1"}, {"sql": "select contact_id from nowhere"}, {"sql": ""},
    {"segment": "nonexistent"}, {"segment": 5}, {"purchases": {"total": {"gte": "x"}}},
    {"event": "order_placed", "within": "30x"}, {"event": "order_placed", "within": "10000000000d"},
    {"event": "order_placed", "count": {"gte": -1}}, {"event": "order_placed", "count": 10**30},
    {"event": "order_placed", "where": {"x\0": 1}}, {"field": "x", "in": []},
    {"field": "x", "before": "2026-13-01"}, {"field": "x", "after": "9999-12-31"},
    {"score": "nope", "gte": 1}, {"rfm": "nope"}, {"deal": {"amount": {"gte": "x"}}},
    {"list": "x", "status": "maybe"}, {"tag": "VIP", "source": "nope"},
    {"event": "order_placed", "not_followed_by": 5}, {"event": "any", "last": {"within": "1s"}},
]  # fmt: skip
BAD_URLS = [
    "mysql://x", "", "sqlite://", "sqlite:///", "postgresql+psycopg2://u@127.0.0.1:1/db",
    "postgresql://u:pw@127.0.0.1:1/db", "postgresql://u@h:port/db", "sqlite:///fuzz\0.db",
    "sqlite:///" + "a" * 300, "::", "sqlite:////proc/nope/x.db", "oracle://a", "x" * 5000,
    "sqlite:///fuzz-stores/ż☃.db", 5, None, ["sqlite:///x.db"],
]  # fmt: skip
ENV_REFS = ["${NOPE_NOT_SET}", "${}", "${1X}", "${A:-}", "${A:-${B}}", "$${X}", "${HOME"]
SNIPPETS = [
    "\0", "\t", ":", "-", "[", "{", "&a ", "*a", '"', "'", "\x07", "%", "!", "\ufeff",
    "\u2028", "|", ">", "? ", "<<: ", "!!python/object:os.system ", "\\", "#", "@", "`",
]  # fmt: skip


@dataclass
class Case:
    """One fuzzed config: its bytes, the environment it runs in, and what was done to it."""

    number: int
    base: str
    data: bytes
    env: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"#{self.number} ({self.base}): " + "; ".join(self.done)


# --- mutations of the parsed config ---------------------------------------------------------


def _paths(data: Data, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*at, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, (*at, i))


def _get(data: Data, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _set(data: Data, path: tuple[Any, ...], value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _some_path(rng: random.Random, data: Data, keep: Callable[[Any], bool] = bool) -> tuple:
    paths = [p for p in _paths(data) if p and keep(p)]
    return rng.choice(paths) if paths else ()


def wrong_type(rng: random.Random, data: Data) -> str:
    path = _some_path(rng, data)
    value = rng.choice(ODD_VALUES)
    if path:
        _set(data, path, value)
    return f"{_shown(path)} = {value!r:.40}"


def missing_key(rng: random.Random, data: Data) -> str:
    path = _some_path(rng, data, lambda p: isinstance(p[-1], str))
    if path:
        del _get(data, path[:-1])[path[-1]]
    return f"without {_shown(path)}"


def unknown_key(rng: random.Random, data: Data) -> str:
    mappings = [p for p in _paths(data) if isinstance(_get(data, p), dict)]
    path = rng.choice(mappings)
    _get(data, path)[rng.choice(["colour", "Type", "store ", "ż", "__class__", "1"])] = 1
    return f"an unknown key in {_shown(path) or 'the top'}"


def numbers(rng: random.Random, data: Data) -> str:
    value = rng.choice([10**30, -(10**30), -1, 0, 2**63, 1e308, -1e-308, "1e999%", "150%", "-5%"])
    path = rng.choice(
        [
            ("destinations", 0, "max_removals"),
            ("destinations", 0, "min_removals"),
            ("store", "busy_timeout"),
            ("daemon", "health"),
        ]
    )
    _ensure(data, path, value)
    return f"{_shown(path)} = {value!r}"


def bad_duration(rng: random.Random, data: Data) -> str:
    value = rng.choice(BAD_DURATIONS)
    schedules = list((data.get("schedules") or {}).keys()) or ["fuzz"]
    path = rng.choice(
        [
            ("schedules", rng.choice(schedules), "every"),
            ("schedules", rng.choice(schedules), "jitter"),
            ("daemon", "misfire_grace"),
            ("daemon", "ready_within"),
            ("store", "busy_timeout"),
            ("segments", "fuzz", "within"),
        ]
    )
    if path[0] == "segments":
        data.setdefault("segments", {})["fuzz"] = {"event": "order_placed", "within": value}
    else:
        _ensure(data, path, value)
    return f"{_shown(path)} = {value!r}"


def unicode_text(rng: random.Random, data: Data) -> str:
    path = _some_path(rng, data, lambda p: isinstance(_get(data, p), str))
    if not path:
        return "no text to change"
    text = _get(data, path)
    odd = rng.choice(["\0", "ż", "☃", "🎉", "\u202e", "\u200b", "\x1b", "\r", "\n", "\x7f"])
    at = rng.randrange(len(text) + 1)
    _set(data, path, text[:at] + odd + text[at:])
    return f"{_shown(path)} with {odd!r}"


def deep_value(rng: random.Random, data: Data) -> str:
    depth = rng.choice([10, 40, 63, 64, 65, 100, 300])
    value: Any = "x"
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    path = _some_path(rng, data)
    if path:
        _set(data, path, value)
    return f"{_shown(path)} nested {depth} deep"


def deep_rule(rng: random.Random, data: Data) -> str:
    depth = rng.choice([1, 3, 5, 6, 8, 12, 50])
    form = rng.choice(["not", "all", "any", "mixed"])
    rule: Any = {"tag": "VIP"}
    for i in range(depth):
        kind = form if form != "mixed" else ("not", "all", "any")[i % 3]
        rule = {"not": rule} if kind == "not" else {kind: [rule, {"tag": "X"}]}
    data.setdefault("segments", {})["fuzz_deep"] = rule
    if rng.random() < 0.5:  # and one that refers to it, a level deeper
        data["segments"]["fuzz_ref"] = {"not": {"segment": "fuzz_deep"}}
    return f"a rule of {form} nested {depth} deep"


def wide_rule(rng: random.Random, data: Data) -> str:
    parts = rng.choice([1, 50, 200, 201, 700])
    form = rng.choice(["all", "any"])
    data.setdefault("segments", {})["fuzz_wide"] = {form: [{"tag": f"T{i}"} for i in range(parts)]}
    return f"{form} of {parts} parts"


def bad_rule(rng: random.Random, data: Data) -> str:
    rule = rng.choice(BAD_RULES)
    segments = data.setdefault("segments", {})
    name = rng.choice([*segments, "fuzz"]) if segments else "fuzz"
    segments[name] = rule
    return f"segments.{name} = {rule!r:.60}"


def bad_env_ref(rng: random.Random, data: Data) -> str:
    path = _some_path(rng, data, lambda p: isinstance(_get(data, p), str))
    ref = rng.choice(ENV_REFS)
    if path:
        _set(data, path, _get(data, path) + ref)
    return f"{_shown(path)} + {ref}"


def connector_type(rng: random.Random, data: Data) -> str:
    connectors = data.get("connectors") or {"fuzz": {}}
    name = rng.choice(list(connectors))
    kind = rng.choice(["nosuch", "", 5, None, "FILES", "files ", ["files"], "hubspot\0"])
    if not isinstance(connectors[name], dict):
        connectors[name] = {}
    connectors[name]["type"] = kind
    data["connectors"] = connectors
    return f"connectors.{name}.type = {kind!r}"


def connector_option(rng: random.Random, data: Data) -> str:
    connectors = data.get("connectors") or {}
    if not connectors:
        return "no connector"
    name = rng.choice(list(connectors))
    if not isinstance(connectors[name], dict):
        return "no connector options"
    options = [k for k in connectors[name] if k != "type"] or ["url"]
    key = rng.choice(options)
    value = rng.choice(
        [
            "nonexistent.jsonl", ".", "samples", "", "\0", "http://", "ftp://x", "not a url",
            "http://127.0.0.1:1", "https://[::1", 10**30, -1, None, [], {"a": 1},
            "samples/" + "x" * 300,
        ]
    )  # fmt: skip
    connectors[name][key] = value
    return f"connectors.{name}.{key} = {value!r:.40}"


def store_url(rng: random.Random, data: Data) -> str:
    url = rng.choice(BAD_URLS)
    if not isinstance(data.get("store"), dict):
        data["store"] = {}
    data["store"]["url"] = url
    return f"store.url = {url!r:.40}"


def schedule(rng: random.Random, data: Data) -> str:
    entry = rng.choice(
        [
            {"run": "sync", "cron": "* * *"},
            {"run": "sync", "cron": "61 * * * *"},
            {"run": "sync", "every": "5m", "cron": "* * * * *"},
            {"run": "sync"},
            {"run": "nap", "every": "5m"},
            {"run": "sync", "every": "5m", "timezone": "Mars/Olympus"},
            {"run": "sync", "every": "5m", "timezone": "\0"},
            {"run": "pull", "every": "5m", "connectors": ["nope"]},
            {"run": "push", "every": "5m", "destinations": ["nope"]},
            {"run": "sync", "every": "5m", "connectors": ["shop"]},
        ]
    )
    data.setdefault("schedules", {})[rng.choice(["fuzz", "bad name!", "ż"])] = entry
    return f"a schedule {entry!r:.60}"


def destination(rng: random.Random, data: Data) -> str:
    dests = data.get("destinations") or []
    entry = rng.choice(
        [
            {"connector": "nope"},
            {"connector": None},
            {},
            {"connector": dests[0]["connector"]} if dests else {"connector": "x"},
            {"connector": "shop", "tags": {"nope": "X"}},
            {"connector": "shop", "mode": "sometimes"},
            {"connector": "shop", "fields": {"X": {"score": "nope"}}},
            {"connector": "shop", "fields": {"X": {"score": "a", "rfm": "r"}}},
            "esp",
        ]
    )
    if isinstance(data.get("destinations"), list):
        data["destinations"].append(entry)
    else:
        data["destinations"] = [entry]
    return f"a destination {entry!r:.60}"


STRUCTURAL: list[Mutator] = [
    wrong_type, missing_key, unknown_key, numbers, bad_duration, unicode_text, deep_value,
    deep_rule, wide_rule, bad_rule, bad_env_ref, connector_type, connector_option, store_url,
    schedule, destination,
]  # fmt: skip


def _ensure(data: Data, path: tuple[Any, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        if isinstance(node, list):
            if not node:
                node.append({})
            part = min(part, len(node) - 1) if isinstance(part, int) else 0
        elif not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    if isinstance(node, dict):
        node[path[-1]] = value


def _shown(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


# --- mutations of the text -------------------------------------------------------------------


def text_mutation(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    kind = rng.choice(
        ["truncate", "insert", "delete", "duplicate", "indent", "alias", "laughs", "brackets",
         "tab", "bom", "anchors"]
    )  # fmt: skip
    if kind == "truncate":
        at = rng.randrange(len(text) + 1)
        return text[:at], f"cut at {at}"
    if kind == "insert":
        at, snippet = rng.randrange(len(text) + 1), rng.choice(SNIPPETS)
        return text[:at] + snippet + text[at:], f"{snippet!r} inserted at {at}"
    if kind in ("delete", "duplicate", "indent", "tab") and lines:
        i = rng.randrange(len(lines))
        if kind == "delete":
            return "".join(lines[:i] + lines[i + 1 :]), f"line {i + 1} deleted"
        if kind == "duplicate":
            return "".join(lines[: i + 1] + lines[i:]), f"line {i + 1} twice"
        if kind == "tab":
            return "".join([*lines[:i], "\t" + lines[i], *lines[i + 1 :]]), f"a tab on {i + 1}"
        return "".join([*lines[:i], "   " + lines[i], *lines[i + 1 :]]), f"line {i + 1} indented"
    if kind == "alias":
        return text + "\nloop: &loop\n  again: *loop\n", "an alias in itself"
    if kind == "laughs":
        bomb = ["lol: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        bomb += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
        return text + "\nlaughs:\n" + "".join(f"  {b}\n" for b in bomb), "a billion laughs"
    if kind == "brackets":
        n = rng.choice([50, 65, 1000, 5000])
        return text + "\nnested: " + "[" * n + "]" * n + "\n", f"brackets {n} deep"
    if kind == "bom":
        return "\ufeff" + text, "a byte order mark"
    return text + "\nx: &a 1\ny: *b\n", "an undefined alias"


# --- the cases -------------------------------------------------------------------------------


def cases(bases: Mapping[str, str], count: int, seed: int = 0) -> Iterator[Case]:
    """``count`` fuzzed configs from the ``bases`` (name → YAML text), in a fixed order."""
    rng = random.Random(seed)
    names = sorted(bases)
    parsed = {name: yaml.safe_load(bases[name]) for name in names}
    for number in range(count):
        base = names[number % len(names)]
        case = Case(number, base, b"")
        data = json.loads(json.dumps(parsed[base]))  # a deep copy
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            mutate = rng.choice(STRUCTURAL)
            try:
                case.done.append(f"{mutate.__name__}: {mutate(rng, data)}")
            except (KeyError, IndexError, TypeError, AttributeError):
                case.done.append(f"{mutate.__name__}: did not apply")
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)
        roll = rng.random()
        if roll < 0.3:
            text, what = text_mutation(rng, text)
            case.done.append(f"text: {what}")
        case.data = text.encode("utf-8", "surrogatepass")
        if roll > 0.97:
            case.data = case.data.replace("ż".encode(), b"\xbf") + b"\xff\xfe"
            case.done.append("bytes: not UTF-8")
        if rng.random() < 0.08:
            name, value = rng.choice(
                [
                    ("SYNCD_NOW", "9999-12-31T00:00:00Z"),
                    ("SYNCD_NOW", "0001-01-01T00:00:00Z"),
                    ("SYNCD_NOW", "yesterday"),
                    ("SYNCD_STORE_URL", "mysql://x"),
                    ("SYNCD_STORE_URL", "sqlite:///" + "x" * 300),
                    ("SYNCD_LOG_LEVEL", "loud"),
                    ("SYNCD_LOG_FORMAT", "xml"),
                ]
            )
            case.env[name] = value
            case.done.append(f"env: {name}={value!r}")
        yield case


# --- running and judging ---------------------------------------------------------------------


@dataclass
class Answer:
    """What one command answered: its exit code, its output, the error that escaped."""

    code: int | None
    out: str
    err: str
    crash: str | None = None  # the traceback of an exception that escaped syncd

    def said(self) -> list[str]:
        """The lines of stderr that are not log lines (JSON objects)."""
        lines = []
        for line in self.err.splitlines():
            with contextlib.suppress(ValueError):
                if isinstance(json.loads(line), dict):
                    continue
            lines.append(line)
        return lines


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_in_process(config: Path, command: list[str], env: Mapping[str, str]) -> Answer:
    out, err = io.StringIO(), io.StringIO()
    with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(["--config", str(config), *command])
        except SystemExit as exc:  # argparse: not reached with these arguments
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # the point of the fuzzer: an error that escaped
            return Answer(None, out.getvalue(), err.getvalue(), traceback.format_exc())
    return Answer(code, out.getvalue(), err.getvalue())


WHERE = re.compile(r"^(\S[^:]*:(\d+:)? |SYNCD_[A-Z_]+: )")
UNSET = re.compile(r": environment variable \S+ is not set$")


def judge(case: Case, check: Answer, sync: Answer) -> list[str]:
    """What is wrong with the answers to ``case``, in words; empty when nothing is."""
    wrong = []
    for name, answer in (("check", check), ("sync --dry-run", sync)):
        if answer.crash is not None:
            last = answer.crash.strip().splitlines()[-1]
            wrong.append(f"{name}: a traceback ({last})")
            continue
        if answer.code not in (0, 1, 2, 3, 4):
            wrong.append(f"{name}: exit {answer.code}")
        if "Traceback (most recent call last)" in answer.err:
            wrong.append(f"{name}: a traceback on stderr")
        if answer.code in (0, 3, 4):  # done, held by a guard, partial: the run's own outcome
            continue
        said = answer.said()
        # check says every mistake, a line each; any other command stops at its first
        every = name == "check" and answer.code == 2
        if not said or (len(said) != 1 and not every):
            wrong.append(f"{name}: exit {answer.code} with {len(said)} lines: {said[:3]!r:.300}")
            continue
        for line in said:
            if answer.code == 2 and not WHERE.match(line):
                wrong.append(f"{name}: exit 2 without saying where: {line!r:.200}")
            if answer.code == 1 and not line.startswith("error: "):
                wrong.append(f"{name}: exit 1 without 'error: ': {line!r:.200}")
            if len(line) > 2000:
                wrong.append(f"{name}: a line of {len(line)} characters")
    # sync --dry-run's one mistake is one of those check says, or a secret not set (check
    # opens no connector, so an unset secret is no mistake for it; a valid config's check
    # notes it as not set here)
    first = sync.said()[0] if len(sync.said()) == 1 else None
    unset = first is not None and UNSET.search(first) is not None
    agree = sync.code == 2 and first is not None and (first in check.said() or unset)
    if check.crash is None and sync.crash is None and check.code == 2 and not agree:
        wrong.append(
            f"check said {check.said()!r:.150} (exit 2), sync --dry-run "
            f"{sync.said()!r:.150} (exit {sync.code})"
        )
    return wrong


@dataclass
class Figures:
    configs: int = 0
    runs: int = 0
    tracebacks: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # judged wrong, with the case

    def lines(self) -> list[str]:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.codes.items()))
        return [
            f"configs fuzzed: {self.configs}; commands run: {self.runs}",
            f"exit codes: {codes}",
            f"tracebacks: {self.tracebacks}; answers judged wrong: {len(self.failures)}",
        ]


def fuzz(
    bases: Mapping[str, str],
    folder: Path,
    count: int,
    seed: int = 0,
    select: Callable[[Case], bool] | None = None,
) -> Figures:
    """Run ``count`` fuzzed configs in ``folder`` (where the bases' relative paths resolve);
    with ``select``, only the ones it picks of the first ``count``."""
    figures = Figures()
    for case in cases(bases, count, seed):
        if select is not None and not select(case):
            continue
        config = folder / f"fuzz-{case.number:04d}.yaml"
        config.write_bytes(case.data)
        # --quiet: progress lines (pages pulled, waits) are timing, not the answer being judged
        check = run_in_process(config, ["check"], case.env)
        sync = run_in_process(config, ["sync", "--dry-run", "--quiet"], case.env)
        figures.configs += 1
        figures.runs += 2
        for name, answer in (("check", check), ("sync", sync)):
            figures.codes[f"{name} {answer.code if answer.crash is None else 'traceback'}"] += 1
            figures.tracebacks += answer.crash is not None
        wrong = judge(case, check, sync)
        if wrong:
            figures.failures.append(f"{case.describe()}: {'; '.join(wrong)}")
        config.unlink()
    return figures


def sample_base(config_dir: Path) -> str:
    """The sample config (config/syncd.yaml), its store in the fuzz folder."""
    text = (config_dir / "syncd.yaml").read_text()
    return text.replace("url: sqlite:///../var/syncd.db", "url: sqlite:///fuzz-stores/sample.db")


if __name__ == "__main__":
    import argparse
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "config"
        shutil.copytree(repo / "config", folder, ignore=shutil.ignore_patterns("*.db*"))
        os.environ.setdefault("SYNCD_NOW", "2026-11-20T12:00:00Z")
        result = fuzz({"sample": sample_base(folder)}, folder, args.count, args.seed)
    for line in result.lines():
        print(line)
    for failure in result.failures[:50]:
        print("  " + failure)
