"""The demo's small shop: every emulator that takes part in the demo, filled from one seed (the
same people in each), started on loopback, and the config that points syncd at them.

The emulators are found through the ``syncd_emulators`` hook like any plugin's, and known only
through the demo contract of ``syncd.emulator.Emulator``: each says how it takes part
(``demo``), the connector config that reaches it, and what it holds. This module names no tool.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.emulator import DemoPart, Emulator, Held, running
from syncd.errors import ConfigError
from syncd.plugins import get_plugin_manager
from syncd.segments.include import merge_includes
from syncd.yamlsource import SourceMap

SEGMENT_SECTIONS = ("tags", "lists")  # the sections of a mapping keyed by segment
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass
class Tool:
    """One tool of the shop: an emulator that takes part in the demo, under the name its plugin
    registers it by, which is also the name of its connector instance in the config."""

    name: str
    app: Emulator
    url: str = ""  # where it is served, once it is

    @property
    def part(self) -> DemoPart:
        assert self.app.demo is not None  # make_tools keeps only those that take part
        return self.app.demo

    @property
    def title(self) -> str:
        return self.part.title

    @property
    def mapping(self) -> Mapping[str, Mapping[str, Any]]:
        return self.part.destination


def library_path() -> Path | None:
    """The prebuilt segment library beside the installed package (an editable install of a
    checkout has it in ``config/segments``), or None."""
    import syncd

    path = Path(syncd.__file__).resolve().parent.parent / "config" / "segments"
    return path if path.is_dir() and any(path.glob("*.yaml")) else None


def make_tools(seed: int, people: int) -> list[Tool]:
    """Every installed emulator that takes part in the demo (an ``Emulator`` class registered
    through ``syncd_emulators`` whose ``demo`` is set), made from the same seed and crowd, each
    with the vendor's own rate limit and its account ready; in the demo's order."""
    factories = get_plugin_manager(None).emulators()
    tools = [
        Tool(name, factory(seed=seed, people=people))
        for name, factory in factories.items()
        if isinstance(factory, type) and issubclass(factory, Emulator) and factory.demo
    ]
    if not tools:
        found = ", ".join(sorted(factories)) or "none"
        raise ConfigError(
            f"no installed emulator takes part in the demo (emulators found: {found}); is syncd "
            "installed with its plugins? pip install -e ."
        )
    for tool in tools:
        tool.app.prepare_demo()
    return sorted(tools, key=lambda t: (t.part.order, t.name))


def destinations(tools: Sequence[Tool]) -> list[Tool]:
    """The tools the demo sends segments to, in the order it pushes to them."""
    return sorted((t for t in tools if t.mapping), key=lambda t: (t.part.push_order, t.name))


def titles(tools: Sequence[Tool]) -> dict[str, str]:
    return {t.name: t.title for t in tools}


def in_words(count: int) -> str:
    return NUMBERS[count] if count < len(NUMBERS) else str(count)


def listed(words: Sequence[str]) -> str:
    """``a, b and c``."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


@contextlib.contextmanager
def serving(tools: Sequence[Tool]) -> Iterator[None]:
    """Serve every tool's emulator on loopback (``tool.url``); stop them on exit."""
    with contextlib.ExitStack() as stack:
        for tool in tools:
            tool.url = stack.enter_context(running(tool.app))
        yield


def library_segments(library: Path) -> set[str]:
    """The names of the segments the library defines."""
    data: dict[str, Any] = {"include": [str(library)]}
    merge_includes(data, SourceMap(str(library)), library)
    return set(data.get("segments") or {})


def config_text(tools: Sequence[Tool], library: Path) -> str:
    """The demo's YAML: an instance at each served emulator, SQLite beside it, the library,
    the segments the tools' data makes possible, and each destination's mapping (less the
    entries for segments nothing here defines, as when a tool is not installed)."""
    segments: dict[str, Any] = {}
    for tool in tools:
        segments.update(tool.part.segments)
    known = library_segments(library) | set(segments)
    precedence = sorted(tools, key=lambda t: (t.part.precedence, t.name))
    lines = [
        f"# Written by `syncd demo`: the emulators on loopback as {in_words(len(tools))} tools "
        "of one",
        "# small shop. The emulators stop when the demo ends; this store and config stay, for",
        "# `syncd status`, `syncd segments show NAME` and `syncd plan` (sync needs them running).",
        "store:",
        "  url: sqlite:///syncd.db",
        f"include: [{_json(str(library))}]   # the prebuilt segment library",
        f"precedence: [{', '.join(t.name for t in precedence)}]",
        "connectors:",
    ]
    for tool in tools:
        options = {**tool.app.connector_config(tool.url), **tool.part.options}
        lines.append(f"  {tool.name}:")
        lines += [f"    {key}: {_json(value)}" for key, value in options.items()]
    if segments:
        lines.append("segments:")
        for name, body in segments.items():
            lines.append(f"  {name}: {_json(body)}")
    lines.append("destinations:")
    for tool in destinations(tools):
        lines.append(f"  - connector: {tool.name}")
        for section, entries in tool.mapping.items():
            if section in SEGMENT_SECTIONS:
                entries = {s: v for s, v in entries.items() if s in known}
            if entries:
                lines.append(f"    {section}: {_json(entries)}")
    return "\n".join(lines) + "\n"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON is YAML's flow style


@dataclass(frozen=True)
class Holding:
    """One tag, list or field a destination maps to, and who holds it at the tool."""

    tool: str
    kind: str  # "tag", "list" or "field"
    name: str
    emails: frozenset[str]


def holdings(tools: Sequence[Tool]) -> list[Holding]:
    """What each destination holds of what the demo maps to it, as its emulator says."""
    out: list[Holding] = []
    for tool in destinations(tools):
        held = tool.app.holds()
        mapping = tool.mapping
        wanted = [("tag", tag) for tag in mapping.get("tags", {}).values()]
        wanted += [("list", name) for name in mapping.get("lists", {}).values()]
        wanted += [("field", field) for field in mapping.get("fields", {})]
        for kind, name in wanted:
            emails = frozenset(e for e, h in held.items() if name in _of_kind(h, kind))
            out.append(Holding(tool.name, kind, name, emails))
    return out


def _of_kind(held: Held, kind: str) -> Collection[str]:
    return {"tag": held.tags, "list": held.lists, "field": held.fields}[kind]
