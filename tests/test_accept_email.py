"""An e-mail changed at the vendor: quarantined as a conflict every sync until the user says
it is the same person (``syncd accept-email CONNECTOR CONTACT_ID``); then the contact keeps
its id and data and takes the new address, and the next syncs quarantine nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.cli import main
from syncd.store.schema import quarantine
from tests.stores import identity_emails, opened

CONFIG = """store: {{url: "sqlite:///{db}"}}
connectors:
  crm: {{type: files, contacts: contacts.jsonl}}
segments:
  in_oslo: {{field: city, eq: Oslo}}
"""


def people(folder: Path, *rows: tuple[str, str, str]) -> None:
    (folder / "contacts.jsonl").write_text(
        "".join(json.dumps({"id": i, "email": e, "city": c}) + "\n" for i, e, c in rows)
    )


def state(db: Path) -> tuple[list[tuple[str, str]], int]:
    with opened(f"sqlite:///{db}") as engine, engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar_one()
        return identity_emails(engine), held


@pytest.mark.usefixtures("clean_env")  # the config's store, not one of the environment
def test_an_email_changed_at_the_vendor_is_accepted_on_the_users_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=db))
    people(tmp_path, ("1", "ann@old.example", "Oslo"), ("2", "bob@example.com", "Rome"))
    assert main(["--config", str(config), "sync"]) == 0
    # the vendor changed ann's address (and she moved): a conflict, every sync, nothing lost
    people(tmp_path, ("1", "ann@new.example", "Bergen"), ("2", "bob@example.com", "Rome"))
    assert main(["--config", str(config), "sync"]) == 0
    assert state(db) == ([("1", "ann@old.example"), ("2", "bob@example.com")], 1)

    # bob's address for ann would merge two contacts: refused in one line
    people(tmp_path, ("1", "bob@example.com", "Bergen"), ("2", "bob@example.com", "Rome"))
    assert main(["--config", str(config), "sync"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "accept-email", "crm", "1"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "bob@example.com is another contact in the store" in line

    # the newest conflict is ann's new address again: accepted
    people(tmp_path, ("1", "ann@new.example", "Bergen"), ("2", "bob@example.com", "Rome"))
    assert main(["--config", str(config), "sync"]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "accept-email", "crm", "1"]) == 0
    assert "is now ann@new.example (was ann@old.example)" in capsys.readouterr().out
    assert state(db) == ([("1", "ann@new.example"), ("2", "bob@example.com")], 0)
    assert main(["--config", str(config), "sync"]) == 0
    assert state(db)[1] == 0  # the next syncs quarantine nothing
    capsys.readouterr()
    args = ["--config", str(config), "segments", "show", "in_oslo", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["sample"] == []  # her record was written: Bergen

    # nothing left to accept: one line
    assert main(["--config", str(config), "accept-email", "crm", "1"]) == 2
    assert "is quarantined for an e-mail conflict" in capsys.readouterr().err
