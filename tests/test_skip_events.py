"""``skip_events:`` on a connector instance: a tool's copies of another tool's events (an
e-mail tool's copy of the shop's orders) are not counted twice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.store import open_store
from syncd.store.schema import events

CONFIG = """store: {{url: "sqlite:///{db}"}}
connectors:
  shop: {{type: files, events: shop.jsonl}}
  esp:
    type: files
    events: esp.jsonl
{skip}
segments:
  repeat_buyers: {{event: order_placed, count: {{gte: 2}}}}
  clicked: {{event: email_clicked}}
"""


def order(source: str, n: int, email: str = "a@example.com", kind: str = "order_placed") -> str:
    at = f"2026-10-0{n}T10:00:00Z"
    return json.dumps({"id": f"{source}-{n}", "email": email, "type": kind, "at": at, "value": 10})


def shop_and_esp(folder: Path, *esp: str) -> tuple[Path, Path]:
    """The shop's one order and the e-mail tool's ``esp`` lines in ``folder``, a config
    reading both (skipping nothing) into a store there: the config and the store's file."""
    db = folder / "s.db"
    (folder / "shop.jsonl").write_text(order("shop", 1) + "\n")
    (folder / "esp.jsonl").write_text("".join(line + "\n" for line in esp))
    config = folder / "syncd.yaml"
    config.write_text(CONFIG.format(db=db, skip=""))
    return config, db


def sizes(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(["--config", str(config), "segments", "list", "--json"]) == 0
    return {s["name"]: s["size"] for s in json.loads(capsys.readouterr().out)["segments"]}


def test_skipped_event_types_are_neither_stored_nor_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    # the e-mail tool's copy of the order, and a click
    config, db = shop_and_esp(tmp_path, order("esp", 1), order("esp", 2, kind="email_clicked"))
    esp = tmp_path / "esp.jsonl"
    assert main(["--config", str(config), "sync"]) == 0
    assert sizes(config, capsys) == {"repeat_buyers": 1, "clicked": 1}  # one order, twice

    config.write_text(CONFIG.format(db=db, skip="    skip_events: [order_placed]"))
    with esp.open("a") as f:
        f.write(order("esp", 3) + "\n")  # another copy arrives after the change
    assert main(["--config", str(config), "sync"]) == 0
    assert sizes(config, capsys) == {"repeat_buyers": 0, "clicked": 1}
    engine = open_store(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(events.c.source, events.c.type).order_by("source")).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [("esp", "email_clicked"), ("shop", "order_placed")]


def test_an_unknown_skipped_event_type_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "s.db", skip="    skip_events: [order_placd]"))
    assert main(["--config", str(config), "check"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(
        r".*syncd\.yaml:7: connectors\.esp\.skip_events\[0\]: unknown event type 'order_placd'; "
        r"did you mean 'order_placed'\?",
        line,
    )


def test_removing_skip_events_reads_the_dropped_events_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    config, db = shop_and_esp(tmp_path, order("esp", 1), order("esp", 2))
    assert main(["--config", str(config), "sync"]) == 0
    assert sizes(config, capsys)["repeat_buyers"] == 1  # three orders, one of them the shop's
    config.write_text(CONFIG.format(db=db, skip="    skip_events: [order_placed]"))
    assert main(["--config", str(config), "sync"]) == 0
    assert sizes(config, capsys)["repeat_buyers"] == 0  # the esp's copies were dropped
    # the slip undone: the next pull reads the esp's orders again, nothing is waiting on a guard
    config.write_text(CONFIG.format(db=db, skip=""))
    assert main(["--config", str(config), "sync"]) == 0
    assert sizes(config, capsys)["repeat_buyers"] == 1
    engine = open_store(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).where(events.c.source == "esp")).scalar()
    engine.dispose()
    assert stored == 2
