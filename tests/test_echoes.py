"""Echoes cost nothing downstream: after syncd pushes, the next pull reads its own writes
back (the tools bump their update times); a record equal to what the store holds changes
nothing, so no contact is marked changed for the compute. A real change at a tool still is.

Run against the demo's shop (its emulators served on loopback, its config) without
SALESmanago: a contact syncd creates there comes back with the vendor's own defaults (a
state, a score, the e-mail list), which are new facts, not an echo (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.clock import system_clock
from syncd.config import load_config
from syncd.connectors.contract import DealRecord
from syncd.demo import shop
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.store import open_store
from syncd.store.schema import (
    attributes,
    changed_contacts,
    contact_fields,
    contacts,
    deal_contacts,
    identities,
)
from syncd.store.upsert import upsert
from syncd.sync import cycle
from syncd.sync.compute import compute_segments
from syncd.sync.records import PageWriter
from syncd.sync.resolve import resolve_all_if_precedence_changed, resolve_contacts

PEOPLE = 40


@pytest.fixture
def demo(store_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, list[shop.Tool]]]:
    library = shop.library_path()
    assert library is not None
    tools = [t for t in shop.make_tools(7, PEOPLE) if t.name != "salesmanago"]
    for tool in tools:
        tool.app.set_rate_limit(0)
    with shop.serving(tools):
        text = shop.config_text(tools, library).replace("sqlite:///syncd.db", store_url)
        path = tmp_path / "syncd.yaml"
        path.write_text(text)
        rt = build_runtime(
            load_config(path, settings=Settings.model_construct()), clock=system_clock
        )
        try:
            yield rt, tools
        finally:
            rt.close()


def marked(rt: Runtime) -> set[int]:
    with rt.engine.connect() as conn:
        return set(conn.execute(sa.select(changed_contacts.c.contact_id)).scalars())


def compute(rt: Runtime) -> None:
    """A compute, as a cycle runs it: it takes every mark."""
    with rt.engine.begin() as conn:
        compute_segments(conn, rt.rules, rt.clock(), rt.scores)
    assert marked(rt) == set()


def rows(rt: Runtime) -> dict[str, Any]:
    with rt.engine.connect() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(sa.select(t)))
            for t in (contact_fields, deal_contacts)
        }


def test_a_pull_of_syncd_own_echoes_marks_no_contact_and_a_real_change_is_marked(
    demo: tuple[Runtime, list[shop.Tool]],
) -> None:
    rt, tools = demo
    first = cycle.sync(rt)
    assert sum(sum(c.values()) for c in first.pushed.values()) > 0  # tags, lists, fields
    compute(rt)  # the push's own confirmations marked their contacts: taken here
    before = rows(rt)

    echoes = cycle.pull(rt)
    # the tools' update times moved with syncd's writes: the pull read them back ...
    assert sum(c["contacts"] for c in echoes.values()) > 0, echoes
    # ... and found them as the store holds them: no contact is marked for the compute
    assert marked(rt) == set()
    assert rows(rt) == before

    # the check sees a real change: a value a tool gives a contact anew is marked
    hubspot: Any = next(t for t in tools if t.name == "hubspot").app
    person = next(iter(hubspot.portal.objects["contacts"].values()))
    email = person.properties["email"].lower()
    person.properties["city"] = "Echo Falls"
    hubspot.portal.touch("contacts", person, hubspot.clock())
    cycle.pull(rt)
    with rt.engine.connect() as conn:
        cid = conn.execute(sa.select(contacts.c.id).where(contacts.c.email == email)).scalar()
    assert marked(rt) == {cid}


# --- the writes themselves, on both stores ----------------------------------------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    engine = open_store(store_url)
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [{"id": i, "email": f"c{i}@example.com", "created_at": NOW, "updated_at": NOW}
             for i in (1, 2, 3)],
        )  # fmt: skip
    yield engine
    engine.dispose()


def taken(engine: sa.Engine) -> set[int]:
    with engine.begin() as conn:
        found = set(conn.execute(sa.select(changed_contacts.c.contact_id)).scalars())
        conn.execute(changed_contacts.delete())
    return found


def say(engine: sa.Engine, *values: tuple[int, str, str, str | None]) -> None:
    """Sources say attribute values (contact, source, name, value), then the contacts are
    resolved as a pull resolves a page's."""
    with engine.begin() as conn:
        for contact, source, name, value in values:
            upsert(conn, attributes, [{"contact_id": contact, "source": source, "name": name,
                                       "value": value, "updated_at": NOW}],
                   ["contact_id", "source", "name"], ["value", "updated_at"])  # fmt: skip
        resolve_contacts(conn, ["crm", "shop"], {c for c, *_ in values})


def fields(engine: sa.Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(
            contact_fields.c.contact_id, contact_fields.c.name, contact_fields.c.value,
            contact_fields.c.source))}  # fmt: skip


def test_resolving_contacts_whose_fields_stand_writes_and_marks_nothing(
    engine: sa.Engine,
) -> None:
    say(engine, (1, "shop", "city", "Oslo"), (2, "crm", "city", "Rome"), (2, "shop", "tier", "A"))
    assert taken(engine) == {1, 2, 3}  # new contacts and their new fields
    # the same values said again, and a weaker source agreeing: nothing moves
    say(engine, (1, "shop", "city", "Oslo"), (2, "shop", "city", "Rome"))
    assert taken(engine) == set()
    assert fields(engine) == {(1, "city", "Oslo", "shop"), (2, "city", "Rome", "crm"),
                              (2, "tier", "A", "shop")}  # fmt: skip
    # a real change is marked: a stronger source's new value, a value withdrawn
    say(engine, (1, "crm", "city", "Bergen"), (2, "shop", "tier", None))
    assert taken(engine) == {1, 2}
    assert fields(engine) == {(1, "city", "Bergen", "crm"), (2, "city", "Rome", "crm")}
    # every contact resolved again (a changed precedence) leaves standing fields unmarked
    with engine.begin() as conn:
        resolve_all_if_precedence_changed(conn, ["crm", "shop"])
    assert taken(engine) == set()


def test_a_deal_read_back_with_its_contacts_marks_none_and_a_new_association_marks_one(
    engine: sa.Engine,
) -> None:
    deal = DealRecord("d1", "Big", "negotiation", "open", contact_external_ids=["a", "b"])

    def write(record: DealRecord) -> None:
        with engine.begin() as conn:
            PageWriter(conn, "crm", "deals", None, NOW).write([record])

    with engine.begin() as conn:
        conn.execute(identities.insert(), [
            {"connector": "crm", "external_id": x, "contact_id": c, "updated_at": NOW}
            for x, c in (("a", 1), ("b", 2), ("c", 3))])  # fmt: skip
    taken(engine)  # the contacts themselves are new
    write(deal)
    assert taken(engine) == {1, 2}
    write(deal)
    assert taken(engine) == set()
    write(DealRecord("d1", "Big", "negotiation", "open", contact_external_ids=["b", "c"]))
    assert taken(engine) == {1, 3}
