"""What an emulator gives ``syncd demo``, in words that name no vendor.

An emulator takes part in the demo when its class sets ``demo`` to a ``DemoPart``: the tool's
name for people, its place in the demo's lists, the destination mapping the demo sends it,
and the sample activity it records later. The methods the demo then calls are on
``syncd.emulator.Emulator`` (``connector_config``, ``prepare_demo``, ``holds``, ``emails``,
``make_activity``); what they answer is shaped by the classes here, and ``tool_call`` sends
an activity's request to the tool's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class ActivityPlan:
    """The sample activity an emulator records before the demo's last cycle: which segment it
    moves its people into or out of, so the demo can offer it people whose change shows."""

    segment: str
    joins: bool  # True: the people it concerns join ``segment``; False: they leave it
    among: str | None = None  # joiners are picked from this segment's members (None: anyone)


@dataclass(frozen=True)
class DemoPart:
    """How an emulator takes part in ``syncd demo``."""

    title: str  # the tool's name for people, such as "Acme CRM"
    order: int  # its place among the demo's tools: listed, configured and pulled in this order
    precedence: int  # its rank when sources disagree on a contact's attributes (1 wins)
    # as a destination: the mapping the demo gives it, {"tags": {segment: tag}, "lists":
    # {segment: list}, "fields": {field: computed value}}; empty: the demo sends it nothing
    destination: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    push_order: int = 100  # its place among the destinations: pushed and summed up in order
    # connector options the demo's story adds to ``connector_config`` (such as skip_events
    # for the copies of another tool's events this tool keeps)
    options: Mapping[str, Any] = field(default_factory=dict)
    # segments the demo defines because this tool's data makes them possible: {name: rule}
    segments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    activity: ActivityPlan | None = None  # the sample activity it records later, if any
    # the change it makes last, which reaches syncd as a webhook (its emulator posts it to
    # the subscriptions the demo registers): None, it sends the demo none
    webhook: ActivityPlan | None = None


@dataclass(frozen=True)
class Held:
    """What one person holds at a tool, in syncd's words."""

    tags: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()  # the lists they are subscribed to
    fields: Mapping[str, str] = field(default_factory=dict)  # custom fields with a value


@dataclass(frozen=True)
class Activity:
    """Something that happened at a tool, recorded through the tool's own API."""

    emails: tuple[str, ...]  # whom it concerns
    what: str  # what they did, for people: "won the deal 'Deal 4'"
    call: str  # the request that recorded it: "PATCH /objects/deals/4"

    def sentence(self) -> str:
        return f"{' and '.join(self.emails)} {self.what}"


def tool_call(
    method: str, url: str, path: str, body: Any, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """One request of a sample activity, sent with the JSON ``body`` to the tool's own API at
    ``url`` (its emulator, on loopback); an error answer raises. The ``Activity`` it records
    names it ``METHOD path``."""
    answer = httpx.request(method, url + path, json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer
