"""Tag scores: the score a tool keeps on a contact's tag (a tool's scoring tags), null
where the tool keeps none, so a rule can test it (``{tag: X, score: {gte: 10}}``).

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("score", sa.Float, nullable=True))


def downgrade() -> None:
    # not a batch: on SQLite a batch copies the table, which the views reading it and its
    # change triggers do not survive; SQLite drops a column in place since 3.35
    op.drop_column("tags", "score")
