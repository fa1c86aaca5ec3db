"""Deals and their contacts, computed scores and RFM, and the views `sql:` segments read.

Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# frozen here as they were at this revision; later revisions replace them
VIEWS = {
    "syncd_contacts": "SELECT id AS contact_id, email, created_at, updated_at FROM contacts",
    "syncd_fields": "SELECT contact_id, name, value, num, ts, source FROM contact_fields",
    "syncd_tags": "SELECT contact_id, source, tag, name, count FROM tags",
    "syncd_lists": "SELECT contact_id, source, list, status FROM memberships",
    "syncd_events": (
        "SELECT contact_id, source, type, occurred_at, value, properties FROM events "
        "WHERE contact_id IS NOT NULL"
    ),
    "syncd_deals": (
        "SELECT dc.contact_id, d.source, d.external_id AS deal_id, d.stage, d.status, "
        "d.pipeline, d.owner, d.amount FROM deals d JOIN deal_contacts dc "
        "ON dc.source = d.source AND dc.deal_id = d.external_id"
    ),
    "syncd_scores": "SELECT contact_id, score, value FROM contact_scores",
    "syncd_rfm": (
        'SELECT contact_id, r, f, m, "class", recency, frequency, monetary FROM contact_rfm'
    ),
    "syncd_segment_members": "SELECT segment, contact_id, since FROM segment_members",
}


def upgrade() -> None:
    op.create_table(
        "deals",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("stage", sa.String(200)),
        sa.Column("status", sa.String(16)),
        sa.Column("pipeline", sa.String(200)),
        sa.Column("owner", sa.String(320)),
        sa.Column("amount", sa.Float),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "deal_contacts",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("deal_id", sa.String(255), primary_key=True),
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    )
    op.create_index("ix_deal_contacts_contact", "deal_contacts", ["contact_id"])
    op.create_table(
        "contact_scores",
        sa.Column("score", sa.String(200), primary_key=True),
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "contact_rfm",
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
        sa.Column("recency", Time, nullable=False),
        sa.Column("frequency", sa.Integer, nullable=False),
        sa.Column("monetary", sa.Float, nullable=False),
        sa.Column("r", sa.Integer, nullable=False),
        sa.Column("f", sa.Integer, nullable=False),
        sa.Column("m", sa.Integer, nullable=False),
        sa.Column("class", sa.String(32), nullable=False),
    )
    for name, select in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {select}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in ("contact_rfm", "contact_scores", "deal_contacts", "deals"):
        op.drop_table(table)
