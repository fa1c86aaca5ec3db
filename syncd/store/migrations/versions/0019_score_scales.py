"""Scores with a half-life stored at a reference time: ``score_scales`` holds, per score, what
its stored values and changes are multiplied by to give their worth at the last compute, and
the view ``syncd_scores`` shows them so. A clock move then rewrites one row per score instead
of every contact's value (syncd.segments.scores).

The rows stored before are values at the last compute (a scale of 1, the view's default);
the next compute stores them at the reference time.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"

BEFORE = "SELECT contact_id, score, value FROM contact_scores"
VIEW = (
    "SELECT s.contact_id, s.score, s.value * COALESCE(k.scale, 1.0) AS value "
    "FROM contact_scores s LEFT JOIN score_scales k ON k.score = s.score"
)
# the digests of the scores last computed: forgotten on the way down, so the next compute
# of an earlier syncd computes every score again from the values at the last compute
SCORE_DIGESTS = "compute:scores"


def upgrade() -> None:
    op.create_table(
        "score_scales",
        sa.Column("score", sa.String(200), primary_key=True),
        sa.Column("reference_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scale", sa.Float, nullable=False),
    )
    op.execute("DROP VIEW IF EXISTS syncd_scores")
    op.execute(f"CREATE VIEW syncd_scores AS {VIEW}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS syncd_scores")
    # back to values at the last compute, as the schema before read them
    for table, column in (("contact_scores", "value"), ("contact_score_changes", "change")):
        op.execute(
            f"UPDATE {table} SET {column} = {column} * COALESCE("
            f"(SELECT scale FROM score_scales k WHERE k.score = {table}.score), 1.0)"
        )
    op.execute(f"DELETE FROM meta WHERE key = '{SCORE_DIGESTS}'")
    op.execute(f"CREATE VIEW syncd_scores AS {BEFORE}")
    op.drop_table("score_scales")
