"""The demo's last step: a change in a tool reaches syncd as a webhook, and what it implies
lands at the destinations within seconds, with no pull.

The demo serves the daemon's webhook ingest (``POST /webhooks/NAME``) on loopback and runs its
micro-cycles, as ``syncd run`` does; registers, through ``syncd webhooks register``'s code,
the subscriptions of each tool whose emulator sends webhooks; then that emulator makes its
change (``DemoPart.webhook``) and posts it. The step ends when every destination the segment
is sent to holds it for the people concerned, and says how long that took."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from syncd.connectors.webhooks import WebhookSecrets
from syncd.daemon.run_lock import RunLock
from syncd.demo.later import candidates
from syncd.demo.shop import SEGMENT_SECTIONS, Tool, destinations
from syncd.emulator import running
from syncd.runtime import Runtime
from syncd.webhooks.ingest import Backlog, Ingest, Receivers
from syncd.webhooks.micro import MicroCycles
from syncd.webhooks.register import each

WAIT = 60.0  # seconds the step waits for the change to land before it says it did not


def senders(tools: Sequence[Tool]) -> list[Tool]:
    """The tools that make the demo's webhook change."""
    return [t for t in tools if t.part.webhook is not None and t.app.webhook_secrets()]


def webhook_step(
    rt: Runtime,
    tools: Sequence[Tool],
    members: Callable[[str | None], set[str]],
    show: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run the step; what each sending tool did and how long it took to land."""
    taking = senders(tools)
    if not taking:
        return []
    backlog, receivers, stop = Backlog(), Receivers(), threading.Event()
    micro = MicroCycles(lambda: rt, receivers, backlog, RunLock(), stop)
    micro.start()
    done: list[dict[str, Any]] = []
    try:
        with running(Ingest(lambda: rt, backlog, receivers)) as url:
            rt.config.webhooks.public_url = url
            rt.config.webhooks.connectors = {
                t.name: WebhookSecrets(**(t.app.webhook_secrets() or {})) for t in taking
            }
            for outcome in each(rt, register=True):
                if outcome.subscriptions:
                    topics = ", ".join(s.shown_topic for s in outcome.subscriptions)
                    show(f"  subscribed {outcome.instance} to {topics}")
                    show(f"    posting to {outcome.address}")
            for tool in taking:
                found = _one(rt, tools, tool, members, show)
                if found is not None:
                    done.append(found)
    finally:
        stop.set()
        micro.join(10)
    return done


def _one(
    rt: Runtime,
    tools: Sequence[Tool],
    tool: Tool,
    members: Callable[[str | None], set[str]],
    show: Callable[[str], None],
) -> dict[str, Any] | None:
    plan = tool.part.webhook
    assert plan is not None
    activity = tool.app.make_webhook_activity(tool.url, candidates(tools, plan, members))
    if activity is None:
        show(f"  {tool.title}: nobody fits its change; nothing was sent")
        return None
    started = time.monotonic()
    show(f"  {tool.title}: {activity.sentence()} ({activity.call})")
    wanted = _expected(tools, plan.segment, plan.joins, activity.emails)
    landed: dict[tuple[str, str], float] = {}
    while len(landed) < len(wanted) and time.monotonic() - started < WAIT:
        for (dest, what), emails in wanted.items():
            if (dest, what) not in landed and _holds(tools, dest, what, emails, plan.joins):
                landed[(dest, what)] = time.monotonic() - started
        time.sleep(0.05)
    titles = {t.name: t.title for t in tools}
    for (dest, what), _ in wanted.items():
        seconds = landed.get((dest, what))
        if seconds is None:
            show(f"    {what} did not land in {titles[dest]} within {WAIT:.0f} s")
        else:
            show(
                f"    delivered as a webhook: {what} landed in {titles[dest]} {seconds:.1f} s later"
            )
    return {
        "tool": tool.name,
        "emails": list(activity.emails),
        "what": activity.what,
        "call": activity.call,
        "segment": plan.segment,
        "landed": {f"{dest} {what}": round(s, 2) for (dest, what), s in landed.items()},
        "waited": round(time.monotonic() - started, 2),
    }


def _expected(
    tools: Sequence[Tool], segment: str, joins: bool, emails: Sequence[str]
) -> dict[tuple[str, str], list[str]]:
    """Each (destination, tag or list) the segment is sent as, with the people it concerns."""
    wanted = {}
    for tool in destinations(tools):
        for section in SEGMENT_SECTIONS:
            name = tool.mapping.get(section, {}).get(segment)
            if name is not None:
                wanted[(tool.name, str(name))] = [e for e in emails if e in tool.app.emails()]
    return {k: v for k, v in wanted.items() if v}


def _holds(tools: Sequence[Tool], dest: str, what: str, emails: list[str], joins: bool) -> bool:
    tool = next(t for t in tools if t.name == dest)
    held = tool.app.holds()
    for email in emails:
        has = email in held and (what in held[email].tags or what in held[email].lists)
        if has != joins:
            return False
    return True
