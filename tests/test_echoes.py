"""Echoes cost nothing downstream: after syncd pushes, the next pull reads its own writes
back (the tools bump their update times); a record equal to what the store holds changes
nothing, so no contact is marked changed for the compute. A real change at a tool still is.

Run against the demo's shop (its emulators served on loopback, its config) without
SALESmanago: a contact syncd creates there comes back with the vendor's own defaults (a
state, a score, the e-mail list), which are new facts, not an echo (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.clock import system_clock
from syncd.config import load_config
from syncd.demo import shop
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.store.schema import (
    changed_contacts,
    contact_fields,
    contacts,
    deal_contacts,
)
from syncd.sync import cycle
from syncd.sync.compute import compute_segments

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
