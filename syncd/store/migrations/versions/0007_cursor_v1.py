"""Cursors in one versioned shape (``{"v": 1, "bound": ...}``, see syncd.connectors.cursor).

The streams of the first connectors each kept their own shape: a bare number of
milliseconds, ``{"since", "after", "max"}``, ``{"offset", "last"}``, ``{"updated_at_min"}``,
``{"from"}``, a file position ``{"offset", "line", "head"}`` or a digest. Each becomes the
bound it stood for, so no stream reads again what it had read; a read that was under way
starts again from its bound. A shape this migration does not know is left as it is.

Create Date: 2026-12-06
"""

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

cursors = sa.table(
    "cursors", sa.column("connector", sa.String), sa.column("stream", sa.String),
    sa.column("value", sa.Text),
)  # fmt: skip


def _time(value: Any) -> Any:
    """A stored time as the v1 form: ISO 8601 in UTC; digits stay a number."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    return (at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def to_v1(text: str | None) -> dict[str, Any] | None:
    """The v1 form of a stored cursor, or None when it is v1 already or its shape unknown."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"v": 1, "bound": text}  # a digest
    if isinstance(data, bool):
        return None
    if isinstance(data, int | float):
        return {"v": 1, "bound": int(data)}
    if not isinstance(data, dict) or "v" in data:
        return None
    if "head" in data and "offset" in data:
        return {"v": 1, "bound": {k: data.get(k) for k in ("offset", "line", "head")}}
    if "last" in data:
        last = data.get("last")
        found = {"v": 1, "bound": _time(last[0]) if isinstance(last, list) and last else None}
        return {**found, "hint": int(data.get("offset") or 0)}
    for key in ("since", "updated_at_min", "from"):
        if key in data:
            return {"v": 1, "bound": _time(data[key])}
    return None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(cursors.c.connector, cursors.c.stream, cursors.c.value))
    for connector, stream, value in rows.all():
        converted = to_v1(value)
        if converted is None:
            continue
        conn.execute(
            cursors.update()
            .where(cursors.c.connector == connector, cursors.c.stream == stream)
            .values(value=json.dumps(converted, sort_keys=True, separators=(",", ":")))
        )


def downgrade() -> None:
    # the earlier shapes differ by stream and cannot be told from here: forget the v1
    # cursors, so an older syncd reads those streams whole (every record is an upsert)
    op.get_bind().execute(cursors.delete().where(cursors.c.value.like('{"bound"%')))
