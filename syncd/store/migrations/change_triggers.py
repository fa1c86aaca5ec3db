"""The update trigger of a tracked table (0008 made one for each) that marks the row's contact
changed when a column a rule reads changes: remade by each migration that changes which
columns it compares. Migrations are history, so what this emits must stay as it is."""

from __future__ import annotations

from alembic import op


def remake_update_trigger(table: str, columns: tuple[str, ...]) -> None:
    """``syncd_changed_{table}_update`` dropped and made again, comparing ``columns``; the row
    names its contact in ``contact_id``."""
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
