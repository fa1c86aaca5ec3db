"""Events indexed by type, then contact: segment rules read one type grouped by contact;
the outbox indexed by contact within a destination's pending changes, for push.

It replaces the index by type and time: a time window over one type reads that type's part
of the new index (covering), and the planner no longer picks the old one to find rows by
time and then fetch each row for its contact.

Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # covering for counts, first/last times and purchase totals of one event type per contact
    op.create_index(
        "ix_events_type_contact", "events", ["type", "contact_id", "occurred_at", "value"]
    )
    op.drop_index("ix_events_type_time", table_name="events")
    # push takes the pending changes contact by contact
    op.create_index("ix_outbox_pending_contact", "outbox", ["destination", "status", "contact_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_contact", table_name="outbox")
    op.create_index("ix_events_type_time", "events", ["type", "occurred_at"])
    op.drop_index("ix_events_type_contact", table_name="events")
