"""Webhook inbox: each webhook delivery stored before the vendor is answered, applied by the
micro-cycle, kept a while after so a replay of one delivery id is applied once.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("instance", sa.String(100), nullable=False),
        sa.Column("delivery_id", sa.String(200)),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("headers", Json, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.Text),
        sa.UniqueConstraint("instance", "delivery_id", name="uq_webhook_inbox_delivery"),
    )
    op.create_index("ix_webhook_inbox_pending", "webhook_inbox", ["applied_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_inbox_pending", table_name="webhook_inbox")
    op.drop_table("webhook_inbox")
