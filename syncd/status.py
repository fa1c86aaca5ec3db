"""``syncd status``: per destination the changes pending, retrying and failed with the last
reason, each schedule's last runs, the other runs, cursors and their age, held plans, failed
changes and quarantine."""

from __future__ import annotations

from typing import Any

from syncd.duration import duration_text
from syncd.output import emit_json, say, table
from syncd.queries import status
from syncd.runtime import Runtime
from syncd.sync.failures import destination_states

OK = 0
# the counts a run records, in the order a person reads a cycle
COUNT_ORDER = (
    "pulled",
    "quarantined",
    "segments",
    "planned",
    "held",
    "pushed",
    "retryable",
    "failed",
)


def show(rt: Runtime, *, as_json: bool) -> int:
    """``syncd status``: print the store's state for people, or as JSON. Runs whose process
    died are marked so first (killed, abandoned), not shown running for ever."""
    from syncd.sync.runs import reap_dead_runs

    with rt.engine.begin() as conn:
        reap_dead_runs(conn, rt.clock)
    with rt.engine.connect() as conn:
        data = status(conn, now=rt.clock(), schedules=rt.config.schedules)
        data["destinations"] = destination_states(conn, rt.destinations())
    if as_json:
        emit_json(data)
        return OK
    _destinations(data["destinations"], data["outbox"])
    say("")
    _schedules(data["schedules"])
    say("\nother runs (one-shot commands):")
    _runs(data["one_shot_runs"], with_job=True)
    say("\ncursors:")
    table(
        ["instance", "stream", "updated", "age"],
        [
            [c["connector"], c["stream"], c["updated_at"], _age(c["age_seconds"])]
            for c in data["cursors"]
        ],
    )
    _held(data["held"])
    if data["failed_changes"]:
        say("\nfailed changes (given up; the newest, 'syncd errors' lists each one):")
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
            ["instance", "stream", "when", "reason"],
            [
                [q["connector"], q["stream"], q["created_at"], q["reason"]]
                for q in data["quarantine"]["latest"]
            ],
        )
    return OK


def _destinations(states: list[dict[str, Any]], backlog: list[dict[str, Any]]) -> None:
    """One row per destination: what waits, what is retried, what failed, and why."""
    sending: dict[str, int] = {}
    for o in backlog:
        sending[o["destination"]] = sending.get(o["destination"], 0) + o["claimed"]
    say("destinations:")
    table(
        ["destination", "pending", "retrying", "held", "failed", "being sent", "last failure"],
        [
            [
                d["destination"],
                d["pending"],
                d["retrying"],
                d["held"],
                d["failed"],
                sending.get(d["destination"], 0),
                _failure(d),
            ]
            for d in states
        ],
    )
    if any(d["retrying"] or d["failed"] for d in states):
        say("each failed change and why: syncd errors")


def _failure(state: dict[str, Any]) -> str | None:
    if not state["last_error"]:
        return None
    at = state["last_error_at"]
    when = f"{at:%Y-%m-%d %H:%M:%S}: " if at is not None else ""
    return when + str(state["last_error"]).strip().splitlines()[0]


def _schedules(schedules: list[dict[str, Any]]) -> None:
    if not schedules:
        say("schedules: none in the config")
        return
    say("schedules:")
    for s in schedules:
        what = s["run"]
        if s["connectors"]:
            what += " " + ", ".join(s["connectors"])
        if s["destinations"]:
            what += " to " + ", ".join(s["destinations"])
        head = f"\n{s['name']} ({what}, {s['trigger']})"
        if not s["runs"]:
            say(f"{head}: never run")
            continue
        last_ok = s["last_ok"].strftime("%Y-%m-%d %H:%M:%S") if s["last_ok"] else "never"
        say(f"{head}: last ok {last_ok}")
        _runs(s["runs"], with_job=False)


def _runs(runs: list[dict[str, Any]], *, with_job: bool) -> None:
    headers = ["started", *(["job"] if with_job else []), "took", "outcome", "counts", "error"]
    table(
        headers,
        [
            [
                r["started_at"],
                *([r["job"]] if with_job else []),
                _age(r["duration_seconds"]),
                r["outcome"],
                counts_in_words(r["counts"]) or None,
                r["error"],
            ]
            for r in runs
        ],
    )


def _held(held: list[dict[str, Any]]) -> None:
    if not held:
        say("\nheld plans: none")
        return
    say("\nheld plans (a guard stopped them; 'syncd push --confirm' sends them):")
    table(
        ["destination", "changes", "since", "reason"],
        [[h["destination"], h["changes"], h["since"], h["reason"]] for h in held],
    )


def counts_in_words(counts: dict[str, Any]) -> str:
    """``pulled 120, planned 8, pushed 8``: a run's counts (zeros left out), known ones first."""
    known = [k for k in COUNT_ORDER if k in counts]
    rest = sorted(k for k in counts if k not in COUNT_ORDER)
    return ", ".join(
        f"{key} {counts[key]}"
        for key in [*known, *rest]
        if isinstance(counts[key], int | float) and not isinstance(counts[key], bool)
        if counts[key]
    )


def _age(seconds: float | None) -> str | None:
    return None if seconds is None else duration_text(seconds)
