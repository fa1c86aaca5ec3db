"""Since when a contact holds a tag and a list status: the first pull that saw it, kept while
it stays; a list's status that changes begins again (docs/segments.md, tag and list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from syncd.connectors.contract import ContactRecord, ListRecord, TagRecord
from syncd.store.schema import memberships, tags
from syncd.sync.records import PageWriter

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def pull(store: sa.Engine, at: datetime, *records: object) -> None:
    with store.begin() as conn:
        PageWriter(conn, "esp", "contacts", None, at).write(records)  # type: ignore[arg-type]


def since(store: sa.Engine) -> dict[str, datetime]:
    with store.connect() as conn:
        out = {f"tag {r.tag}": r.since for r in conn.execute(sa.select(tags))}
        out |= {f"list {r.list}": r.since for r in conn.execute(sa.select(memberships))}
    return out


def test_a_tag_and_a_status_keep_the_time_first_seen(store: sa.Engine) -> None:
    person = ContactRecord("1", "ann@example.com", tags=["VIP"], lists={"News": "subscribed"})
    pull(store, T0, person)
    assert since(store) == {"tag VIP": T0, "list News": T0}
    # read again later, with a new tag and the same status: the old ones keep their time
    again = ContactRecord("1", "ann@example.com", tags=["VIP", "NEW"], lists={"News": "subscribed"})
    pull(store, T0 + DAY, again)
    assert since(store) == {"tag VIP": T0, "tag NEW": T0 + DAY, "list News": T0}
    pull(store, T0 + 2 * DAY, TagRecord("1", "VIP", ref="r1"))  # a tag record: same tag
    assert since(store)["tag VIP"] == T0
    # unsubscribed: a new status, since then; subscribed again: since then too
    pull(store, T0 + 3 * DAY, ListRecord("1", "News", "unsubscribed"))
    assert since(store)["list News"] == T0 + 3 * DAY
    pull(store, T0 + 4 * DAY, ListRecord("1", "News", "unsubscribed", ref="x"))
    assert since(store)["list News"] == T0 + 3 * DAY
    pull(store, T0 + 5 * DAY, ListRecord("1", "News", "subscribed"))
    assert since(store)["list News"] == T0 + 5 * DAY
    # a tag removed and given again begins again
    pull(store, T0 + 6 * DAY, ContactRecord("1", None, tags=[]))
    pull(store, T0 + 7 * DAY, ContactRecord("1", None, tags=["VIP"]))
    assert since(store)["tag VIP"] == T0 + 7 * DAY


def test_explain_says_the_since_test() -> None:
    from syncd.segments.explain import describe
    from tests.segment_data import parse

    rules, _ = parse(
        {
            "tagged": {"tag": "VIP", "since": "7d"},
            "subscribed": {"list": "N", "since": "2026-01-01"},
        }
    )
    assert describe(rules["tagged"]) == "tag VIP, since within 7d"
    assert describe(rules["subscribed"]) == "list N subscribed, since gte 2026-01-01"
