"""The page's frame and the small pieces every view is built of. Every value is escaped
here, and the finished page is passed through syncd.secrets.redact before it is sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote

from syncd.duration import duration_text

NAV = (("/", "Overview"), ("/segments", "Segments"), ("/runs", "Runs"))


def page(title: str, body: str, *, now: datetime, current: str) -> str:
    mark = ' aria-current="page"'
    links = " ".join(
        f'<a href="{href}"{mark if href == current else ""}>{name}</a>' for href, name in NAV
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · syncd</title>"
        '<link rel="stylesheet" href="/static/ui.css"></head><body>'
        f'<header><span class="brand">syncd</span><nav aria-label="pages">{links}</nav>'
        f'<span class="muted-light">as of {when(now)}</span></header>'
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    """A table of cells already rendered (escape plain text with ``text``)."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    if not body:
        span = len(headers)
        body = f'<tr><td colspan="{span}" class="muted">none</td></tr>'
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Num(str):
    """A cell rendered right-aligned."""


def _cell(value: str) -> str:
    return f'<td class="num">{value}</td>' if isinstance(value, Num) else f"<td>{value}</td>"


def text(value: object) -> str:
    return "" if value is None else escape(str(value))


def num(value: int | float | None) -> Num:
    return Num("" if value is None else f"{value:,}")


def change(now: int | None, before: int | None) -> Num:
    if now is None or before is None:
        return Num('<span class="muted">-</span>')
    delta = now - before
    return Num(f"{delta:+,}")


def when(value: datetime | None) -> str:
    if value is None:
        return '<span class="muted">never</span>'
    return f'<time datetime="{value.isoformat()}">{value.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'


def took(seconds: float | None) -> str:
    return "" if seconds is None else escape(duration_text(round(seconds, 1)))


def outcome(value: str) -> str:
    css = {"ok": "ok", "partial": "warn", "held": "warn", "running": "muted"}.get(value, "bad")
    return f'<span class="{css}">{escape(value)}</span>'


def segment_link(name: str) -> str:
    return f'<a href="/segments/{quote(name, safe="")}">{escape(name)}</a>'
