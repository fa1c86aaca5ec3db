"""The views: overview, segments, one segment, runs. Each reads the store in one connection
and returns the page's HTML; nothing here writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

import sqlalchemy as sa
import yaml

from syncd.clock import as_utc
from syncd.queries import contact_id_of, trigger_text
from syncd.runtime import Runtime
from syncd.status import counts_in_words
from syncd.sync.outbox import held_plans
from syncd.ui import data, svg
from syncd.ui.html import change, num, outcome, page, segment_link, table, text, took, when
from syncd.webhooks.status import lag_text, webhook_rows

HISTORY_DAYS = 100
SAMPLE = 20


class NotFound(Exception):
    """The page asked for does not exist (an unknown segment)."""


def overview(rt: Runtime, conn: sa.Connection, now: datetime) -> str:
    schedules = rt.config.schedules
    last = data.schedule_runs(conn, schedules, now)
    upcoming = data.next_runs(
        schedules, {n: r["started_at"] if r else None for n, r in last.items()}, now
    )
    parts = ["<h2>Schedules</h2>"]
    rows = []
    for name, schedule in schedules.items():
        run = last[name]
        rows.append(
            [
                text(name),
                text(f"{schedule.run}, {trigger_text(schedule)}"),
                when(run["started_at"] if run else None),
                outcome(run["outcome"]) if run else "",
                took(run["seconds"]) if run else "",
                text(counts_in_words(run["counts"])) if run else "",
                when(upcoming.get(name)),
            ]
        )
    parts.append(
        table(["schedule", "runs", "last run", "outcome", "took", "counts", "next run"], rows)
    )
    parts.append("<h2>Outbox</h2>")
    waiting = data.backlog(conn)
    failures = data.last_failures(conn)
    parts.append(
        table(
            ["destination", "status", "changes", "latest failure"],
            [
                [
                    text(o["destination"]),
                    text(o["status"]),
                    num(o["count"]),
                    text(failures.get(o["destination"])) if o["status"] == "failed" else "",
                ]
                for o in waiting
            ],
            caption="changes waiting, held, or failed for good, per destination",
        )
    )
    parts.append("<h2>Held plans</h2>")
    kinds = data.held_removals(conn)
    why = held_plans(conn)
    held_rows = []
    for destination, by_kind in sorted(kinds.items()):
        kept = why.get(destination, {})
        removes = sum(n for k, n in by_kind.items() if k in ("remove_tag", "unsubscribe"))
        since = kept.get("since")
        held_rows.append(
            [
                text(destination),
                num(sum(by_kind.values())),
                num(removes),
                text(", ".join(f"{k} {n:,}" for k, n in sorted(by_kind.items()))),
                when(as_utc(datetime.fromisoformat(since)) if since else None),
                text(kept.get("reason")),
                "<code>syncd push --confirm</code>",
            ]
        )
    parts.append(
        table(
            ["destination", "changes", "would remove", "by kind", "since", "reason", "to release"],
            held_rows,
        )
    )
    parts.append("<h2>Quarantine</h2>")
    quarantined = data.quarantine_counts(conn)
    parts.append(
        table(
            ["instance", "stream", "records"],
            [
                [text(q["connector"]), text(q["stream"]), num(q["count"])]
                for q in quarantined["counts"]
            ],
        )
    )
    parts.append(
        table(
            ["instance", "stream", "when", "reason"],
            [
                [text(q["connector"]), text(q["stream"]), when(q["created_at"]), text(q["reason"])]
                for q in quarantined["latest"]
            ],
            caption="the latest quarantined records and why",
        )
    )
    if rt.config.webhooks.connectors:
        parts.append(_webhooks(conn, rt.config.webhooks.connectors))
    return page("Overview", "".join(parts), now=now, current="/")


def _webhooks(conn: sa.Connection, instances: Any) -> str:
    rows = [
        [
            text(w["instance"]),
            num(w["received"]),
            num(w["pending"]),
            when(w["latest"]),
            text(lag_text(w["lag_p50"])),
            text(lag_text(w["lag_p95"])),
            text(", ".join(f"{k} {n:,}" for k, n in sorted(w["refused"].items())) or "none"),
        ]
        for w in webhook_rows(conn, sorted(instances))
    ]
    return "<h2>Webhooks</h2>" + table(
        ["instance", "received", "pending", "latest", "lag p50", "lag p95", "refused"],
        rows,
        caption="deliveries kept 7 days; lag from arrival to applied, of the latest 200; "
        "refusals since this daemon started",
    )


def segments_page(rt: Runtime, conn: sa.Connection, now: datetime) -> str:
    rows = []
    for s in data.segment_rows(conn, rt.config, now):
        values = [size for _, size in s.daily]
        rows.append(
            [
                segment_link(s.name),
                num(s.size),
                change(s.size, s.day_ago),
                change(s.size, s.week_ago),
                text(", ".join(s.destinations)) or '<span class="muted">none</span>',
                svg.sparkline(values, f"{s.name}: size over the last 30 days"),
                when(s.computed_at),
            ]
        )
    body = table(
        [
            "segment",
            "size",
            "since yesterday",
            "since last week",
            "destinations",
            "last 30 days",
            "computed",
        ],
        rows,
    )
    return page("Segments", body, now=now, current="/segments")


def segment_page(
    rt: Runtime,
    conn: sa.Connection,
    now: datetime,
    name: str,
    contact: str | None,
    masked: bool,
    contact_id: int | None = None,
) -> str:
    """With ``masked``, e-mails show as ``j***@example.com`` and the explain links name a
    contact by its id, so no address is in the page's text or its links."""
    from syncd.segments.compile import Compiler
    from syncd.segments.rules import description, without_description

    if name not in rt.rules:
        raise NotFound(f"no segment named {name!r} in the config")
    show_email = data.mask_email if masked else _same
    raw = rt.config.segments.get(name)
    compiler = Compiler(rt.rules, now, rt.scores)
    history = data.history_of(conn, name, now - data.DAY * HISTORY_DAYS)
    parts = []
    about = description(raw)
    if about:
        parts.append(f"<p>{text(about)}</p>")
    size = data.stored_size(conn, name)
    parts.append(
        f"<p>{size:,} members at the last compute.</p>"
        if size is not None
        else "<p>not computed yet (run syncd sync)</p>"
    )
    parts.append("<h2>Size over time</h2>")
    daily = data.daily_sizes(conn, now - data.DAY * HISTORY_DAYS, name).get(name, [])
    parts.append(svg.size_chart(daily, f"{name}: size each day over {HISTORY_DAYS} days"))
    recent = history[-10:]
    parts.append(
        table(
            ["computed", "size", "added", "removed"],
            [
                [when(h["at"]), num(h["size"]), num(h["added"]), num(h["removed"])]
                for h in reversed(recent)
            ],
            caption="the last computes",
        )
    )
    parts.append("<h2>Definition</h2>")
    dumped = yaml.safe_dump(without_description(raw), sort_keys=False, allow_unicode=True)
    parts.append(f"<pre>{text(dumped)}</pre>")
    parts.append("<h2>Compiled SQL</h2>")
    parts.append(f"<pre>{text(compiler.sql_of(rt.rules[name], conn.dialect))}</pre>")
    parts.append("<h2>Sample of members</h2>")
    sample = data.sample(conn, name, SAMPLE)
    parts.append(
        table(
            ["contact", "member since", ""],
            [
                [
                    text(show_email(m["email"])),
                    when(m["since"]),
                    _explain_link(name, {"id": m["id"]} if masked else {"contact": m["email"]}),
                ]
                for m in sample
            ],
        )
    )
    parts.append("<h2>Explain</h2>")
    parts.append(
        f'<form method="get" action="/segments/{escape(_quoted(name))}">'
        '<label for="contact">why is this contact in the segment, or not?</label>'
        f'<input type="email" id="contact" name="contact" value="{text(contact or "")}" '
        'autocomplete="off" required> <button type="submit">explain</button></form>'
    )
    if contact_id is not None:
        contact = data.email_of(conn, contact_id)
        if contact is None:
            parts.append(f'<p class="warn">no contact #{contact_id} in the store</p>')
    if contact:
        parts.append(_explanation(conn, compiler, rt, name, contact, show_email))
    return page(f"Segment {name}", "".join(parts), now=now, current="/segments")


