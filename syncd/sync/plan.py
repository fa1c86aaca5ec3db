"""Plan: what each destination should hold, compared with what it is known to hold.

Desired state comes from segment members through the destination's mapping; known state is
what the destination's own instance reported, plus what syncd confirmed there. The
difference is a list of changes, computed in SQL.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.config import DestinationConfig, TierConfig
from syncd.connectors.contract import ChangeKind
from syncd.store.schema import (
    attributes,
    contacts,
    identities,
    memberships,
    meta,
    outbox,
    segment_members,
    tags,
)
from syncd.store.upsert import upsert
from syncd.sync.field_values import clearable, desired_values

REMOVALS = frozenset({ChangeKind.REMOVE_TAG, ChangeKind.UNSUBSCRIBE})
CHANGE_COLUMNS = (
    outbox.c.destination,
    outbox.c.contact_id,
    outbox.c.kind,
    outbox.c.key,
    outbox.c.value,
)
COMPUTE_KEY = "compute"  # meta key: the last compute's id and time (a plan's freshness)


@dataclass(frozen=True, order=True)
class PlannedChange:
    contact_id: int
    kind: str
    key: str
    value: str | None = None
    # a field's value at the destination as syncd last knew it (pulled, or confirmed by a
    # push), shown as ``old → new``; not part of what the change is
    old: str | None = field(default=None, compare=False)

    @property
    def identity(self) -> tuple[int, str, str, str | None]:
        return (self.contact_id, self.kind, self.key, self.value)


@dataclass
class DestinationPlan:
    destination: str
    changes: list[PlannedChange] = field(default_factory=list)
    held: bool = False
    reason: str | None = None
    skipped: dict[str, int] = field(
        default_factory=dict
    )  # kind -> count the destination can't take
    refused: int = 0  # changes left out: the destination refused them for good before
    # the removal guard's figures, when the plan removes anything: tags and subscriptions
    # syncd is answerable for there, and the most removals allowed against them
    guard_base: int | None = None
    guard_limit: int | None = None

    @property
    def removals(self) -> int:
        return sum(1 for c in self.changes if c.kind in REMOVALS)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for change in self.changes:
            out[change.kind] += 1
        return dict(out)


def _in_segments(names: Iterable[str], contact: Any) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        segment_members.c.segment.in_(list(names)), segment_members.c.contact_id == contact
    )


def _by_target(mapping: dict[str, str]) -> dict[str, list[str]]:
    """segment -> tag becomes tag -> segments (several segments may feed one tag)."""
    out: dict[str, list[str]] = defaultdict(list)
    for segment, target in mapping.items():
        out[target].append(segment)
    return out


def plan_destination(
    conn: sa.Connection,
    dest: DestinationConfig,
    kinds: frozenset[ChangeKind],
    tiers: Mapping[str, TierConfig] | None = None,
    scope: Collection[int] | None = None,
) -> DestinationPlan:
    """The changes that bring ``dest`` to the desired state (``tiers``: the config's, which
    its fields may name); of the contacts of ``scope`` only, when given (a webhook's
    micro-cycle)."""
    name = dest.connector
    plan = DestinationPlan(name)
    removing = dest.mode != "add_only"
    for tag, segs in _by_target(dest.tags).items():
        present = sa.exists().where(
            tags.c.contact_id == segment_members.c.contact_id,
            tags.c.source == name,
            tags.c.tag == tag,
        )
        adds = (
            sa.select(segment_members.c.contact_id)
            .where(segment_members.c.segment.in_(segs), sa.not_(present))
            .where(_within(segment_members.c.contact_id, scope))
            .distinct()
        )
        plan.changes += [
            PlannedChange(cid, ChangeKind.ADD_TAG, tag) for cid in conn.execute(adds).scalars()
        ]
        if removing:
            removes = sa.select(tags.c.contact_id).where(
                tags.c.source == name,
                tags.c.tag == tag,
                sa.not_(_in_segments(segs, tags.c.contact_id)),
                _within(tags.c.contact_id, scope),
            )
            if dest.mode == "managed":
                removes = removes.where(tags.c.managed.is_(True))
            plan.changes += [
                PlannedChange(cid, ChangeKind.REMOVE_TAG, tag)
                for cid in conn.execute(removes).scalars()
            ]
    for list_name, segs in _by_target(dest.lists).items():
        plan.changes += _list_changes(conn, dest, list_name, segs, removing, scope)
    if dest.fields:
        plan.changes += _field_changes(conn, dest, tiers, scope)
    supported = [c for c in plan.changes if c.kind in kinds]
    for change in plan.changes:
        if change.kind not in kinds:
            plan.skipped[change.kind] = plan.skipped.get(change.kind, 0) + 1
    plan.changes = sorted(supported)
    return plan


def _within(column: sa.ColumnElement[Any], scope: Collection[int] | None) -> sa.ColumnElement[bool]:
    """``column`` is one of the contacts of ``scope``; always true without one."""
    return sa.true() if scope is None else column.in_(sorted(scope))


def _list_changes(
    conn: sa.Connection,
    dest: DestinationConfig,
    list_name: str,
    segs: list[str],
    removing: bool,
    scope: Collection[int] | None = None,
) -> list[PlannedChange]:
    name = dest.connector
    member = segment_members.c.contact_id
    subscribed_here = _held(member, name, sa.literal(list_name), "subscribed")
    subscribes = (
        sa.select(member)
        .where(
            segment_members.c.segment.in_(segs),
            sa.not_(subscribed_here),
            consents(name, member, sa.literal(list_name)),
            _within(member, scope),
        )
        .distinct()
    )
    changes = [
        PlannedChange(cid, ChangeKind.SUBSCRIBE, list_name)
        for cid in conn.execute(subscribes).scalars()
    ]
    if removing:
        unsubscribes = sa.select(memberships.c.contact_id).where(
            memberships.c.source == name,
            memberships.c.list == list_name,
            memberships.c.status == "subscribed",
            sa.not_(_in_segments(segs, memberships.c.contact_id)),
            _within(memberships.c.contact_id, scope),
        )
        if dest.mode == "managed":
            unsubscribes = unsubscribes.where(memberships.c.managed.is_(True))
        changes += [
            PlannedChange(cid, ChangeKind.UNSUBSCRIBE, list_name)
            for cid in conn.execute(unsubscribes).scalars()
        ]
    return changes


def _held(
    contact: sa.ColumnElement[Any],
    destination: str,
    list_name: sa.ColumnElement[str],
    status: str,
) -> sa.Exists:
    """Whether ``destination`` holds ``contact`` on ``list_name`` with ``status``."""
    held = memberships.alias(f"held_{status}")
    return sa.exists().where(
        held.c.contact_id == contact,
        held.c.source == destination,
        held.c.list == list_name,
        held.c.status == status,
    )


def consents(
    destination: str, contact: sa.ColumnElement[Any], list_name: sa.ColumnElement[str]
) -> sa.ColumnElement[bool]:
    """Whether the store knows ``contact`` may be subscribed to ``list_name`` at
    ``destination``: consent evidence (a source said so, or a subscription somewhere), no
    source's revocation, and never someone who unsubscribed from that list there. The plan
    asks it, and the push again for each subscription it sends, as the store is then."""
    unsubscribed_here = _held(contact, destination, list_name, "unsubscribed")
    granted = sa.or_(
        sa.exists().where(identities.c.contact_id == contact, identities.c.consent == "granted"),
        sa.exists().where(
            memberships.c.contact_id == contact, memberships.c.status == "subscribed"
        ),
    )
    revoked = sa.exists().where(
        identities.c.contact_id == contact, identities.c.consent == "revoked"
    )
    return sa.and_(sa.not_(unsubscribed_here), granted, sa.not_(revoked))


def _field_changes(
    conn: sa.Connection,
    dest: DestinationConfig,
    tiers: Mapping[str, TierConfig] | None,
    scope: Collection[int] | None = None,
) -> list[PlannedChange]:
    """Field values for the contacts the destination knows or receives through a segment."""
    name = dest.connector
    mapped = list({*dest.tags, *dest.lists})
    audience = sa.or_(
        sa.exists().where(identities.c.contact_id == contacts.c.id, identities.c.connector == name),
        _in_segments(mapped, contacts.c.id) if mapped else sa.false(),
    )
    changes = []
    for remote, local in dest.fields.items():
        desired = desired_values(local, tiers).subquery("desired")
        remote_value = (
            sa.select(attributes.c.value)
            .where(
                attributes.c.contact_id == desired.c.contact_id,
                attributes.c.source == name,
                attributes.c.name == remote,
            )
            .scalar_subquery()
        )
        cleared = clearable(local, tiers)
        rows = conn.execute(
            sa.select(desired.c.contact_id, desired.c.value, remote_value.label("old"))
            .join(contacts, contacts.c.id == desired.c.contact_id)
            .where(
                _within(desired.c.contact_id, scope),
                audience,
                sa.or_(
                    sa.and_(
                        desired.c.value.is_not(None),
                        sa.or_(remote_value.is_(None), remote_value != desired.c.value),
                    ),
                    # a value of its own syncd takes back: a tier the contact left
                    sa.and_(desired.c.value.is_(None), remote_value.in_(cleared))
                    if cleared
                    else sa.false(),
                ),
            )
        )
        changes += [
            PlannedChange(cid, ChangeKind.SET_FIELD, remote, value, old) for cid, value, old in rows
        ]
    return changes


def current_members(conn: sa.Connection, dest: DestinationConfig) -> int:
    """How many tags and subscriptions syncd is answerable for at ``dest`` (the guard's base)."""
    name = dest.connector
    tag_rows = (
        sa.select(sa.func.count())
        .select_from(tags)
        .where(tags.c.source == name, tags.c.tag.in_(list(dest.tags.values())))
    )
    list_rows = (
        sa.select(sa.func.count())
        .select_from(memberships)
        .where(
            memberships.c.source == name,
            memberships.c.list.in_(list(dest.lists.values())),
            memberships.c.status == "subscribed",
        )
    )
    if dest.mode == "managed":
        tag_rows = tag_rows.where(tags.c.managed.is_(True))
        list_rows = list_rows.where(memberships.c.managed.is_(True))
    return int(conn.execute(tag_rows).scalar_one()) + int(conn.execute(list_rows).scalar_one())


def guard(conn: sa.Connection, dest: DestinationConfig, plan: DestinationPlan) -> DestinationPlan:
    """Hold a plan that would remove more than the destination allows."""
    removals = plan.removals
    if not removals:
        return plan
    current = current_members(conn, dest)
    limit = dest.removal_limit(current)
    plan.guard_base, plan.guard_limit = current, limit
    if removals > limit:
        plan.held = True
        plan.reason = (
            f"would remove {removals} of {current} tags and subscriptions at {dest.connector}, "
            f"more than max_removals allows ({limit}); check the sources, then run "
            "'syncd push --confirm' to send it"
        )
    return plan


# --- a plan's freshness: what a reviewed plan was made against -------------------------------


def mark_computed(conn: sa.Connection, now: datetime) -> dict[str, str]:
    """Give this compute an id of its own: a plan made before it is stale after it, even at
    the same clock time (a fixed clock, a fast machine)."""
    value = {"id": uuid.uuid4().hex, "at": now.isoformat()}
    upsert(conn, meta, [{"key": COMPUTE_KEY, "value": json.dumps(value)}], ["key"], ["value"])
    return value


def last_compute(conn: sa.Connection) -> dict[str, str] | None:
    """The last compute's ``id`` and ``at`` (ISO time), or None before the first."""
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == COMPUTE_KEY)).scalar()
    return json.loads(value) if value else None


def outbox_digest(conn: sa.Connection, destinations: Sequence[str]) -> str:
    """A digest of the open (pending and held) outbox of ``destinations`` and of the last
    change ever queued: a plan reviewed against one outbox is not applied over another, nor
    twice (applying it queues changes, and those stay the last even once done)."""
    of = (outbox.c.destination.in_(list(destinations)),)
    last = conn.execute(sa.select(sa.func.max(outbox.c.id)).where(*of)).scalar()
    rows = conn.execute(
        sa.select(*CHANGE_COLUMNS, outbox.c.status)
        .where(*of, outbox.c.status.in_(("pending", "held")))
        .order_by(outbox.c.id)
    )
    return digest([last, [list(r) for r in rows]])


def changes_digest(plan: DestinationPlan) -> str:
    """A digest of what ``plan`` would do (its changes, and whether it is held)."""
    return digest([plan.held, sorted([list(c.identity) for c in plan.changes])])


def digest(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
