"""Cursor safety: a record dated in the future (next year, the year 9999) does not move a
stream's cursor past syncd's time plus a small allowance for the vendor's clock. The record
is kept (its data is good); the bound stops at the ceiling, so records written later at the
vendor with times of today are still read, and the future record is not handed on again."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from syncd.connectors import ConnectorContext, Cursor, CursorField, ReadState
from syncd.connectors.cursor import FUTURE_SKEW
from tests.test_connector_kit import T0, Example, Options, Table, only, read

NOW = T0 + timedelta(minutes=30)  # syncd's time: the table's rows are minutes 1 to 10


def connect(table: Table, now: list = [NOW]) -> Example:  # noqa: B006 - a clock to move
    context = ConnectorContext(
        "ex", transport=httpx.MockTransport(table.handler), clock=lambda: now[0]
    )
    return Example(Options(page_size=3), context)


@pytest.mark.parametrize(
    "future", ["9999-12-31T23:59:59Z", (NOW + timedelta(days=365)).isoformat()]
)
def test_a_record_dated_in_the_future_does_not_move_the_cursor_past_now(future: str) -> None:
    table = Table(10)
    table.rows["5"]["updated"] = future
    clock = [NOW]
    stream = only(connect(table, clock))
    ids, cursor = read(stream, None)
    assert sorted(ids, key=int) == [str(i) for i in range(1, 11)]  # the record is kept
    stored = json.loads(cursor or "")
    ceiling = (NOW + FUTURE_SKEW).isoformat()
    assert stored["bound"] == ceiling and not stored.get("exact")  # held, not exact
    assert table.log[-1].get("updated_since") is None

    # nothing new: the future record comes back (its time is past the bound) and is known
    again, cursor = read(stream, cursor)
    assert again == []
    assert table.log[-1]["updated_since"] == ceiling

    # a record changed at the vendor later today is read: the cursor was not stuck
    clock[0] = NOW + timedelta(hours=2)
    table.rows["3"]["updated"] = Table.at(60 * 2 + 30)
    later, cursor = read(stream, cursor)
    assert later == ["3"]
    assert json.loads(cursor or "")["bound"] == Table.at(60 * 2 + 30).replace("Z", "+00:00")
    # and the future record, read again past that bound, is still known
    assert read(stream, cursor)[0] == []


def test_without_the_ceiling_the_future_record_would_hide_every_later_change() -> None:
    """The check above can fail: a bound taken from the future record's own value asks the
    vendor from the year 9999, and a change made today is never read."""
    spec = CursorField("datetime")
    state = ReadState.begin(spec, Cursor())
    state.saw("5", spec.value("9999-12-31T23:59:59Z"))  # no cap: the record's own value
    stuck = state.done()
    assert stuck.bound.startswith("9999")
    table = Table(3)
    ids, _ = read(only(connect(table)), stuck.dump())
    assert ids == []  # nothing dated before 9999 is ever read again
    capped = ReadState.begin(spec, Cursor())
    capped.saw("5", spec.value("9999-12-31T23:59:59Z"), spec.ceiling(NOW))
    assert capped.done().bound == spec.ceiling(NOW)
