"""Since when a tag or list membership is held has time edges, as an event's time has: an
incremental compute finds the contacts whose ``since`` a window's edge passed by a range
over an index, and a change of ``since`` marks the contact changed (the update triggers on
``tags`` and ``memberships`` compare it too), so a segment with ``since:`` is computed for
its scope instead of whole.

Create Date: 2026-12-07
"""

from alembic import op

from syncd.store.migrations.change_triggers import remake_update_trigger

revision = "0022"
down_revision = "0021"

# table -> the columns its update trigger compares (0008, and 0016 for a tag's score)
READ = {
    "tags": ("contact_id", "source", "tag", "name", "count", "score"),
    "memberships": ("contact_id", "source", "list", "status"),
}


def upgrade() -> None:
    for table, columns in READ.items():
        op.create_index(f"ix_{table}_since", table, ["since"])
        remake_update_trigger(table, (*columns, "since"))


def downgrade() -> None:
    for table, columns in READ.items():
        remake_update_trigger(table, columns)
        op.drop_index(f"ix_{table}_since", table_name=table)
