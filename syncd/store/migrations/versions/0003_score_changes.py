"""How much each score changed over each window a segment asks about.

Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contact_score_changes",
        sa.Column("score", sa.String(200), primary_key=True),
        sa.Column("over_seconds", sa.Integer, primary_key=True),
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("change", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("contact_score_changes")
