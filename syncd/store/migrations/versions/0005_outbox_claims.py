"""Outbox claims: the push that took a change into its batch, and until when.

Several processes on one PostgreSQL store push one destination at the same time; a change
is claimed (FOR UPDATE SKIP LOCKED, then stamped) before it is sent, so none is sent twice.
A claim whose lease ran out (its holder died) may be taken again.

Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100)))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
