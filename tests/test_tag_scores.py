"""A tag's score as a tool keeps it (SALESmanago's scoring tags): stored with the tag at
pull, changed when the tool's changes, left alone by a record that says nothing of scores,
on both stores; and read from the SALESmanago emulator through the whole pull."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord, Record
from syncd.store.schema import tags
from syncd.sync.records import PageWriter

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def write(engine: sa.Engine, records: Sequence[Record]) -> None:
    with engine.begin() as conn:
        PageWriter(conn, "sm", "contacts", "run-1", NOW, frozenset()).write(records)


def scores(engine: sa.Engine) -> dict[str, float | None]:
    with engine.connect() as conn:
        return {r.tag: r.score for r in conn.execute(sa.select(tags.c.tag, tags.c.score))}


def test_a_tags_score_is_kept_changed_and_left_alone(store: sa.Engine) -> None:
    ola = ContactRecord("1", "ola@example.com", tags=["SCORING_ZAKUPY", "CENNIK (3)"])
    ola.tag_scores = {"SCORING_ZAKUPY": 30, "CENNIK (3)": 0}
    write(store, [ola])
    assert scores(store) == {"SCORING_ZAKUPY": 30.0, "CENNIK (3)": 0.0}
    ola.tag_scores = {"SCORING_ZAKUPY": 40, "CENNIK (3)": 0}
    write(store, [ola])
    assert scores(store) == {"SCORING_ZAKUPY": 40.0, "CENNIK (3)": 0.0}
    # a source that keeps no scores: the tags as they are
    write(store, [ContactRecord("1", None, tags=["SCORING_ZAKUPY", "CENNIK (3)"])])
    assert scores(store) == {"SCORING_ZAKUPY": 40.0, "CENNIK (3)": 0.0}
    write(store, [ContactRecord("2", "ann@example.com", tags=["VIP"])])
    assert scores(store)["VIP"] is None
