"""The RFM's measures and the scores' values indexed by value: an incremental compute finds
the RFM's quintile cuts, and a score's top share, by walking an index to a position instead
of sorting every purchaser or every scored contact again.

Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"

INDEXES = {
    "ix_contact_rfm_recency": ("contact_rfm", ["recency"]),
    "ix_contact_rfm_frequency": ("contact_rfm", ["frequency"]),
    "ix_contact_rfm_monetary": ("contact_rfm", ["monetary"]),
    "ix_contact_scores_value": ("contact_scores", ["score", "value"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
