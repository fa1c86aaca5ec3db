"""Hypothesis strategies: small datasets and rules of every form, written as YAML would be.

Values are drawn from small pools that collide often (a rule's operand is often a value some
contact holds) and times from a fixed set around ``NOW`` that sits on the windows' edges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tests.segment_data import NOW, Contact, Dataset, Deal, Event, field_value, split_tag

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
_OFFSETS = (
    timedelta(0), -SECOND, -DAY, -7 * DAY, -29 * DAY, -30 * DAY, -30 * DAY - SECOND,
    -30 * DAY + SECOND, -31 * DAY, -60 * DAY, -61 * DAY, -90 * DAY, -91 * DAY, -180 * DAY,
    -365 * DAY, -400 * DAY, SECOND, DAY, 7 * DAY, 30 * DAY, 31 * DAY,
)  # fmt: skip
MIDNIGHTS = (datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
TIMES = tuple(NOW + o for o in _OFFSETS) + MIDNIGHTS + (MIDNIGHTS[1] - SECOND,)
DURATIONS = ("1d", "7d", "30d", "60d", "90d", "180d", "365d", "24h", "2w")
# before/after operands: dates (midnight UTC) and exact times
CUTOFFS: tuple[Any, ...] = (date(2026, 1, 31), date(2026, 2, 1), NOW, NOW - 30 * DAY)

# --- data -------------------------------------------------------------------------------

FIELD_NAMES = ("stage", "age", "pickup", "note", "born")
FIELD_TEXTS = (
    "lead", "Lead", "lead ", "customer", "ab", "a%b", "a_b", "aXb", "Zebra", "apple", "Łódź",
    "30", "30.0", "7", "-2.5", "100", "true", "false", "anna@example.com",
    "2026-01-31", "2026-03-01T12:00:00Z",
    *(t.isoformat() for t in TIMES[::3]),
    # dates that recur near the clocks a dataset is drawn at (29 February, a new year, 18th)
    "1990-03-01", "1990-03-08", "1990-03-09", "2000-02-29", "1990-02-28", "1990-02-22",
    "2008-03-01", "2008-03-02", "2008-02-29", "2010-02-28", "2025-03-05", "2026-03-05",
    "1990-12-31", "1991-01-02", "2027-01-02", "2010-12-30",
)  # fmt: skip
# the clock of a dataset: mostly NOW (the windows of TIMES); a leap February, a new year
CLOCKS = (NOW,) * 8 + (
    datetime(2028, 2, 28, 12, tzinfo=UTC),
    datetime(2026, 12, 30, 23, tzinfo=UTC),
)
TAG_SOURCES = ("sm", "ac")
TAGS = (
    "CHROME", "chrome", "KOSIARKA_AKUMULATOROWA", "KOSIARKA_SPALINOWA", "KOSIARKAXAKUMULATOROWA",
    "CENNIK", "CENNIK (1)", "CENNIK (3)", "CENNIK (4)", "CENNIK (0)", "CENNIKI (2)", "VIP",
    "V%P", "A B", "newsletter",
)  # fmt: skip
LISTS = ("Newsletter", "Promo", "VIP list")
LIST_SOURCES = ("ac", "sm")
EVENT_TYPES = (
    "email_clicked", "page_visited", "form_submitted", "order_placed", "email_bounced_soft",
    "email_bounced_hard", "checkout_abandoned",
)  # fmt: skip
EVENT_VALUES = (None, 0.0, 10.0, 25.5, 100.0, 250.0, 500.0)
URLS = ("/pricing", "/pricing/plans", "/service", "/Service", "/blog", "/50%_off", "x/pricing")
PROPERTY_VALUES: dict[str, tuple[Any, ...]] = {
    "url": URLS,
    "form": ("service-brochure", "newsletter", "Newsletter"),
    "n": (0, 1, 5, 10, 10.5, -3, "10", "5", True, False),
    "flag": (True, False, 1, 0, "true"),
}
DEAL_VALUES: dict[str, tuple[Any, ...]] = {
    "stage": ("negotiation", "proposal", "Negotiation", None),
    "status": ("open", "won", "lost", None),
    "pipeline": ("default", "enterprise", None),
    "owner": ("anna@example.com", "bob@example.com", None),
    "amount": (None, 0.0, 500.0, 1000.0, 1500.5),
}


# line items (docs/events.md): values of the documented types, and some of another type
# (stored as missing); prices sum exactly in binary floating point
ITEM_VALUES: dict[str, tuple[Any, ...]] = {
    "product": ("Trail shoe", "Road shoe", "Sock", None),
    "variant": ("42", "S"),
    "sku": ("TS-42", "RS-40", "SOCK", "12345", 12345),
    "category": ("Running", "Shoes", "running", "Socks"),
    "vendor": ("Acme", "Zeta"),
    "quantity": (1, 2, 3, 1.0, 1.5, "2", True),
    "price": (0, 5, 12.5, 89.5, 100, 0.25, "12.00"),
}


@st.composite
def line_items(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(("none", None, ["not a line"])))
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        keys = draw(st.sets(st.sampled_from(sorted(ITEM_VALUES)), max_size=4))
        lines.append({k: draw(st.sampled_from(ITEM_VALUES[k])) for k in sorted(keys)})
    return lines


@st.composite
def properties(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None if draw(st.booleans()) else {}
    names = draw(st.sets(st.sampled_from(sorted(PROPERTY_VALUES)), max_size=3))
    out = {name: draw(st.sampled_from(PROPERTY_VALUES[name])) for name in sorted(names)}
    if not names or draw(st.booleans()):
        out["items"] = draw(line_items())
    return out


@st.composite
def datasets(draw: st.DrawFn, max_contacts: int = 12, max_events: int = 40) -> Dataset:
    n = draw(st.integers(0, max_contacts) if draw(st.integers(0, 9)) == 0 else
             st.integers(max_contacts // 2, max_contacts))  # fmt: skip
    data = Dataset(now=draw(st.sampled_from(CLOCKS)))
    for i in range(1, n + 1):
        contact = Contact(i, f"c{i}@example.com")
        names = draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=3, unique=True))
        contact.fields = {name: field_value(draw(st.sampled_from(FIELD_TEXTS))) for name in names}
        contact.tags = draw(
            st.sets(
                st.tuples(st.sampled_from(TAG_SOURCES), st.sampled_from(TAGS)),
                min_size=draw(st.integers(0, 2)),
                max_size=4,
            )
        )
        contact.lists = draw(
            st.dictionaries(
                st.tuples(st.sampled_from(LIST_SOURCES), st.sampled_from(LISTS)),
                st.sampled_from(("subscribed", "unsubscribed")),
                max_size=3,
            )
        )
        # since when each is held: a past time around the windows' edges (none given: now)
        past = st.sampled_from([t for t in TIMES if t <= NOW])
        for link in sorted(contact.tags):
            if draw(st.booleans()):
                contact.tag_since[link] = draw(past)
        for link in sorted(contact.lists):
            if draw(st.booleans()):
                contact.list_since[link] = draw(past)
        data.contacts.append(contact)
    if not n:
        return data
    ids = st.integers(1, n)
    data.events = draw(
        st.lists(
            st.builds(
                Event,
                contact_id=ids,
                type=st.sampled_from(EVENT_TYPES),
                at=st.sampled_from(TIMES),
                value=st.sampled_from(EVENT_VALUES),
                properties=properties(),
            ),
            min_size=min(n, max_events),
            max_size=max_events,
        )
    )
    for d in range(draw(st.integers(0, 4))):
        values = {k: draw(st.sampled_from(v)) for k, v in DEAL_VALUES.items()}
        for key in ("created_at", "closed_at"):
            values[key] = draw(st.sampled_from((None, *TIMES)))
        members = draw(st.frozensets(ids, max_size=3))
        data.deals.append(Deal(f"d{d}", members, **values))
    return data


# --- rules ------------------------------------------------------------------------------

TEXT_OPERANDS = ("lead", "Lead", "a%b", "a_b", "ab", "Zebra", "apple", "Łódź", "30", "true", "b")
NUMBER_OPERANDS = (0, 7, 30, 30.5, -2.5, 100)
SUBSTRINGS = ("a", "L", "ead", "%", "_", "30", "2026", "Łó", "a%", "b", "T12")
FIELD_OPERANDS = st.one_of(
    st.sampled_from(TEXT_OPERANDS),
    st.sampled_from(NUMBER_OPERANDS),
    st.booleans(),
    st.sampled_from((*TIMES, date(2026, 1, 31))),
)
ORDERED_OPERANDS = st.one_of(
    st.sampled_from(TEXT_OPERANDS), st.sampled_from(NUMBER_OPERANDS), st.sampled_from(TIMES)
)


def value_test(operands: st.SearchStrategy[Any], ordered: st.SearchStrategy[Any]) -> Any:
    """One value test or time test of a field, as a one-key mapping."""
    return st.one_of(
        st.tuples(st.sampled_from(("eq", "ne")), operands),
        st.tuples(st.sampled_from(("in", "not_in")), st.lists(operands, min_size=1, max_size=3)),
        st.tuples(st.sampled_from(("gt", "gte", "lt", "lte")), ordered),
        st.tuples(st.sampled_from(("contains", "starts_with")), st.sampled_from(SUBSTRINGS)),
        st.tuples(st.just("exists"), st.booleans()),
        st.tuples(st.sampled_from(("within", "older_than", "within_next")),
                  st.sampled_from(DURATIONS)),
        st.tuples(st.sampled_from(("before", "after")), st.sampled_from(CUTOFFS)),
    )  # fmt: skip


@cache
def field_rules() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda name, test: {"field": name, test[0]: test[1]},
        st.sampled_from(FIELD_NAMES),
        value_test(FIELD_OPERANDS, ORDERED_OPERANDS),
    )


@cache
def count_tests() -> st.SearchStrategy[Any]:
    ops = st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte"))
    return st.one_of(
        st.integers(0, 4), st.dictionaries(ops, st.integers(0, 4), min_size=1, max_size=2)
    )


@cache
def number_tests(values: tuple[float, ...], bare: bool = True) -> st.SearchStrategy[Any]:
    ops = st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte"))
    tests = st.dictionaries(ops, st.sampled_from(values), min_size=1, max_size=2)
    return st.one_of(st.sampled_from(values), tests) if bare else tests


@cache
def time_tests() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda op, d: {op: d}, st.sampled_from(("within", "older_than")),
                  st.sampled_from(DURATIONS)),
        st.builds(lambda op, d: {op: d}, st.sampled_from(("before", "after")),
                  st.sampled_from(CUTOFFS)),
    )  # fmt: skip


def optional(
    draw: st.DrawFn, body: dict[str, Any], key: str, value: st.SearchStrategy[Any]
) -> None:
    """Set ``body[key]`` to a drawn value, or leave it out."""
    if draw(st.booleans()):
        body[key] = draw(value)


@st.composite
def tag_rules(draw: st.DrawFn) -> dict[str, Any]:
    patterns = (
        "CHROME", "chrome", "KOSIARKA_*", "KOSIARKA?AKUMULATOROWA", "KOSIARKA_", "CENNIK",
        "CENNIK (3)", "CENNIK*", "CENNIK (?)", "*", "V_P", "V%P", "?IP", "A B", "NOPE",
    )  # fmt: skip
    rule: dict[str, Any] = {"tag": draw(st.sampled_from(patterns))}
    optional(draw, rule, "source", st.sampled_from(TAG_SOURCES))
    optional(draw, rule, "count", count_tests())
    optional(draw, rule, "since", since_tests())
    return rule


@cache
def since_tests() -> st.SearchStrategy[Any]:
    """``since:`` of a tag or list: a duration, a date, or one time test."""
    return st.one_of(
        st.sampled_from(DURATIONS),
        st.sampled_from(CUTOFFS[:2]),
        st.builds(lambda op, d: {op: d}, st.sampled_from(("within", "older_than")),
                  st.sampled_from(DURATIONS)),
        st.builds(lambda op, d: {op: d}, st.sampled_from(("before", "after")),
                  st.sampled_from(CUTOFFS)),
    )  # fmt: skip


@st.composite
def list_rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"list": draw(st.sampled_from(LISTS))}
    optional(draw, rule, "status", st.sampled_from(("subscribed", "unsubscribed", "any")))
    optional(draw, rule, "source", st.sampled_from(LIST_SOURCES))
    optional(draw, rule, "since", since_tests())
    return rule


@cache
def _property_test(name: str) -> st.SearchStrategy[Any]:
    pool = PROPERTY_VALUES[name]
    plain = st.sampled_from(pool)
    texts = [v for v in pool if isinstance(v, str)] or ["x"]
    numbers = [v for v in pool if isinstance(v, int | float) and not isinstance(v, bool)] or [1]
    ordered = st.sampled_from(texts + numbers)
    return st.one_of(
        plain,
        st.builds(lambda op, v: {op: v}, st.sampled_from(("eq", "ne")), plain),
        st.builds(lambda op, v: {op: v}, st.sampled_from(("in", "not_in")),
                  st.lists(plain, min_size=1, max_size=3)),
        st.builds(lambda op, v: {op: v}, st.sampled_from(("gt", "gte", "lt", "lte")), ordered),
        st.builds(lambda op, v: {op: v}, st.sampled_from(("contains", "starts_with")),
                  st.sampled_from(("/pricing", "pricing", "/S", "%", "_", "service", "1"))),
        st.builds(lambda v: {"exists": v}, st.booleans()),
    )  # fmt: skip


@st.composite
def _where(
    draw: st.DrawFn, values: Mapping[str, Any], test: Callable[[str], st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """A ``where:`` of one or two of the names ``values`` holds, each with a ``test`` of it."""
    names = draw(st.sets(st.sampled_from(sorted(values)), min_size=1, max_size=2))
    return {name: draw(test(name)) for name in sorted(names)}


def wheres() -> st.SearchStrategy[dict[str, Any]]:
    return _where(PROPERTY_VALUES, _property_test)


@st.composite
def event_rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"event": draw(st.sampled_from((*EVENT_TYPES, "any")))}
    optional(draw, rule, "where", wheres())
    optional(draw, rule, "within", st.sampled_from(DURATIONS))
    for key, value in (("count", count_tests()), ("first", time_tests()),
                       ("last", time_tests())):  # fmt: skip
        if draw(st.integers(0, 2)) == 0:
            rule[key] = draw(value)
    return rule


@st.composite
def purchases_rules(draw: st.DrawFn) -> dict[str, Any]:
    amounts = (0, 10, 25.5, 100, 250, 500)
    tests = {
        "count": count_tests(),
        "total": number_tests(amounts),
        "average": number_tests(amounts),
        "first": time_tests(),
        "last": time_tests(),
    }
    keys = draw(st.sets(st.sampled_from(sorted(tests)), min_size=1, max_size=3))
    body = {key: draw(tests[key]) for key in sorted(keys)}
    optional(draw, body, "within", st.sampled_from(DURATIONS))
    optional(draw, body, "where", item_wheres())
    return {"purchases": body}


@cache
def _item_test(key: str) -> st.SearchStrategy[Any]:
    if key in ("quantity", "price"):
        pool: tuple[Any, ...] = (0, 1, 2, 5, 12.5, 89.5, 100)
        texts: tuple[Any, ...] = ()
    else:
        pool = (*(v for v in ITEM_VALUES[key] if v is not None), "Run")
        texts = ("Run", "S", "-", "4", "12")
    plain = st.sampled_from(pool)
    tests = [
        plain,
        st.builds(lambda op, v: {op: v}, st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte")),
                  plain),
        st.builds(lambda op, v: {op: v}, st.sampled_from(("in", "not_in")),
                  st.lists(plain, min_size=1, max_size=3)),
        st.builds(lambda v: {"exists": v}, st.booleans()),
    ]  # fmt: skip
    if texts:
        tests.append(
            st.builds(lambda op, v: {op: v}, st.sampled_from(("contains", "starts_with")),
                      st.sampled_from(texts))
        )  # fmt: skip
    return st.one_of(tests)


def item_wheres() -> st.SearchStrategy[dict[str, Any]]:
    return _where(ITEM_VALUES, _item_test)


@st.composite
def spent_rules(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = dict(draw(number_tests((0, 5, 12.5, 100, 178, 200), bare=False)))
    optional(draw, body, "where", item_wheres())
    optional(draw, body, "within", st.sampled_from(DURATIONS))
    return {"spent": body}


@st.composite
def bought_rules(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = draw(item_wheres())
    optional(draw, body, "within", st.sampled_from(DURATIONS))
    return {"bought": body}


@st.composite
def date_rules(draw: st.DrawFn) -> dict[str, Any]:
    window = {draw(st.sampled_from(("within_next", "within"))): draw(st.sampled_from(DURATIONS))}
    of = st.sampled_from(("born", "pickup"))
    kind = draw(st.sampled_from(("anniversary", "birthday", "age")))
    if kind == "anniversary":
        return {"anniversary": draw(st.sampled_from(("born", "pickup", "first_order"))),
                **window}  # fmt: skip
    if kind == "birthday":
        body = dict(window)
        optional(draw, body, "of", of)
        return {"birthday": body}
    body = dict(draw(number_tests((0, 16, 17, 18, 19, 35, 36), bare=False)))
    optional(draw, body, "of", of)
    return {"age": body}


@st.composite
def deal_rules(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(
        st.sets(
            st.sampled_from(sorted({*DEAL_VALUES, "created", "closed"})), min_size=1, max_size=3
        )
    )
    body: dict[str, Any] = {}
    for key in sorted(keys):
        if key == "amount":
            body[key] = draw(number_tests((0, 500, 1000, 1500.5), bare=False))
            continue
        if key in ("created", "closed"):
            op = draw(st.sampled_from(("within", "older_than", "within_next", "before", "after")))
            pool = CUTOFFS if op in ("before", "after") else DURATIONS
            body[key] = {op: draw(st.sampled_from(pool))}
            continue
        pool = [v for v in DEAL_VALUES[key] if v is not None]
        single = st.sampled_from(pool)
        body[key] = draw(st.one_of(single, st.lists(single, min_size=1, max_size=2)))
    return {"deal": body}


SHARES = ("10%", "25%", "30%", "33.33%", "50%", "70%", "100%")


@cache
def shares() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(1, 4), st.sampled_from(SHARES))


@st.composite
def score_models(draw: st.DrawFn) -> dict[str, Any]:
    models = {}
    for name in draw(st.sampled_from((("s1",), ("s1", "s2")))):
        points = []
        for i in range(draw(st.integers(1, 4))):
            # a model of `any` entries alone fails today (tests/test_segments_cases.py)
            kinds = (*EVENT_TYPES, "any") if i else EVENT_TYPES
            entry: dict[str, Any] = {
                "event": draw(st.sampled_from(kinds)),
                "points": draw(st.sampled_from((5, 10, 20, -50, 1.5, -3))),
            }
            optional(draw, entry, "where", wheres())
            points.append(entry)
        body: dict[str, Any] = {"points": points}
        optional(draw, body, "half_life", st.sampled_from(("7d", "13d", "30d")))
        models[name] = body
    return models


@st.composite
def score_rules(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, Any]:
    rule: dict[str, Any] = {"score": draw(st.sampled_from(names))}
    values = (-50, -10, -3, 0, 1.5, 2.5, 5, 10, 20, 25)
    while len(rule) == 1:
        optional(draw, rule, "exists", st.booleans())
        if draw(st.booleans()):
            tests = draw(number_tests(values, bare=False))
            rule.update(tests)
        optional(draw, rule, "top", shares())
        if draw(st.booleans()):
            change: dict[str, Any] = {"over": draw(st.sampled_from(("30d", "60d", "7d")))}
            if draw(st.booleans()):
                change.update(draw(number_tests(values, bare=False)))
            if len(change) == 1 or draw(st.booleans()):
                change["top"] = draw(shares())
            rule["change"] = change
    return rule


@st.composite
def rfm_rules(draw: st.DrawFn) -> dict[str, Any]:
    from syncd.segments.rules import RFM_CLASSES

    body: dict[str, Any] = {}
    while not body:
        if draw(st.booleans()):
            one = st.sampled_from(RFM_CLASSES)
            body["class"] = draw(st.one_of(one, st.lists(one, min_size=1, max_size=3)))
        for metric in ("r", "f", "m"):
            if draw(st.integers(0, 2)) == 0:
                body[metric] = draw(number_tests((1, 2, 3, 4, 5), bare=False))
    return {"rfm": body}


# The `sql:` rules the generator draws, each with what it selects, in Python. DISTINCT: a
# SELECT that returns a contact twice fails today (tests/test_segments_cases.py).
SQL_RULES: dict[str, Callable[[Dataset], Iterable[int]]] = {
    "SELECT DISTINCT contact_id FROM syncd_events WHERE type = 'order_placed' AND value > 100": (
        lambda d: {
            e.contact_id for e in d.events if e.type == "order_placed" and (e.value or 0) > 100
        }
    ),
    "SELECT DISTINCT contact_id FROM syncd_events"
    " WHERE type = 'email_clicked' AND occurred_at <= :now": (
        lambda d: {e.contact_id for e in d.events if e.type == "email_clicked" and e.at <= d.now}
    ),
    "SELECT DISTINCT contact_id FROM syncd_tags WHERE name = 'CENNIK' AND count >= 3": lambda d: {
        c.id
        for c in d.contacts
        for _, tag in c.tags
        if split_tag(tag)[0] == "CENNIK" and (split_tag(tag)[1] or 0) >= 3
    },
    "SELECT contact_id FROM syncd_fields WHERE name = 'stage' AND value = 'lead'": lambda d: {
        c.id for c in d.contacts if "stage" in c.fields and c.fields["stage"].text == "lead"
    },
    "SELECT DISTINCT contact_id FROM syncd_deals WHERE status = 'won'": lambda d: {
        cid for deal in d.deals if deal.status == "won" for cid in deal.contact_ids
    },
    "SELECT DISTINCT contact_id FROM syncd_lists WHERE status = 'unsubscribed'": lambda d: {
        c.id for c in d.contacts if "unsubscribed" in c.lists.values()
    },
    # portable: the times and values come as parameters syncd binds (SQL_PARAMS)
    "SELECT contact_id FROM syncd_items WHERE type = 'order_placed' AND category = :category"
    " AND occurred_at >= :since AND occurred_at <= :now": lambda d: {
        e.contact_id
        for e in d.events
        if e.type == "order_placed"
        and d.now - 30 * DAY <= e.at <= d.now
        and any(line.get("category") == "Running" for line in _lines(e))
    },
    "SELECT contact_id FROM syncd_events WHERE value >= :least AND occurred_at < :today": (
        lambda d: {
            e.contact_id
            for e in d.events
            if e.value is not None
            and e.value >= 100
            and e.at < d.now.replace(hour=0, minute=0, second=0, microsecond=0)
        }
    ),
    "SELECT contact_id FROM syncd_fields WHERE ts >= :cutoff AND ts < :soon": lambda d: {
        c.id
        for c in d.contacts
        for v in c.fields.values()
        if v.ts is not None and datetime(2026, 2, 1, tzinfo=UTC) <= v.ts < d.now + 7 * DAY
    },
}
SQL_PARAMS: dict[str, dict[str, Any]] = {
    next(k for k in SQL_RULES if ":category" in k): {
        "category": "Running",
        "since": {"ago": "30d"},
    },
    next(k for k in SQL_RULES if ":least" in k): {"least": 100},
    next(k for k in SQL_RULES if ":cutoff" in k): {
        "cutoff": date(2026, 2, 1),
        "soon": {"ahead": "7d"},
    },
}


def _lines(event: Event) -> list[dict[str, Any]]:
    found = (event.properties or {}).get("items")
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


def sql_rule(sql: str) -> dict[str, Any]:
    return {"sql": sql, "params": SQL_PARAMS[sql]} if sql in SQL_PARAMS else {"sql": sql}


@cache
def leaf_rules(names: tuple[str, ...], refs: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """A rule of one form (no all/any/not): every form but the combinators."""
    forms = [
        field_rules(),
        tag_rules(),
        list_rules(),
        event_rules(),
        purchases_rules(),
        spent_rules(),
        bought_rules(),
        date_rules(),
        deal_rules(),
        score_rules(names),
        rfm_rules(),
        st.builds(sql_rule, st.sampled_from(sorted(SQL_RULES))),
    ]
    if refs:
        forms.append(st.builds(lambda name: {"segment": name}, st.sampled_from(refs)))
    return st.one_of(forms)


@cache
def rules(names: tuple[str, ...], refs: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Any rule, with all/any/not nested up to a few levels."""
    return st.recursive(
        leaf_rules(names, refs),
        lambda inner: st.one_of(
            st.builds(lambda rs: {"all": rs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda rs: {"any": rs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda r: {"not": r}, inner),
        ),
        max_leaves=6,
    )


@st.composite
def configs(
    draw: st.DrawFn, size: int = 8, nested: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(segments, scores) as YAML mappings; a segment may refer to the ones before it."""
    scores = draw(score_models())
    names = tuple(scores)
    segments: dict[str, Any] = {}
    for i in range(draw(st.integers(1, size))):
        refs = tuple(segments)
        strategy = rules(names, refs) if nested else leaf_rules(names, refs)
        segments[f"seg{i}"] = draw(strategy)
    return segments, scores
