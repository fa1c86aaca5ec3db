"""Segment history: each compute's size of each segment, with the members it added and
removed, kept for ``store.history_retention`` so the status page can chart sizes over time.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "segment_history",
        sa.Column("segment", sa.String(200), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
    )
    op.create_index("ix_segment_history_at", "segment_history", ["at"])


def downgrade() -> None:
    op.drop_index("ix_segment_history_at", table_name="segment_history")
    op.drop_table("segment_history")
