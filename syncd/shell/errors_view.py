"""``syncd errors``: each record that did not arrive and why — the changes a destination
refused or failed (retrying, or given up) and the records a source sent that could not be read
(quarantined) — newest first, for people or as JSON."""

from __future__ import annotations

from typing import Any

from syncd.output import emit_json, say, table
from syncd.runtime import Runtime
from syncd.sync.failures import change_failures, quarantined_records

OK = 0


def show_errors(rt: Runtime, *, destination: str | None, limit: int, as_json: bool) -> int:
    with rt.engine.connect() as conn:
        changes = change_failures(conn, destination=destination, limit=limit)
        records = quarantined_records(conn, instance=destination, limit=limit)
    if as_json:
        emit_json({"changes": changes, "quarantined": records})
        return OK
    say("changes that failed (newest first):")
    table(
        ["when", "destination", "contact", "change", "state", "tries", "why"],
        [
            [
                c["at"],
                c["destination"],
                c["email"],
                _change(c),
                c["state"],
                c["attempts"],
                _line(c["error"]),
            ]
            for c in changes
        ],
    )
    say("\nrecords quarantined (a source sent them unreadable):")
    table(
        ["when", "instance", "stream", "why"],
        [[r["at"], r["instance"], r["stream"], _line(r["error"])] for r in records],
    )
    if limit and (len(changes) == limit or len(records) == limit):
        say(f"\nthe newest {limit} of each are shown; --limit N for more")
    return OK


def _change(c: dict[str, Any]) -> str:
    value = f" = {c['value']}" if c["value"] is not None else ""
    return f"{c['kind']} {c['key']}{value}"


def _line(text: str | None) -> str | None:
    return text.strip().splitlines()[0] if text and text.strip() else text
