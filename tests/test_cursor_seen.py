"""The keys a cursor holds as seen (SeenKeys): exactly a dict key → value in what they answer,
but grouped by value with canonical integer ids as runs, so a cursor stays small when many
records share one value (a bulk import: thousands of records with the same update time)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.connectors import Cursor, CursorError, CursorField, ReadState
from syncd.connectors.cursor import SEEN_LIMIT, SeenKeys
from tests.test_connector_kit import Table, connect, only, read

# ids next to each other, ids not canonical (held as they are), and keys that are not ids
KEYS = st.one_of(
    st.integers(0, 40).map(str),
    st.sampled_from(["007", "-3", "+4", "1_0", "٣", "", "a", "gid://x/7", "9" * 30]),
)
VALUES = st.one_of(st.integers(0, 5), st.sampled_from(["2024-01-01T00:00:00+00:00", "x"]))
MODEL = st.dictionaries(KEYS, VALUES, max_size=30)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, VALUES),
        st.tuples(st.just("floor"), st.integers(0, 5)),
        st.tuples(st.just("union"), MODEL),
        st.tuples(
            st.just("stored"),
        ),
    ),
    max_size=60,
)


def at_least(floor: int) -> Any:
    return lambda value: not isinstance(value, int) or value >= floor


@settings(max_examples=300, deadline=None)
@given(start=MODEL, ops=OPS)
def test_seen_keys_answer_as_a_dict_would(start: dict[str, Any], ops: list[Any]) -> None:
    model = dict(start)
    seen = SeenKeys(start)
    for op in ops:
        if op[0] == "add":
            model[op[1]] = op[2]
            seen.add(op[1], op[2])
        elif op[0] == "floor":
            model = {k: v for k, v in model.items() if at_least(op[1])(v)}
            seen.keep(at_least(op[1]))
        elif op[0] == "union":  # as Cursor.restarted and ReadState.done join two
            model = {**model, **op[1]}
            seen.update(SeenKeys(op[1]))
        else:
            seen = SeenKeys.load(json.loads(json.dumps(seen.dump())))
        for key in [*model, "0", "41", "007", "a", "b"]:
            assert seen.get(key) == model.get(key)
            assert (key in seen) == (key in model)
    assert dict(seen) == model and len(seen) == len(model)
    assert seen == SeenKeys(model)  # runs kept merged: one shape for the same keys
    assert seen.entries <= len(model)


def test_twenty_thousand_tied_ids_are_one_run_in_a_small_cursor() -> None:
    spec, at = CursorField(), "2024-03-01T12:00:00+00:00"
    state = ReadState.begin(spec, Cursor())
    for i in [*range(1, 20_001), 20_005, 20_006]:
        state.saw(str(i), at)
    state.saw("a-b-c", at)
    page = state.during({"url": "next"}).dump()
    done = state.done().dump()
    assert len(page) < 300 and len(done) < 200  # a dict of the keys: ~600 KB
    assert json.loads(done)["seen"] == [[at, [1, 20_000], [20_005, 20_006], "a-b-c"]]
    assert state.high_seen.entries == 3 and len(state.high_seen) == 20_003
    # the next read drops exactly those records, still at that value
    again = ReadState.begin(spec, Cursor.load(done))
    assert not again.is_new("20000", at) and not again.is_new("a-b-c", at)
    assert again.is_new("20001", at) and again.is_new("7", "2024-03-01T12:00:01+00:00")


def test_a_run_of_ties_counts_once_against_the_seen_limit() -> None:
    spec = CursorField(lookback=60)
    state = ReadState.begin(spec, Cursor())
    for i in range(1, SEEN_LIMIT * 2):
        state.saw(str(i), "2024-03-01T12:00:00+00:00")
    state.saw("x", "2024-03-01T12:00:30+00:00")  # in the lookback: kept, not past the limit
    assert state.high_seen.get(str(SEEN_LIMIT * 2 - 1)) == "2024-03-01T12:00:00+00:00"
    assert state.high_seen.entries == 2


def test_every_page_of_a_read_of_tied_records_stores_a_small_cursor() -> None:
    table = Table(300, same_time=10**9)  # every row at one time, as a bulk import
    stream = only(connect(table))  # 3 rows a page
    pages = list(stream.read(None))
    assert sum(len(p.records) for p in pages) == 300
    assert len(pages) > 99 and max(len(p.cursor or "") for p in pages) < 300  # a dict: 10 KB
    ids, _ = read(stream, pages[-1].cursor)
    assert ids == []  # all 300 read again at the bound, all dropped as seen


def test_a_read_from_a_version_1_cursor_drops_what_it_saw() -> None:
    table = Table(5, same_time=10**9)
    at = table.rows["1"]["updated"].replace("Z", "+00:00")
    v1 = {"v": 1, "bound": at, "seen": {str(i): at for i in range(1, 5)}}
    stored = Cursor.load(json.dumps(v1))
    assert stored.seen == {str(i): at for i in range(1, 5)} and stored.bound == at
    ids, cursor = read(only(connect(table)), json.dumps(v1))
    assert ids == ["5"]  # a re-pull would be all five
    again = json.loads(cursor or "")
    assert again["v"] == 2 and again["seen"] == [[at, [1, 5]]]
    mid = {"v": 1, "bound": None, "resume": {"url": "x"}, "high_seen": {"a": 3}, "high": 3}
    assert Cursor.load(json.dumps(mid)).high_seen.get("a") == 3


@pytest.mark.parametrize(
    "stored",
    [
        '{"v": 3, "bound": 1}',
        '{"v": 2, "bound": 1, "seen": {"1": 1}}',  # the dict of version 1 under version 2
        '{"v": 2, "bound": 1, "seen": [[1, [5, 2]]]}',
        '{"v": 2, "bound": 1, "seen": [[1, ["a", 2]]]}',
        '{"v": 2, "bound": 1, "seen": [[1, -4]]}',
        '{"v": 2, "bound": 1, "seen": [[[1], "a"]]}',
        '{"v": 2, "bound": 1, "seen": [[]]}',
        '{"v": 1, "bound": 1, "seen": {"a": [1]}}',
        '{"v": 1, "bound": 1, "seen": [1]}',
    ],
)
def test_a_cursor_in_no_known_shape_is_one_clear_error(stored: str) -> None:
    with pytest.raises(CursorError, match="not in this syncd's shape") as caught:
        Cursor.load(stored)
    assert "\n" not in str(caught.value)


def eager_read(rows: list[tuple[str, int]], lookback: int, limit: int) -> dict[str, int]:
    """What a read holds as seen, dropping what fell behind the floor at each move of the
    newest value (as syncd did before it dropped them only when room is wanted)."""
    high: int | None = None
    seen: dict[str, int] = {}
    for key, value in rows:
        if high is None or value > high:
            high = value
            seen = {k: v for k, v in seen.items() if v >= high - lookback}
        if value >= high - lookback and (len(seen) < limit or value == high):
            seen[key] = value
    return seen


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    # even ids: none next to another, so each is an entry of its own, as the limit counts them
    rows=st.lists(
        st.tuples(st.integers(0, 60).map(lambda n: str(2 * n)), st.integers(0, 30)), max_size=80
    ),
    lookback=st.integers(0, 6),
    limit=st.integers(1, 8),
)
def test_a_read_keeps_the_keys_near_its_newest_value_as_an_eager_drop_would(
    rows: list[tuple[str, int]], lookback: int, limit: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("syncd.connectors.cursor.SEEN_LIMIT", limit)
        state = ReadState.begin(CursorField("int", lookback=lookback), Cursor())
        for key, value in rows:
            state.saw(key, value)
        stored = state.during({"url": "next"})
    assert dict(stored.high_seen.items()) == eager_read(rows, lookback, limit)
