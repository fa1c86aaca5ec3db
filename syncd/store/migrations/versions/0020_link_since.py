"""Since when a contact holds a tag, and holds a list membership's status: the first time
syncd saw it (``{tag: X, since: {within: 7d}}``, ``{list: L, since: 30d}``). Rows already
stored take the time they were last written.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"

TABLES = ("tags", "memberships")
VIEWS = {
    "syncd_tags": "SELECT contact_id, source, tag, name, count{since} FROM tags",
    "syncd_lists": "SELECT contact_id, source, list, status{since} FROM memberships",
}


def _views(since: str) -> None:
    for name, select in VIEWS.items():
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(f"CREATE VIEW {name} AS {select.format(since=since)}")


def upgrade() -> None:
    # not a batch: on SQLite a batch copies the table, which its views and change triggers
    # do not survive; ADD COLUMN works in place on both stores
    for table in TABLES:
        op.add_column(table, sa.Column("since", sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET since = updated_at")
    _views(", since")


def downgrade() -> None:
    _views("")
    for table in TABLES:
        op.drop_column(table, "since")
