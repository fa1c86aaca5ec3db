"""Deal dates: when a CRM deal was created and when it closed (or, open, is expected to),
so rules can test them (``{deal: {status: won, closed: {within: 30d}}}``); the view
``syncd_deals`` shows them.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"

COLUMNS = (
    "SELECT dc.contact_id, d.source, d.external_id AS deal_id, d.stage, d.status, "
    "d.pipeline, d.owner, d.amount{extra} FROM deals d JOIN deal_contacts dc "
    "ON dc.source = d.source AND dc.deal_id = d.external_id"
)


def upgrade() -> None:
    # not a batch: on SQLite a batch copies the table, which its views and change triggers
    # do not survive; ADD COLUMN works in place on both stores
    op.add_column("deals", sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("deals", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("DROP VIEW IF EXISTS syncd_deals")
    op.execute(
        "CREATE VIEW syncd_deals AS " + COLUMNS.format(extra=", d.created_at, d.closed_at")
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS syncd_deals")
    op.execute("CREATE VIEW syncd_deals AS " + COLUMNS.format(extra=""))
    op.drop_column("deals", "closed_at")
    op.drop_column("deals", "created_at")
