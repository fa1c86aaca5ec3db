"""Since when a tag or list membership is held has time edges, as an event's time has: an
incremental compute finds the contacts whose ``since`` a window's edge passed by a range
over an index, and a change of ``since`` marks the contact changed (the update triggers on
``tags`` and ``memberships`` compare it too), so a segment with ``since:`` is computed for
its scope instead of whole.

Create Date: 2026-12-07
"""

from alembic import op

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
        _trigger(table, (*columns, "since"))


def downgrade() -> None:
    for table, columns in READ.items():
        _trigger(table, columns)
        op.drop_index(f"ix_{table}_since", table_name=table)


def _trigger(table: str, columns: tuple[str, ...]) -> None:
    name = f"syncd_changed_{table}_update"
    postgres = op.get_bind().dialect.name == "postgresql"
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    differs = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)
    if postgres:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(
            f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW WHEN ({differs}) "
            "EXECUTE FUNCTION syncd_mark_changed('contact_id')"
        )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {name}")
    mark = (
        "INSERT INTO changed_contacts (contact_id) SELECT {row}.contact_id "
        "WHERE {row}.contact_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM changed_contacts "
        "WHERE contact_id = {row}.contact_id);"
    )
    op.execute(
        f"CREATE TRIGGER {name} AFTER UPDATE ON {table} WHEN {differs} "
        f"BEGIN {mark.format(row='OLD')} {mark.format(row='NEW')} END"
    )
