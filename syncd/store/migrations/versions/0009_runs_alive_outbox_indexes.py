"""Runs that say where they run; an outbox indexed for adopting and claiming.

A run records the host and process it runs in (``host``, ``pid``: the process's id and
start time) and, on PostgreSQL, a heartbeat: a run, and the claims of its push, that died
with its process are known dead at once, and not after a lease runs out. A run found dead
is marked ``killed`` (its process is gone) or ``abandoned`` (its heartbeat stopped).

The outbox is looked up by change (destination, contact, kind, key) when a plan adopts what
a push sent unanswered, and by destination and status when a push claims; a change that
failed for good keeps its reason and time, and is not planned again until its contact's
data changes.

Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("host", sa.String(100)))
        batch.add_column(sa.Column("pid", sa.String(64)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
    op.create_index("ix_runs_outcome", "runs", ["outcome"])
    op.create_index(
        "ix_outbox_change", "outbox", ["destination", "contact_id", "kind", "key", "status"]
    )
    op.create_index("ix_outbox_status_updated", "outbox", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_updated", "outbox")
    op.drop_index("ix_outbox_change", "outbox")
    op.drop_index("ix_runs_outcome", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("pid")
        batch.drop_column("host")
