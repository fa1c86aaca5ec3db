"""The files connector: JSONL and CSV sources read incrementally, and a JSON-state destination."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from syncd.connectors import (
    Change,
    ChangeKind,
    ConnectorContext,
    ContactRecord,
    EventRecord,
    InvalidRecord,
    Outcome,
    Page,
    Record,
    Stream,
)
from syncd_plugins.files.connector import FilesConnector, FilesOptions


def connector(tmp_path: Path, **options: Any) -> FilesConnector:
    return FilesConnector(FilesOptions(**options), ConnectorContext("files", base_dir=tmp_path))


def stream(c: FilesConnector, name: str) -> Stream:
    return next(s for s in c.streams() if s.name == name)


def read(s: Stream, cursor: str | None = None) -> tuple[list[Record], str | None, int]:
    """All records after ``cursor``, the last cursor (or the given one), and the page count."""
    pages: list[Page] = list(s.read(cursor))
    records = [r for p in pages for r in p.records]
    return records, (pages[-1].cursor if pages else cursor), len(pages)


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def contacts_file(tmp_path: Path, file: str, text: str) -> tuple[Path, Stream]:
    """``file`` in ``tmp_path``, holding ``text``, and the contacts stream that reads it."""
    path = tmp_path / file
    path.write_text(text)
    return path, stream(connector(tmp_path, contacts=file), "contacts")


def contact_ids(records: list[Record]) -> list[str]:
    return [r.external_id for r in records if isinstance(r, ContactRecord)]


def records_in(tmp_path: Path, file: str, text: str) -> list[Record]:
    """What a full read makes of ``file`` holding ``text``: the events stream for a file
    named ``events*``, the contacts stream for any other."""
    (tmp_path / file).write_text(text)
    kind = "events" if file.startswith("events") else "contacts"
    return read(stream(connector(tmp_path, **{kind: file}), kind))[0]


# --- sources ---------------------------------------------------------------------------


def test_jsonl_contacts_become_contact_records(tmp_path: Path) -> None:
    ada = {
        "id": "s1",
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "tags": ["VIP", "Beta"],
        "lists": {"Newsletter": "subscribed"},
        "consent": "granted",
        "fields": {"plan": "gold"},
        "updated_at": "2026-11-01T10:00:00Z",
    }
    records = records_in(tmp_path, "contacts.jsonl", jsonl(ada, {"email": "bob@example.com"}))
    assert records == [
        ContactRecord(
            external_id="s1",
            email="Ada@Example.com",
            attributes={"first_name": "Ada", "plan": "gold"},
            tags=["VIP", "Beta"],
            lists={"Newsletter": "subscribed"},
            consent="granted",
            updated_at=datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
        ),
        # without an id, the e-mail is the id; without tags or lists, they are left alone
        ContactRecord(external_id="bob@example.com", email="bob@example.com"),
    ]


def test_csv_contacts_split_tags_and_lists(tmp_path: Path) -> None:
    records = records_in(
        tmp_path,
        "crm.csv",
        "\ufeffid,email,tags,lists,country,owner\n"
        "101,ada@example.com,VIP; Beta,Newsletter:subscribed;Offers:unsubscribed,UK,\n"
        '102,"grace@example.org",,,"US, East",anna@example.com\n',
    )
    assert records == [
        ContactRecord(
            external_id="101",
            email="ada@example.com",
            attributes={"country": "UK"},  # an empty cell says nothing
            tags=["VIP", "Beta"],
            lists={"Newsletter": "subscribed", "Offers": "unsubscribed"},
        ),
        # empty tags and lists cells: this source holds none for the contact
        ContactRecord(
            external_id="102",
            email="grace@example.org",
            attributes={"country": "US, East", "owner": "anna@example.com"},
            tags=[],
            lists={},
        ),
    ]


def test_events_keep_their_type_time_value_and_properties(tmp_path: Path) -> None:
    order = {
        "id": "o1",
        "contact_id": "s1",
        "type": "order_placed",
        "at": "2026-11-02T08:30:00+01:00",
        "value": "49.90",
        "currency": "EUR",
        "properties": {"items": 2},
    }
    opened = {"email": "bob@example.com", "type": "email_opened", "at": 1700000000}
    first, second = records_in(tmp_path, "events.jsonl", jsonl(order, opened))
    assert first == EventRecord(
        external_id="o1",
        type="order_placed",
        occurred_at=datetime(2026, 11, 2, 7, 30, tzinfo=UTC),
        contact_external_id="s1",
        raw_type="order_placed",
        properties={"currency": "EUR", "items": 2},
        value=49.9,
    )
    assert isinstance(second, EventRecord)
    assert second.email == "bob@example.com"
    assert second.occurred_at == datetime.fromtimestamp(1700000000, UTC)
    # an event without an id gets one from its line, the same each time it is read
    again, _, _ = read(stream(connector(tmp_path, events="events.jsonl"), "events"))
    assert isinstance(again[1], EventRecord)
    assert second.external_id == again[1].external_id and len(second.external_id) == 40


def test_a_jsonl_source_reads_only_new_lines_from_its_cursor(tmp_path: Path) -> None:
    path, s = contacts_file(
        tmp_path, "contacts.jsonl", jsonl({"id": "1", "email": "a@example.com"})
    )
    records, cursor, _ = read(s)
    assert contact_ids(records) == ["1"]

    assert read(s, cursor) == ([], cursor, 0)  # nothing new: no page, the cursor stays

    with path.open("a") as f:
        f.write(jsonl({"id": "2", "email": "b@example.com"}, {"id": "3", "email": "c@example.com"}))
    records, cursor, _ = read(s, cursor)
    assert contact_ids(records) == ["2", "3"]
    assert read(s, cursor)[0] == []


def test_a_half_written_last_line_waits_until_it_is_complete(tmp_path: Path) -> None:
    path, s = contacts_file(
        tmp_path, "contacts.jsonl", jsonl({"id": "1", "email": "a@example.com"}) + '{"id": "2", "em'
    )
    records, cursor, _ = read(s)
    assert contact_ids(records) == ["1"]
    with path.open("a") as f:
        f.write('ail": "b@example.com"}\n')
    records, _, _ = read(s, cursor)
    assert records == [ContactRecord(external_id="2", email="b@example.com")]


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    path, s = contacts_file(
        tmp_path,
        "contacts.jsonl",
        jsonl({"id": "1", "email": "a@example.com"}, {"id": "2", "email": "b@x.com"}),
    )
    _, cursor, _ = read(s)
    path.write_text(jsonl({"id": "9", "email": "z@example.com"}))  # shorter, other content
    records, _, _ = read(s, cursor)
    assert contact_ids(records) == ["9"]


def test_a_csv_source_reads_only_new_rows_from_its_cursor(tmp_path: Path) -> None:
    path, s = contacts_file(tmp_path, "crm.csv", "id,email\n1,a@example.com\n")
    records, cursor, _ = read(s)
    assert contact_ids(records) == ["1"]
    with path.open("a") as f:
        f.write('2,b@example.com\n3,"c@example.com"\n')
    records, cursor, _ = read(s, cursor)
    assert contact_ids(records) == ["2", "3"]
    assert read(s, cursor)[0] == []


def test_a_csv_last_row_without_newline_is_read_once_the_file_is_settled(tmp_path: Path) -> None:
    # the writer is mid-row
    path, s = contacts_file(tmp_path, "crm.csv", "id,email\n1,a@example.com\n2,b@exa")
    records, cursor, _ = read(s)
    assert contact_ids(records) == ["1"]
    path.write_text("id,email\n1,a@example.com\n2,b@example.com")  # done, no final newline
    quiet = path.stat().st_mtime - 60
    os.utime(path, (quiet, quiet))
    records, cursor, _ = read(s, cursor)
    assert [(r.external_id, r.email) for r in records if isinstance(r, ContactRecord)] == [
        ("2", "b@example.com")
    ]
    assert read(s, cursor)[0] == []
    with path.open("a") as f:  # the next export appends from a fresh line
        f.write("\n3,c@example.com\n")
    records, _, _ = read(s, cursor)
    assert contact_ids(records) == ["3"]


def test_pages_hold_page_size_records_each_with_the_cursor_that_covers_them(
    tmp_path: Path,
) -> None:
    rows = [{"id": str(i), "email": f"p{i}@example.com"} for i in range(5)]
    (tmp_path / "contacts.jsonl").write_text(jsonl(*rows))
    s = stream(connector(tmp_path, contacts="contacts.jsonl", page_size=2), "contacts")
    pages = list(s.read(None))
    assert [[r.external_id for r in p.records if isinstance(r, ContactRecord)] for p in pages] == [
        ["0", "1"],
        ["2", "3"],
        ["4"],
    ]
    # resuming from any page's cursor reads exactly what comes after that page
    for n, page in enumerate(pages):
        after, _, _ = read(s, page.cursor)
        expected = [str(i) for i in range(2 * (n + 1), 5)]
        assert contact_ids(after) == expected


@pytest.mark.parametrize(
    ("file", "text", "reason"),
    [
        ("contacts.jsonl", "{not json\n", r"line 1: invalid JSON"),
        ("contacts.jsonl", "[1, 2]\n", r"line 1: a record must be a JSON object"),
        ("contacts.jsonl", '{"email": 5}\n', r"line 1: email must be text, got 5"),
        ("contacts.jsonl", '{"id": "x", "consent": "maybe"}\n', r"line 1: consent must be granted"),
        ("contacts.jsonl", '{"first_name": "Nobody"}\n', r"line 1: no e-mail and no id"),
        ("contacts.jsonl", '{"email": "a@x.com", "tags": [1]}\n', r"tags must be a list of names"),
        ("contacts.jsonl", '{"email": "a@x.com", "fields": [1]}\n', r"fields must be a mapping"),
        ("contacts.jsonl", '{"email": "a@x.com", "address": {"city": "X"}}\n', r"single value"),
        ("contacts.csv", "id,email\n1,a@x.com,extra\n", r"line 2: 3 columns, the header has 2"),
        ("events.jsonl", '{"email": "a@x.com", "at": "2026-01-01"}\n', r"line 1: type is missing"),
        ("events.jsonl", '{"email": "a@x.com", "type": "t", "at": "soon"}\n', r"line 1: .*soon"),
        ("events.jsonl", '{"type": "t", "at": "2026-01-01"}\n', r"no email and no contact_id"),
        ("events.jsonl", '{"email": "a@x.com", "type": "t", "at": 1, "value": "lots"}\n', "lots"),
    ],
)
def test_an_invalid_record_becomes_invalid_record_with_a_reason(
    tmp_path: Path, file: str, text: str, reason: str
) -> None:
    good = (
        '{"id": "ok", "email": "ok@example.com", "type": "t", "at": "2026-01-01"}\n'
        if file.endswith(".jsonl")
        else ""
    )
    records = records_in(tmp_path, file, text + good)
    bad = records[0]
    assert isinstance(bad, InvalidRecord), bad
    assert re.search(reason, bad.reason), bad.reason
    assert bad.raw  # the raw line is kept for the quarantine
    if good:  # the next record is read as usual
        assert not isinstance(records[1], InvalidRecord)


# --- the destination ---------------------------------------------------------------------


def change(id: int, kind: ChangeKind, email: str, key: str, value: str | None = None) -> Change:
    return Change(id=id, kind=kind, email=email, key=key, value=value)


def test_the_destination_appends_changes_and_keeps_the_state_read_back_as_remote_state(
    tmp_path: Path,
) -> None:
    esp = connector(tmp_path, state="esp/state.json")
    destination = esp.destination()
    assert destination is not None
    assert destination.change_kinds == frozenset(ChangeKind)
    results = destination.push(
        [
            change(1, ChangeKind.ADD_TAG, "ada@example.com", "VIP"),
            change(2, ChangeKind.ADD_TAG, "ada@example.com", "LOYAL"),
            change(3, ChangeKind.SUBSCRIBE, "ada@example.com", "Newsletter"),
            change(4, ChangeKind.SET_FIELD, "bob@example.com", "LIFECYCLE", "lead"),
        ]
    )
    assert [(r.change_id, r.outcome) for r in results] == [(i, Outcome.DONE) for i in (1, 2, 3, 4)]
    results = destination.push(
        [
            change(5, ChangeKind.REMOVE_TAG, "ada@example.com", "VIP"),
            change(6, ChangeKind.UNSUBSCRIBE, "ada@example.com", "Newsletter"),
            change(7, ChangeKind.SET_FIELD, "bob@example.com", "LIFECYCLE", None),
        ]
    )
    assert all(r.outcome is Outcome.DONE for r in results)

    log = [json.loads(line) for line in (tmp_path / "esp" / "state.changes.jsonl").open()]
    assert [(e["kind"], e["email"], e["key"], e.get("value")) for e in log] == [
        ("add_tag", "ada@example.com", "VIP", None),
        ("add_tag", "ada@example.com", "LOYAL", None),
        ("subscribe", "ada@example.com", "Newsletter", None),
        ("set_field", "bob@example.com", "LIFECYCLE", "lead"),
        ("remove_tag", "ada@example.com", "VIP", None),
        ("unsubscribe", "ada@example.com", "Newsletter", None),
        ("set_field", "bob@example.com", "LIFECYCLE", None),
    ]

    state = stream(esp, "state")
    records, cursor, _ = read(state)
    assert records == [
        ContactRecord(
            external_id="ada@example.com",
            email="ada@example.com",
            tags=["LOYAL"],
            lists={"Newsletter": "unsubscribed"},
        ),
        ContactRecord(external_id="bob@example.com", email="bob@example.com", tags=[], lists={}),
    ]
    assert read(state, cursor) == ([], cursor, 0)  # unchanged state: nothing to read again

    destination.push([change(8, ChangeKind.SET_FIELD, "bob@example.com", "LIFECYCLE", "customer")])
    records, _, _ = read(state, cursor)
    assert records[1] == ContactRecord(
        external_id="bob@example.com",
        email="bob@example.com",
        attributes={"LIFECYCLE": "customer"},
        tags=[],
        lists={},
    )


def test_an_instance_with_only_files_to_read_is_not_a_destination(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text("")
    reader = connector(tmp_path, contacts="c.jsonl")
    assert reader.destination() is None
    assert [s.name for s in reader.streams()] == ["contacts"]
    assert read(stream(connector(tmp_path, state="none.json"), "state")) == ([], None, 0)


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"contcts\s+Extra inputs are not permitted"):
        FilesOptions.model_validate({"contacts": "c.jsonl", "contcts": "x"})
    with pytest.raises(ValidationError):
        FilesOptions.model_validate({"page_size": 0})


def test_check_connection_names_a_missing_file(tmp_path: Path) -> None:
    from syncd.errors import FatalError

    with pytest.raises(FatalError, match=r"contacts file .*missing\.jsonl does not exist"):
        connector(tmp_path, contacts="missing.jsonl").check_connection()
    (tmp_path / "here.jsonl").write_text("")
    connector(tmp_path, contacts="here.jsonl").check_connection()


def test_a_file_that_cannot_be_read_is_one_error_line(tmp_path: Path) -> None:
    from syncd.errors import FatalError

    (tmp_path / "c.jsonl").write_text("")
    shop = connector(tmp_path, contacts="c.jsonl")
    (tmp_path / "c.jsonl").unlink()
    (tmp_path / "c.jsonl").mkdir()  # made a folder after the config was read
    with pytest.raises(
        FatalError, match=r"^cannot read the contacts file .*c\.jsonl: Is a directory$"
    ):
        list(stream(shop, "contacts").read(None))


def test_a_folder_where_a_file_belongs_and_a_broken_state_are_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.cli import main

    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    (tmp_path / "esp").mkdir()
    (tmp_path / "contacts.jsonl").write_text(jsonl({"id": "1", "email": "a@example.com"}))
    config = tmp_path / "syncd.yaml"
    text = """store: {{url: "sqlite:///{db}"}}
connectors:
  shop: {{type: files, contacts: contacts.jsonl}}
  esp:
    type: files
    state: {state}
segments:
  everyone: {{not: {{tag: NOBODY}}}}
destinations:
  - {{connector: esp, tags: {{everyone: ALL}}}}
"""
    config.write_text(text.format(db=tmp_path / "s.db", state="esp"))
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(
        r"syncd\.yaml:\d+: connectors\.esp: state: .*esp is a folder", err[0]
    )
    (tmp_path / "esp" / "state.json").write_text('{"contacts": [')
    config.write_text(text.format(db=tmp_path / "s.db", state="esp/state.json"))
    # the broken state fails the esp part only: the shop is still pulled, the run is partial
    assert main(["--config", str(config), "sync"]) == 4
    out = capsys.readouterr().out.strip().splitlines()
    failed = [line for line in out if "FAILED" in line]
    assert failed == [
        "pull esp FAILED (the rest of the run went on): "
        f"state file {tmp_path / 'esp' / 'state.json'}: "
        "Invalid JSON: EOF while parsing a list at line 1 column 14"
    ]
