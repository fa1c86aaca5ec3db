"""Predictions per purchaser: expected orders, P(alive), churn risk, predicted value and next
order date over the configured horizon, from the BG/NBD and Gamma-Gamma fit
(syncd.segments.predict). The fit itself is a meta row.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "contact_predictions",
        sa.Column(
            "contact_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
        ),
        sa.Column("expected_orders", sa.Float, nullable=False),
        sa.Column("p_alive", sa.Float, nullable=False),
        sa.Column("churn_risk", sa.Float, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("next_order_at", sa.DateTime(timezone=True)),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_contact_predictions_churn_risk", "contact_predictions", ["churn_risk"])
    op.create_index("ix_contact_predictions_value", "contact_predictions", ["value"])


def downgrade() -> None:
    op.drop_index("ix_contact_predictions_value", table_name="contact_predictions")
    op.drop_index("ix_contact_predictions_churn_risk", table_name="contact_predictions")
    op.drop_table("contact_predictions")
