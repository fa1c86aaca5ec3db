"""Top shares (``top: 10%`` of a score, or of its change): their candidates, how many they
are, and the least value a candidate needs to be in.

A share of the candidates needs their number. An incremental compute keeps it from the last
compute: only the contacts whose score rows it writes again (those of its scope) can become
a candidate or stop being one, so it counts them before and after, instead of counting
every candidate (at a million contacts, the risers joined with their scores: about a
second).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import sqlalchemy as sa

from syncd.segments.compile import Compiler, threshold, top_key
from syncd.segments.rules import Rule, ScoreRule, leaves

Share = tuple[ScoreRule, Literal["top", "change"], Any]


def top_shares(rules: Mapping[str, Rule]) -> dict[str, Share]:
    """Every top share in ``rules``, by its key: the rule, which value it ranks, the share."""
    out: dict[str, Share] = {}
    for rule in rules.values():
        for part in leaves(rule):
            if not isinstance(part, ScoreRule):
                continue
            if part.top is not None:
                out[top_key(part, "top")] = (part, "top", part.top)
            if part.change is not None and part.change.top is not None:
                out[top_key(part, "change")] = (part, "change", part.change.top)
    return out


def count_tops(
    conn: sa.Connection,
    compiler: Compiler,
    shares: Mapping[str, Share],
    scope: sa.Table | None = None,
) -> dict[str, int]:
    """The number of candidates of each share of them (not of a number of contacts), among
    the contacts of ``scope`` when given."""
    out = {}
    for key, (rule, kind, share) in shares.items():
        if share.count is not None:
            continue
        counted = sa.select(sa.func.count()).select_from(compiler.tops(rule, kind, scope))
        out[key] = int(conn.execute(counted).scalar_one())
    return out


def find_tops(
    conn: sa.Connection,
    compiler: Compiler,
    shares: Mapping[str, Share],
    counts: Mapping[str, int],
) -> dict[str, Any]:
    """The least value in each top share now (None: no candidate), given the number of
    candidates of each share of them (``count_tops``)."""
    return {
        key: conn.execute(
            sa.select(threshold(compiler.tops(rule, kind), share, counts.get(key)))
        ).scalar()
        for key, (rule, kind, share) in shares.items()
    }
