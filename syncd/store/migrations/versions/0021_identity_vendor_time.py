"""The vendor's time of the newest contact record applied per identity
(``identities.vendor_at``): a webhook retried or delivered late, older than what is applied
already, is skipped instead of writing older consent, tags or fields over newer ones.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    op.add_column("identities", sa.Column("vendor_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # a plain DROP COLUMN (SQLite 3.35 and later, PostgreSQL): the table is not copied
    op.execute("ALTER TABLE identities DROP COLUMN vendor_at")
