"""Why a contact is or is not in a segment: each part of the rule, matched or not, with the
values that decided it. Each part is decided by the same SQL the segment runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.segments import items
from syncd.segments.compile import Compiler
from syncd.segments.events import matching
from syncd.segments.rules import (
    PREDICTED,
    AllOf,
    AnyOf,
    BoughtRule,
    Compare,
    DealRule,
    EventRule,
    FieldRule,
    ListRule,
    Not,
    PredictedRule,
    PurchasesRule,
    RfmRule,
    Rule,
    ScoreRule,
    SegmentRef,
    SpentRule,
    SqlRule,
    TagRule,
)
from syncd.segments.scores import growth
from syncd.store.schema import (
    contact_fields,
    contact_predictions,
    contact_rfm,
    contact_scores,
    deal_contacts,
    deals,
    events,
    memberships,
    tags,
)


@dataclass
class Explanation:
    """One part of a rule: what it asks, whether the contact matched, and the deciding values."""

    rule: str
    matched: bool
    values: dict[str, Any] = field(default_factory=dict)
    parts: list[Explanation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "matched": self.matched}
        if self.values:
            out["values"] = self.values
        if self.parts:
            out["parts"] = [p.as_dict() for p in self.parts]
        return out

    def lines(self, depth: int = 0) -> list[str]:
        mark = "yes" if self.matched else "no "
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())
        out = [f"{'  ' * depth}[{mark}] {self.rule}" + (f"  ({shown})" if shown else "")]
        for part in self.parts:
            out += part.lines(depth + 1)
        return out


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _test(test: Compare) -> str:
    value = test.value
    if hasattr(value, "total_seconds"):
        days = value.total_seconds() / 86400
        value = f"{days:g}d"
    elif isinstance(value, datetime):
        value = value.date().isoformat()
    return f"{test.op} {value}"


def describe(rule: Rule) -> str:
    """A short text of one rule (not of its parts)."""
    if isinstance(rule, AllOf):
        return "all of"
    if isinstance(rule, AnyOf):
        return "any of"
    if isinstance(rule, Not):
        return "not"
    if isinstance(rule, SegmentRef):
        return f"segment {rule.name}"
    if isinstance(rule, FieldRule):
        return f"field {rule.name} {_test(rule.test)}"
    if isinstance(rule, TagRule):
        text = f"tag {rule.name}"
        text += f" from {rule.source}" if rule.source else ""
        text += "".join(f", score {_test(c)}" for c in rule.score)
        text += f", since {_test(rule.since)}" if rule.since else ""
        return text + "".join(f", count {_test(c)}" for c in rule.count)
    if isinstance(rule, ListRule):
        text = f"list {rule.name} {rule.status}" + (f" at {rule.source}" if rule.source else "")
        return text + (f", since {_test(rule.since)}" if rule.since else "")
    if isinstance(rule, EventRule):
        text = f"event {rule.type}"
        text += "".join(f", {p} {_test(t)}" for p, t in rule.where)
        if rule.within is not None:
            text += f", within {rule.within.total_seconds() / 86400:g}d"
        if rule.not_followed_by:
            text += f", not followed by {rule.not_followed_by}"
        text += "".join(f", count {_test(c)}" for c in rule.count)
        text += f", first {_test(rule.first)}" if rule.first else ""
        return text + (f", last {_test(rule.last)}" if rule.last else "")
    if isinstance(rule, PurchasesRule):
        parts = [f"count {_test(c)}" for c in rule.count]
        parts += [f"total {_test(c)}" for c in rule.total]
        parts += [f"average {_test(c)}" for c in rule.average]
        parts += [f"first {_test(rule.first)}"] if rule.first else []
        parts += [f"last {_test(rule.last)}"] if rule.last else []
        if rule.within is not None:
            parts.append(f"within {rule.within.total_seconds() / 86400:g}d")
        parts += [f"a line's {k} {_test(t)}" for k, t in rule.where]
        return "purchases " + ", ".join(parts)
    if isinstance(rule, SpentRule | BoughtRule):
        parts = [f"{k} {_test(t)}" for k, t in rule.where]
        if rule.within is not None:
            parts.append(f"within {rule.within.total_seconds() / 86400:g}d")
        if isinstance(rule, SpentRule):
            parts += [f"sum {_test(c)}" for c in rule.tests]
            return "spent on lines " + ", ".join(parts)
        return "bought a line " + ", ".join(parts)
    if isinstance(rule, DealRule):
        return "deal " + ", ".join(f"{k} {_test(t)}" for k, t in rule.tests)
    if isinstance(rule, ScoreRule):
        parts = [] if rule.exists is None else [f"exists {str(rule.exists).lower()}"]
        parts += [_test(c) for c in rule.tests]
        if rule.top is not None:
            parts.append(f"top {_share(rule.top)}")
        if rule.change is not None:
            over = rule.change.over.total_seconds() / 86400
            change = [_test(c) for c in rule.change.tests]
            change += [f"top {_share(rule.change.top)}"] if rule.change.top else []
            parts.append(f"change over {over:g}d {' '.join(change)}")
        return f"score {rule.score} " + ", ".join(parts)
    if isinstance(rule, RfmRule):
        parts = [f"class in {', '.join(rule.classes)}"] if rule.classes else []
        parts += [f"{m} {_test(t)}" for m, t in rule.tests]
        return "rfm " + ", ".join(parts)
    if isinstance(rule, PredictedRule):
        parts = [f"{m} {_test(t)}" for m, t in rule.tests]
        parts += [f"{m} top {_share(share)}" for m, share in rule.tops]
        return "predicted " + ", ".join(parts)
    if isinstance(rule, SqlRule):
        return f"sql {' '.join(rule.sql.split())[:80]}"
    return type(rule).__name__


def _share(share: Any) -> str:
    if share.count is not None:
        return str(share.count)
    return f"{share.basis_points / 100:g}%"


@dataclass
class Explainer:
    """Explains rules for one contact, with the compiler of the current cycle."""

    conn: sa.Connection
    compiler: Compiler
    contact_id: int

    def explain(self, rule: Rule) -> Explanation:
        matched = bool(
            self.conn.execute(
                sa.select(sa.literal(1)).where(
                    sa.literal(self.contact_id).in_(self.compiler.members(rule))
                )
            ).first()
        )
        node = Explanation(describe(rule), matched, self._values(rule))
        if isinstance(rule, AllOf | AnyOf):
            node.parts = [self.explain(r) for r in rule.rules]
        elif isinstance(rule, Not):
            node.parts = [self.explain(rule.rule)]
        elif isinstance(rule, SegmentRef):
            node.parts = [self.explain(self.compiler.segments[rule.name])]
        return node

    def _values(self, rule: Rule) -> dict[str, Any]:
        cid = self.contact_id
        if isinstance(rule, FieldRule):
            row = self.conn.execute(
                sa.select(contact_fields.c.value, contact_fields.c.source).where(
                    contact_fields.c.contact_id == cid, contact_fields.c.name == rule.name
                )
            ).first()
            return {"value": row.value, "source": row.source} if row else {"value": None}
        if isinstance(rule, TagRule):
            held = self.conn.execute(
                sa.select(tags.c.tag, tags.c.source).where(tags.c.contact_id == cid)
            ).all()
            return {"tags": sorted(f"{t.tag}@{t.source}" for t in held)}
        if isinstance(rule, ListRule):
            rows = self.conn.execute(
                sa.select(memberships.c.list, memberships.c.status, memberships.c.source).where(
                    memberships.c.contact_id == cid
                )
            ).all()
            return {"lists": sorted(f"{r.list}: {r.status}@{r.source}" for r in rows)}
        if isinstance(rule, EventRule | PurchasesRule):
            return self._event_values(rule)
        if isinstance(rule, DealRule):
            held_deals: Any = self.conn.execute(
                sa.select(deals.c.stage, deals.c.status, deals.c.pipeline, deals.c.owner)
                .join(
                    deal_contacts,
                    sa.and_(
                        deal_contacts.c.source == deals.c.source,
                        deal_contacts.c.deal_id == deals.c.external_id,
                    ),
                )
                .where(deal_contacts.c.contact_id == cid)
            ).all()
            return {"deals": [f"{r.pipeline}/{r.stage} {r.status} ({r.owner})" for r in held_deals]}
        if isinstance(rule, ScoreRule):
            value = self.conn.execute(
                sa.select(contact_scores.c.value).where(
                    contact_scores.c.contact_id == cid, contact_scores.c.score == rule.score
                )
            ).scalar()
            if value is not None:  # stored at its reference time: its worth now
                value /= growth(self.compiler.scores.get(rule.score), self.compiler.now)
            return {"score": value}
        if isinstance(rule, RfmRule):
            rfm: Any = self.conn.execute(
                sa.select(
                    contact_rfm.c.r, contact_rfm.c.f, contact_rfm.c.m, contact_rfm.c["class"]
                ).where(contact_rfm.c.contact_id == cid)
            ).first()
            return dict(zip(("r", "f", "m", "class"), rfm, strict=True)) if rfm else {"rfm": None}
        if isinstance(rule, PredictedRule):
            p = contact_predictions.c
            found: Any = self.conn.execute(
                sa.select(p.churn_risk, p.p_alive, p.expected_orders, p.value).where(
                    p.contact_id == cid
                )
            ).first()
            return dict(zip(PREDICTED, found, strict=True)) if found else {"predicted": None}
        return {}

    def _event_values(self, rule: EventRule | PurchasesRule) -> dict[str, Any]:
        now = self.compiler.now
        if isinstance(rule, EventRule):
            where = matching(rule.type, rule.where, now)
        else:
            where = matching("order_placed", (), now)
            if rule.where:
                where.append(events.c.id.in_(items.orders_with_lines(rule.where, now)))
        if rule.within is not None:
            where.append(events.c.occurred_at >= now - rule.within)
        row = self.conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(events.c.occurred_at),
                sa.func.max(events.c.occurred_at),
                sa.func.sum(sa.func.coalesce(events.c.value, 0.0)),
            ).where(events.c.contact_id == self.contact_id, *where)
        ).one()
        values: dict[str, Any] = {"count": row[0]}
        if row[0]:
            values.update(first=row[1], last=row[2])
            if isinstance(rule, PurchasesRule):
                values.update(total=row[3], average=row[3] / row[0])
        return values
