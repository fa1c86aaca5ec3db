"""Charts drawn as inline SVG on the server: no script, no CDN, readable with JavaScript off.

Colours and sizes are attributes, not ``style``: the page's CSP allows no inline style."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html import escape

INK = "#1f4e79"
GRID = "#c8c8c8"
OUTCOME_COLOURS = {
    "ok": "#2e7d32",
    "partial": "#b26a00",
    "held": "#6a1b9a",
    "running": "#1565c0",
}
FAILED = "#c62828"


def sparkline(values: Sequence[int], label: str, width: int = 120, height: int = 28) -> str:
    """A line of ``values``, labelled for screen readers; an empty box with no history."""
    title = f"<title>{escape(label)}</title>"
    head = (
        f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{title}'
    )
    if len(values) < 2:
        return head + "</svg>"
    points = _points(values, width, height, pad=2)
    return (
        head + f'<polyline fill="none" stroke="{INK}" stroke-width="1.5" points="{points}"/></svg>'
    )


def size_chart(series: Sequence[tuple[date | datetime, int]], label: str) -> str:
    """Size over time with its axes: the least and greatest size, the first and last day."""
    width, height, left, bottom = 720, 220, 64, 28
    title = f"<title>{escape(label)}</title>"
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{title}'
    ]
    plot_w, plot_h = width - left - 8, height - bottom - 8
    out.append(
        f'<line x1="{left}" y1="{8 + plot_h}" x2="{width - 8}" y2="{8 + plot_h}" '
        f'stroke="{GRID}"/><line x1="{left}" y1="8" x2="{left}" y2="{8 + plot_h}" '
        f'stroke="{GRID}"/>'
    )
    if not series:
        out.append(f'<text x="{left + 8}" y="{height // 2}" fill="#333">no history yet</text>')
        return "".join(out) + "</svg>"
    values = [v for _, v in series]
    low, high = min(values), max(values)
    points = _points(values, plot_w, plot_h, pad=0)
    shifted = " ".join(
        f"{float(x) + left:.1f},{float(y) + 8:.1f}"
        for x, y in (p.split(",") for p in points.split())
    )
    out.append(
        f'<polyline fill="none" stroke="{INK}" stroke-width="2" points="{shifted}"/>'
        f'<text x="{left - 6}" y="14" text-anchor="end" font-size="12" fill="#333">{high:,}</text>'
        f'<text x="{left - 6}" y="{8 + plot_h}" text-anchor="end" font-size="12" '
        f'fill="#333">{low:,}</text>'
        f'<text x="{left}" y="{height - 8}" font-size="12" fill="#333">'
        f"{_day(series[0][0])}</text>"
        f'<text x="{width - 8}" y="{height - 8}" text-anchor="end" font-size="12" fill="#333">'
        f"{_day(series[-1][0])}</text>"
    )
    return "".join(out) + "</svg>"


def timeline(runs: Sequence[dict[str, object]], label: str) -> str:
    """One bar per run, oldest left, its height the run's duration, its colour the outcome."""
    width, height = 720, 160
    title = f"<title>{escape(label)}</title>"
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{title}'
    ]
    if not runs:
        out.append(f'<text x="8" y="{height // 2}" fill="#333">no runs yet</text>')
        return "".join(out) + "</svg>"
    ordered = list(reversed(runs))
    longest = max(float(str(r["seconds"])) for r in ordered) or 1.0
    step = width / len(ordered)
    bar = max(1.0, step - 1)
    for i, r in enumerate(ordered):
        seconds = float(str(r["seconds"]))
        h = max(2.0, (height - 10) * seconds / longest)
        colour = OUTCOME_COLOURS.get(str(r["outcome"]), FAILED)
        tip = f"{r['job']} {r['outcome']} {seconds:.1f}s"
        out.append(
            f'<rect x="{i * step:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    return "".join(out) + "</svg>"


def _points(values: Sequence[int], width: int, height: int, pad: int) -> str:
    if len(values) == 1:  # one compute so far: a flat line across
        values = [values[0], values[0]]
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - 2 * pad) / (len(values) - 1)
    return " ".join(
        f"{pad + i * step:.1f},{pad + (height - 2 * pad) * (1 - (v - low) / span):.1f}"
        for i, v in enumerate(values)
    )


def _day(value: date | datetime) -> str:
    return value.strftime("%Y-%m-%d")
