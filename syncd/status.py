"""``syncd status``: last runs, cursors, outbox backlog, held plans and quarantine."""

from __future__ import annotations

from syncd.output import emit_json, say, table
from syncd.queries import status
from syncd.runtime import Runtime

OK = 0


def show(rt: Runtime, *, as_json: bool) -> int:
    """``syncd status``: print the store's state for people, or as JSON."""
    with rt.engine.connect() as conn:
        data = status(conn)
    if as_json:
        emit_json(data)
        return OK
    say("last runs:")
    table(
        ["started", "job", "outcome", "finished", "error"],
        [
            [r["started_at"], r["job"], r["outcome"], r["finished_at"], r["error"]]
            for r in data["runs"]
        ],
    )
    say("\ncursors:")
    table(
        ["instance", "stream", "updated"],
        [[c["connector"], c["stream"], c["updated_at"]] for c in data["cursors"]],
    )
    say("\noutbox backlog:")
    table(
        ["destination", "status", "changes"],
        [[o["destination"], o["status"], o["count"]] for o in data["outbox"]],
    )
    if data["failed_changes"]:
        say("\nfailed changes:")
        table(
            ["destination", "kind", "key", "email", "error"],
            [
                [f["destination"], f["kind"], f["key"], f["email"], f["last_error"]]
                for f in data["failed_changes"]
            ],
        )
    say("\nquarantine:")
    table(
        ["instance", "stream", "records"],
        [[q["connector"], q["stream"], q["count"]] for q in data["quarantine"]["counts"]],
    )
    if data["quarantine"]["latest"]:
        say("\nlatest quarantined:")
        table(
            ["instance", "stream", "reason"],
            [[q["connector"], q["stream"], q["reason"]] for q in data["quarantine"]["latest"]],
        )
    return OK
