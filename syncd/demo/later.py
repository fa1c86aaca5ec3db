"""New activity in the tools while the daemon runs, each recorded by the tool's emulator through
its own API, the way the tool itself would record it.

Each emulator with an ``ActivityPlan`` says which segment its activity moves people into or
out of; the demo offers it the people for whom that change shows at every destination the
segment is sent to, so the next cycle's changes are exactly what the activity implies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncd.demo.shop import SEGMENT_SECTIONS, Tool, destinations
from syncd.emulator import Activity, ActivityPlan


@dataclass(frozen=True)
class Recorded:
    """One tool's activity, as its emulator reported it."""

    tool: Tool
    activity: Activity


def new_activity(
    tools: Sequence[Tool], members: Callable[[str | None], set[str]]
) -> list[Recorded]:
    """Every tool's sample activity, in the tools' order. ``members(segment)`` gives the
    e-mails of a segment's members in the store (``members(None)``: every contact's)."""
    found = []
    for tool in tools:
        plan = tool.part.activity
        if plan is None:
            continue
        activity = tool.app.make_activity(tool.url, candidates(tools, plan, members))
        if activity is not None:
            found.append(Recorded(tool, activity))
    return found


def candidates(
    tools: Sequence[Tool], plan: ActivityPlan, members: Callable[[str | None], set[str]]
) -> list[str]:
    """Whom the activity of ``plan`` may concern, sorted: those it moves into or out of its
    segment who are held by every destination the segment is sent to."""
    inside = members(plan.segment)
    people = members(plan.among) - inside if plan.joins else inside
    for tool in destinations(tools):
        if any(plan.segment in tool.mapping.get(s, {}) for s in SEGMENT_SECTIONS):
            people &= tool.app.emails()
    return sorted(people)
