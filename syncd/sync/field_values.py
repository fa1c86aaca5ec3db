"""What a destination field should hold, for each contact, as text: a contact field, a
score, a part of the RFM, a tier (the first of an ordered list of segments the contact is
in) or a prediction (docs/segments.md, Computed values out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from syncd.config import ComputedValue, TierConfig
from syncd.segments import sqlfuncs
from syncd.store.schema import (
    contact_fields,
    contact_predictions,
    contact_rfm,
    contact_scores,
    contacts,
    score_scales,
    segment_members,
)


def desired_values(
    local: str | ComputedValue, tiers: Mapping[str, TierConfig] | None = None
) -> sa.Select[Any]:
    """contact_id, value (text; NULL: no value) of what a destination field should hold."""
    if isinstance(local, str):
        return sa.select(contact_fields.c.contact_id, contact_fields.c.value).where(
            contact_fields.c.name == local
        )
    if local.score is not None:
        # stored at its reference time: times its scale, its worth at the last compute
        scale = (
            sa.select(score_scales.c.scale)
            .where(score_scales.c.score == local.score)
            .scalar_subquery()
        )
        worth = contact_scores.c.value * sa.func.coalesce(scale, 1.0)
        whole = sa.cast(sa.func.round(worth), sa.Integer)
        return sa.select(
            contact_scores.c.contact_id, sa.cast(whole, sa.String).label("value")
        ).where(contact_scores.c.score == local.score)
    if local.tier is not None:
        return tier_values((tiers or {})[local.tier])
    if local.predicted is not None:
        column = contact_predictions.c[local.predicted]
        text = (
            sqlfuncs.date_text(column)
            if local.predicted == "next_order_at"
            else sqlfuncs.decimal_text(column)
        )
        return sa.select(contact_predictions.c.contact_id, text.label("value"))
    if local.rfm == "class":
        value: Any = contact_rfm.c["class"]
    elif local.rfm == "score":
        parts = [sa.cast(contact_rfm.c[m], sa.String) for m in ("r", "f", "m")]
        value = parts[0] + parts[1] + parts[2]
    else:
        value = sa.cast(contact_rfm.c[str(local.rfm)], sa.String)
    return sa.select(contact_rfm.c.contact_id, value.label("value"))


def tier_values(tier: TierConfig) -> sa.Select[Any]:
    """Each contact's tier value: that of the first segment of the tier it is a member of,
    else the default (every contact then has one), else NULL (a value to clear)."""
    order = list(tier.segments)
    rank = sa.case({name: i for i, name in enumerate(order)}, value=segment_members.c.segment)
    first = (
        sa.select(segment_members.c.contact_id, sa.func.min(rank).label("rank"))
        .where(segment_members.c.segment.in_(order))
        .group_by(segment_members.c.contact_id)
        .subquery("first_tier")
    )
    value = sa.case(
        {i: tier.segments[name] for i, name in enumerate(order)},
        value=first.c.rank,
        else_=sa.literal(tier.default, sa.String) if tier.default is not None else None,
    )
    return sa.select(contacts.c.id.label("contact_id"), value.label("value")).join(
        first, first.c.contact_id == contacts.c.id, isouter=True
    )


def clearable(local: str | ComputedValue, tiers: Mapping[str, TierConfig] | None) -> list[str]:
    """The values of ``local`` syncd clears from a contact left with none: those of a tier
    without a default (a contact that dropped out of every tier loses its old tier)."""
    if isinstance(local, ComputedValue) and local.tier is not None:
        tier = (tiers or {})[local.tier]
        if tier.default is None:
            return sorted(set(tier.segments.values()))
    return []