def _same(email: str) -> str:
    return email


def _explain_link(name: str, who: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    query = urlencode(who)
    return f'<a href="/segments/{escape(_quoted(name))}?{escape(query)}">explain</a>'


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _explanation(
    conn: sa.Connection,
    compiler: Any,
    rt: Runtime,
    name: str,
    contact: str,
    show_email: Callable[[str], str],
) -> str:
    from syncd.segments.explain import Explainer

    contact_id = contact_id_of(conn, contact)
    shown = show_email(contact.strip().lower())
    if contact_id is None:
        return f'<p class="warn">no contact with e-mail {text(shown)} in the store</p>'
    found = Explainer(conn, compiler, contact_id).explain(rt.rules[name])
    verdict = "is in" if found.matched else "is not in"
    lines = "\n".join(found.lines())
    return f"<p>{text(shown)} {verdict} segment {text(name)}</p><pre>{text(lines)}</pre>"


def runs_page(rt: Runtime, conn: sa.Connection, now: datetime) -> str:
    recent = data.recent_runs(conn, now)
    body = [
        svg.timeline(recent, f"the last {len(recent)} runs: height is duration, colour outcome"),
        '<p class="muted">oldest left; green ok, amber partial, purple held, red failed.</p>',
        table(
            ["started", "job", "took", "outcome", "counts", "error"],
            [
                [
                    when(r["started_at"]),
                    text(r["job"]),
                    took(r["seconds"]),
                    outcome(r["outcome"]),
                    text(counts_in_words(r["counts"])),
                    text(r["error"]),
                ]
                for r in recent
            ],
        ),
    ]
    return page("Runs", "".join(body), now=now, current="/runs")
