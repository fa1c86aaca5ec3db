"""A stream taken out of the config (here a connector's events file) keeps what it stored:
no segment loses members, nothing is planned away, one line says so; put back, it resumes
where it stopped and reads what came meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.store.schema import cursors, events
from tests.stores import opened

CONFIG = """store: {{url: "sqlite:///{db}"}}
connectors:
  shop:
    type: files
    contacts: contacts.jsonl
{events}
segments:
  buyers: {{event: order_placed}}
"""
EVENTS = "    events: events.jsonl"


def order(n: int, email: str) -> str:
    at = f"2026-10-0{n}T10:00:00Z"
    return json.dumps({"id": f"o{n}", "email": email, "type": "order_placed", "at": at})


def buyers(config: Path, capsys: pytest.CaptureFixture[str]) -> int:
    capsys.readouterr()
    assert main(["--config", str(config), "segments", "list", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["segments"]
    return next(s["size"] for s in found if s["name"] == "buyers")


def stored(db: Path) -> tuple[int, list[str]]:
    with opened(f"sqlite:///{db}") as engine, engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        return count, sorted(conn.execute(sa.select(cursors.c.stream)).scalars())


@pytest.mark.usefixtures("clean_env")  # the config's store, not one of the environment
def test_a_stream_left_out_keeps_its_data_and_resumes_when_put_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    people = ("ann@example.com", "bob@example.com")
    (tmp_path / "contacts.jsonl").write_text(
        "".join(json.dumps({"id": p, "email": p}) + "\n" for p in people)
    )
    orders = tmp_path / "events.jsonl"
    orders.write_text(order(1, people[0]) + "\n")
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=db, events=EVENTS))
    assert main(["--config", str(config), "sync"]) == 0
    assert buyers(config, capsys) == 1
    assert stored(db) == (1, ["contacts", "events"])

    # the events file left out of the config: its order stays, and so do the members
    config.write_text(CONFIG.format(db=db, events=""))
    capsys.readouterr()
    assert main(["--config", str(config), "sync"]) == 0
    said = capsys.readouterr()
    lines = [line for line in (said.out + said.err).splitlines() if "no longer read" in line]
    assert len(lines) == 1 and "shop/events" in lines[0], said
    assert buyers(config, capsys) == 1
    assert stored(db) == (1, ["contacts", "events"])  # the data and the cursor are kept
    # said once, not every cycle
    assert main(["--config", str(config), "sync"]) == 0
    said = capsys.readouterr()
    assert "no longer read" not in said.out + said.err

    # put back: it resumes where it stopped and reads the order that came meanwhile
    with orders.open("a") as f:
        f.write(order(2, people[1]) + "\n")
    config.write_text(CONFIG.format(db=db, events=EVENTS))
    assert main(["--config", str(config), "sync"]) == 0
    # one record: the new order, not the stream read again from the start
    assert "pulled 1 records" in capsys.readouterr().out
    assert buyers(config, capsys) == 2
    assert stored(db) == (2, ["contacts", "events"])
