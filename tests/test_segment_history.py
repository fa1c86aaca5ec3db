"""Segment history: every compute keeps each segment's size and members added and removed at
its time, on SQLite and PostgreSQL; the upkeep prunes what is older than the retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from syncd.config import StoreConfig
from syncd.store.schema import segment_history, tags
from syncd.sync import history
from syncd.sync.compute import SegmentResult, compute_segments
from tests.segment_data import DAY, NOW, Dataset, load, parse

SEGMENTS = {"vip": {"tag": "VIP"}, "everyone": {"not": {"tag": "nobody-has-this"}}}


def _history(engine: sa.Engine) -> list[tuple[str, object, int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(segment_history).order_by(segment_history.c.at, segment_history.c.segment)
        ).all()
    return [(r.segment, r.at, r.size, r.added, r.removed) for r in rows]


def test_each_compute_records_sizes_added_and_removed(store: sa.Engine) -> None:
    data = Dataset()
    data.contact("a@x.com").tags.add(("sm", "VIP"))
    data.contact("b@x.com").tags.add(("sm", "VIP"))
    data.contact("c@x.com")
    rules, models = parse(SEGMENTS)
    with store.begin() as conn:
        load(conn, data)
    with store.begin() as conn:
        compute_segments(conn, rules, NOW, models)
    b = data.contact("b@x.com").id
    with store.begin() as conn:  # b loses the tag, c gains it
        conn.execute(tags.delete().where(tags.c.contact_id == b))
        conn.execute(
            tags.insert().values(
                contact_id=data.contact("c@x.com").id,
                source="sm",
                tag="VIP",
                name="VIP",
                updated_at=NOW,
            )
        )
    later = NOW + DAY
    with store.begin() as conn:
        compute_segments(conn, rules, later, models)
    assert _history(store) == [
        ("everyone", NOW, 3, 3, 0),
        ("vip", NOW, 2, 2, 0),
        ("everyone", later, 3, 0, 0),
        ("vip", later, 2, 1, 1),
    ]


def test_a_second_compute_at_the_same_instant_adds_to_the_row(store: sa.Engine) -> None:
    with store.begin() as conn:
        history.record(conn, NOW, [SegmentResult("vip", 5, 5, 0)])
        history.record(conn, NOW, [SegmentResult("vip", 4, 1, 2)])
    assert _history(store) == [("vip", NOW, 4, 6, 2)]


def test_prune_keeps_only_the_retention(store: sa.Engine) -> None:
    with store.begin() as conn:
        for days in (0, 10, 399, 401):
            history.record(conn, NOW - timedelta(days=days), [SegmentResult("vip", days, 0, 0)])
        gone = history.prune(conn, NOW, StoreConfig().history_retention)
    assert gone == 1
    assert [row[2] for row in _history(store)] == [399, 10, 0]


def test_retention_is_configurable() -> None:
    assert StoreConfig().history_retention == timedelta(days=400)
    assert StoreConfig(history_retention="30d").history_retention == timedelta(days=30)


def test_the_page_charts_each_days_last_size(store: sa.Engine) -> None:
    from syncd.ui.data import daily_sizes

    with store.begin() as conn:
        for hours, size in ((0, 10), (5, 12), (23, 11), (24, 20), (30, 21)):
            history.record(conn, NOW + timedelta(hours=hours), [SegmentResult("vip", size, 0, 0)])
        history.record(conn, NOW, [SegmentResult("other", 3, 3, 0)])
    with store.connect() as conn:
        got = daily_sizes(conn, NOW - DAY)
        one = daily_sizes(conn, NOW - DAY, "vip")
    day = NOW.date()
    # NOW is noon: 12:00 and 17:00 are the first day, 11:00, 12:00 and 18:00 the next
    assert got == {"vip": [(day, 12), (day + DAY, 21)], "other": [(day, 3)]}
    assert one == {"vip": got["vip"]}


def test_a_sync_keeps_the_history_the_config_asks_for(env: Path) -> None:
    from syncd.daemon.service import build
    from syncd.sync.cycle import sync

    config = env / "syncd.yaml"
    config.write_text(
        config.read_text().replace("store:\n", "store:\n  history_retention: 30d\n", 1)
    )
    rt = build(config)
    try:
        now = rt.clock()
        with rt.engine.begin() as conn:
            for days in (29, 31, 300):
                history.record(conn, now - DAY * days, [SegmentResult("old", days, 0, 0)])
        sync(rt)
        kept = [row for row in _history(rt.engine) if row[0] == "old"]
        computed = {row[0] for row in _history(rt.engine) if row[1] == now}
    finally:
        rt.close()
    assert [size for _, _, size, _, _ in kept] == [29]  # 31 and 300 days old are gone
    assert computed == set(rt.rules)  # and the sync's own compute is kept
