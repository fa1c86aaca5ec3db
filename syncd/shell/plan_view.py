"""The plan as a diff: per destination, grouped by tag, list and field, ``+`` for what is added,
a minus sign for what is removed, ``~ old → new`` for a field's value, with counts per group, totals
per destination, and what the removal guard holds and why. The same data is the ``--json``
of ``plan`` and ``sync --dry-run`` (documented in docs/cli.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

import sqlalchemy as sa
from rich.console import Console
from rich.text import Text

from syncd.connectors.contract import ChangeKind
from syncd.queries import emails
from syncd.secrets import redact
from syncd.sync.plan import DestinationPlan

ADD, REMOVE, UPDATE = "+", "\u2212", "~"  # the minus sign, as in a printed diff
# what each change kind is about, and its mark in the diff
GROUP_OF: dict[str, tuple[str, str]] = {
    ChangeKind.ADD_TAG: ("tag", ADD),
    ChangeKind.REMOVE_TAG: ("tag", REMOVE),
    ChangeKind.SUBSCRIBE: ("list", ADD),
    ChangeKind.UNSUBSCRIBE: ("list", REMOVE),
    ChangeKind.SET_FIELD: ("field", UPDATE),
    ChangeKind.UPSERT_CONTACT: ("contact", ADD),
}
GROUP_ORDER = {"tag": 0, "list": 1, "field": 2, "contact": 3}
MARK_ORDER = {ADD: 0, REMOVE: 1, UPDATE: 2}
WORDS = {ADD: "added", REMOVE: "removed", UPDATE: "updated"}
STYLE = {ADD: "green", REMOVE: "red", UPDATE: "yellow"}


def diff_data(conn: sa.Connection, plans: Sequence[DestinationPlan]) -> list[dict[str, Any]]:
    """Each destination's plan as the diff's data (the ``destinations`` of ``--json``)."""
    by_id = emails(conn, [c.contact_id for p in plans for c in p.changes])
    return [_destination(p, by_id) for p in plans]


def _destination(plan: DestinationPlan, by_id: dict[int, str]) -> dict[str, Any]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    changes = []
    for c in plan.changes:
        kind, mark = GROUP_OF[c.kind]
        email = by_id[c.contact_id]
        group = groups.setdefault(
            (kind, c.key),
            {"type": kind, "name": c.key, "added": 0, "removed": 0, "updated": 0, "changes": []},
        )
        group[WORDS[mark]] += 1
        line: dict[str, Any] = {"op": mark, "email": email}
        if mark is UPDATE:
            line.update(old=c.old, new=c.value)
        group["changes"].append(line)
        changes.append(
            {"email": email, "kind": str(c.kind), "key": c.key, "value": c.value, "old": c.old}
        )
    for group in groups.values():
        group["changes"].sort(key=lambda x: (MARK_ORDER[x["op"]], x["email"]))
    ordered = sorted(groups.values(), key=lambda g: (GROUP_ORDER[g["type"]], g["name"]))
    totals = {w: sum(g[w] for g in ordered) for w in WORDS.values()}
    return {
        "destination": plan.destination,
        "held": plan.held,
        "reason": plan.reason,
        "total": len(plan.changes),
        **totals,
        "counts": plan.counts(),
        "guard": {
            "removals": plan.removals,
            "answerable": plan.guard_base,
            "limit": plan.guard_limit,
            "holds": plan.held,
        },
        "groups": ordered,
        "skipped": plan.skipped,
        "refused": plan.refused,
        "changes": sorted(changes, key=lambda c: (c["email"], c["kind"], c["key"])),
    }


def console(out: TextIO | None = None) -> Console:
    """A console that colours on a terminal only and never wraps a line of the diff."""
    return Console(
        file=out or sys.stdout,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )


def show_diff(data: Sequence[dict[str, Any]], out: Console, summary: bool = False) -> None:
    """The diff as text; with ``summary`` only the counts of each group."""
    for dest in data:
        out.print(Text(redact(headline(dest)), style="bold"))
        for group in dest["groups"]:
            out.print(Text(f"  {group['type']} {group['name']}  ({_counts(group)})"))
            if summary:
                continue
            for line in group["changes"]:
                text = f"    {line['op']} {line['email']}"
                if line["op"] == UPDATE:
                    text += f"  {_value(line['old'])} → {_value(line['new'])}"
                out.print(Text(redact(text), style=STYLE[line["op"]]))
        for line in guard_lines(dest):
            out.print(Text(redact(line), style="bold red" if dest["held"] else ""))
        for kind, n in dest["skipped"].items():
            out.print(Text(f"  ({n} {kind} changes not supported by this destination)"))
        if dest["refused"]:
            out.print(
                Text(f"  ({dest['refused']} changes the destination refused before, not planned)")
            )


def headline(dest: dict[str, Any]) -> str:
    """``esp: 15 changes — +12 -1 ~2`` (a minus sign there) (or ``esp: no changes``)."""
    if not dest["total"]:
        return f"{dest['destination']}: no changes"
    marks = " ".join(f"{mark}{dest[word]}" for mark, word in WORDS.items() if dest[word])
    plural = "change" if dest["total"] == 1 else "changes"
    return f"{dest['destination']}: {dest['total']} {plural} — {marks}"


def guard_lines(dest: dict[str, Any]) -> list[str]:
    """What the removal guard made of the plan: held and why, or how near the limit it is."""
    if dest["held"]:
        return [f"  HELD: {dest['reason']}"]
    guard = dest["guard"]
    if not guard["removals"] or guard["limit"] is None:
        return []
    removals = f"{guard['removals']} removal" + ("" if guard["removals"] == 1 else "s")
    return [
        f"  guard: {removals} of {guard['answerable']} tags and subscriptions syncd answers "
        f"for; at most {guard['limit']} allowed, so it goes"
    ]


def _counts(group: dict[str, Any]) -> str:
    return " ".join(f"{mark}{group[word]}" for mark, word in WORDS.items() if group[word])


def _value(value: str | None) -> str:
    return "(none)" if value is None else repr(value) if value == "" else value
