"""What the demo shows at the end: the segments and their sizes, the changes syncd made in each
tool (as the outbox recorded them), what the tools hold (as the emulators say), and where to
look further."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncd.demo.shop import SEGMENT_SECTIONS, Holding, Tool, destinations, titles
from syncd.output import say
from syncd.runtime import Runtime
from syncd.segments.rules import description
from syncd.store.schema import contacts, outbox

KIND_WORDS = {  # kind -> (one, many)
    "add_tag": ("tag added", "tags added"),
    "remove_tag": ("tag removed", "tags removed"),
    "subscribe": ("list subscription", "list subscriptions"),
    "unsubscribe": ("list removal", "list removals"),
    "set_field": ("field value", "field values"),
    "upsert_contact": ("contact written", "contacts written"),
}


@dataclass(frozen=True)
class Change:
    """One change a cycle sent, as the outbox recorded it."""

    tool: str
    kind: str
    key: str
    value: str | None
    email: str
    status: str

    def sentence(self, titles: Mapping[str, str]) -> str:
        where = titles.get(self.tool, self.tool)
        if self.kind == "add_tag":
            return f"{self.email} tagged {self.key} in {where}"
        if self.kind == "remove_tag":
            return f"{self.email} untagged {self.key} in {where}"
        if self.kind == "subscribe":
            return f"{self.email} added to the list {self.key!r} in {where}"
        if self.kind == "unsubscribe":
            return f"{self.email} taken off the list {self.key!r} in {where}"
        if self.kind == "set_field":
            return f"{self.email}: {self.key} = {self.value} in {where}"
        return f"{self.email}: {self.kind} {self.key} in {where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "kind": self.kind,
            "key": self.key,
            "value": self.value,
            "email": self.email,
            "status": self.status,
        }


def changes_of(engine: sa.Engine, run_id: str | None) -> list[Change]:
    """The changes a run queued, with their outcome, in the order they were planned."""
    query = (
        sa.select(
            outbox.c.destination,
            outbox.c.kind,
            outbox.c.key,
            outbox.c.value,
            contacts.c.email,
            outbox.c.status,
        )
        .join(contacts, contacts.c.id == outbox.c.contact_id)
        .where(outbox.c.run_id == run_id)
        .order_by(outbox.c.id)
    )
    with engine.connect() as conn:
        return [Change(*row) for row in conn.execute(query)]


def shorten(text: str | None, width: int = 64) -> str:
    """A description's first sentence, cut to ``width`` characters."""
    if not text:
        return ""
    first = text.split(". ")[0].rstrip(".")
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def sent_to(tools: Sequence[Tool]) -> dict[str, list[str]]:
    """Segment -> where it goes, such as ``Acme tag LOYAL``."""
    out: dict[str, list[str]] = {}
    for tool in destinations(tools):
        for section in SEGMENT_SECTIONS:
            for segment, name in tool.mapping.get(section, {}).items():
                out.setdefault(segment, []).append(f"{tool.title} {section[:-1]} {name}")
    return out


def segment_rows(rt: Runtime, tools: Sequence[Tool], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """Every segment with its size: those sent to a tool first, then the largest first."""
    where = sent_to(tools)
    rows = [
        {
            "name": name,
            "size": size,
            "sent_to": where.get(name, []),
            "description": description(rt.config.segments.get(name)),
        }
        for name, size in sizes.items()
    ]
    return sorted(rows, key=lambda r: (not r["sent_to"], -r["size"], r["name"]))


def counts_by_tool(tools: Sequence[Tool], changes: list[Change]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {tool.name: Counter() for tool in destinations(tools)}
    for change in changes:
        if change.status == "done":
            out.setdefault(change.tool, Counter())[change.kind] += 1
    return {tool: dict(c) for tool, c in out.items()}


def examples(tools: Sequence[Tool], changes: list[Change], per_tool: int = 2) -> list[Change]:
    """A few done changes of each tool, of different kinds where there are several."""
    picked: list[Change] = []
    for tool in (t.name for t in destinations(tools)):
        seen: set[str] = set()
        mine = [c for c in changes if c.tool == tool and c.status == "done"]
        for change in mine:
            if change.kind not in seen and len(seen) < per_tool:
                seen.add(change.kind)
                picked.append(change)
        for change in mine:  # one kind only: show a second of it
            if len([p for p in picked if p.tool == tool]) >= min(per_tool, len(mine)):
                break
            if change not in picked:
                picked.append(change)
    return picked


def print_segments(rows: list[dict[str, Any]]) -> None:
    sent = [r for r in rows if r["sent_to"]]
    width = max((len(r["name"]) for r in rows), default=10)
    say(
        f"Segments: {len(rows)} computed in SQL in the store; the {len(sent)} sent to the "
        "tools first, then the largest"
    )
    for i, r in enumerate(rows):
        if i == len(sent):
            say("  (computed, not sent anywhere by this config:)")
        say(f"  {r['name']:<{width}} {r['size']:>5}  {shorten(r['description'])}")
        if r["sent_to"]:
            for line in _wrapped(r["sent_to"], " " * (width + 10) + "→ ", 100):
                say(line)


def print_changes(
    title: str, tools: Sequence[Tool], changes: list[Change], every: bool = False
) -> None:
    counts = counts_by_tool(tools, changes)
    names = titles(tools)
    failed = [c for c in changes if c.status != "done"]
    say(title)
    for tool, kinds in counts.items():
        words = ", ".join(_counted(n, k) for k, n in sorted(kinds.items()))
        say(f"  {names.get(tool, tool):<15} {words or 'nothing to change'}")
    shown = [c for c in changes if c.status == "done"] if every else examples(tools, changes)
    for change in shown:
        say(f"    {'' if every else 'e.g. '}{change.sentence(names)}")
    if failed:
        say(f"  not done: {len(failed)} (see syncd status)")


def print_holdings(tools: Sequence[Tool], found: list[Holding]) -> None:
    say("What the tools hold now (read back from the emulators):")
    names = titles(tools)
    by_tool: dict[str, list[str]] = {}
    for h in found:
        by_tool.setdefault(h.tool, []).append(f"{h.kind} {h.name}: {len(h.emails)}")
    for tool, parts in by_tool.items():
        for line in _wrapped(parts, f"  {names.get(tool, tool):<15} ", 100, sep="; "):
            say(line)


def _counted(n: int, kind: str) -> str:
    one, many = KIND_WORDS.get(kind, (kind, kind))
    return f"{n} {one if n == 1 else many}"


def _wrapped(items: list[str], first: str, width: int, sep: str = ", ") -> list[str]:
    """``items`` joined by ``sep`` after ``first``, broken between items only."""
    lines, line = [], first
    for i, item in enumerate(items):
        piece = item + (sep.rstrip() if i < len(items) - 1 else "")
        if line.strip() and len(line) + len(piece) > width and line != first:
            lines.append(line.rstrip())
            line = " " * len(first)
        line += piece + " "
    lines.append(line.rstrip())
    return lines
