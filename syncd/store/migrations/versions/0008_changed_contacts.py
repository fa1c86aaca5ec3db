"""Change tracking for an incremental compute: ``changed_contacts`` holds every contact whose
data a rule can read changed since the last compute, filled by triggers; events are indexed
by time, so the contacts whose time windows crossed a boundary are found by a range.

Triggers, not the writers, mark the contacts: every writer (a pulled page, resolve, a push
confirming a tag, a link of pending events) is seen the same way, deletes included. An
update that leaves every column a rule reads as it was (an echo: only ``updated_at`` or a
vendor's ref moved) marks nothing. On PostgreSQL the mark takes the row's lock (``DO UPDATE
... WHERE false``), so a compute that takes the marks waits for a writer that marked one to
commit, and then reads what it wrote.

Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# table -> (the column naming the contact, the columns a rule reads)
TRACKED: dict[str, tuple[str, tuple[str, ...]]] = {
    "contacts": ("id", ("id",)),
    "events": ("contact_id", ("contact_id", "type", "occurred_at", "value", "properties")),
    "tags": ("contact_id", ("contact_id", "source", "tag", "name", "count")),
    "memberships": ("contact_id", ("contact_id", "source", "list", "status")),
    "contact_fields": ("contact_id", ("contact_id", "name", "value", "num", "ts")),
    "deal_contacts": ("contact_id", ("contact_id", "source", "deal_id")),
}
DEAL_COLUMNS = ("stage", "status", "pipeline", "owner", "amount")
_DEAL_CONTACTS = (
    "SELECT contact_id FROM deal_contacts WHERE source = {row}.source "
    "AND deal_id = {row}.external_id"
)


def upgrade() -> None:
    op.create_table(
        "changed_contacts",
        sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
    )
    op.add_column("segments", sa.Column("definition", sa.String(64)))
    op.create_index("ix_events_time", "events", ["occurred_at", "type", "contact_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()
    # everything there is counts as changed: the first compute after this is whole anyway
    op.execute("INSERT INTO changed_contacts (contact_id) SELECT id FROM contacts")


def downgrade() -> None:
    bind = op.get_bind()
    for table in (*TRACKED, "deals"):
        for when in ("insert", "update", "delete"):
            name = f"syncd_changed_{table}_{when}"
            if bind.dialect.name == "postgresql":
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS syncd_mark_changed()")
        op.execute("DROP FUNCTION IF EXISTS syncd_mark_deal_changed()")
    op.drop_index("ix_events_time", table_name="events")
    op.drop_column("segments", "definition")
    op.drop_table("changed_contacts")


def _differs(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _sqlite_triggers() -> None:
    # NOT EXISTS, not INSERT OR IGNORE: a trigger's conflict clause gives way to the outer
    # statement's, and an upsert's is to fail
    def mark(row: str, column: str) -> str:
        return (
            f"INSERT INTO changed_contacts (contact_id) SELECT {row}.{column} "
            f"WHERE {row}.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM changed_contacts "
            f"WHERE contact_id = {row}.{column});"
        )

    for table, (column, read) in TRACKED.items():
        op.execute(
            f"CREATE TRIGGER syncd_changed_{table}_insert AFTER INSERT ON {table} "
            f"BEGIN {mark('NEW', column)} END"
        )
        op.execute(
            f"CREATE TRIGGER syncd_changed_{table}_update AFTER UPDATE ON {table} "
            f"WHEN {_differs(read, 'IS NOT')} "
            f"BEGIN {mark('OLD', column)} {mark('NEW', column)} END"
        )
        op.execute(
            f"CREATE TRIGGER syncd_changed_{table}_delete AFTER DELETE ON {table} "
            f"BEGIN {mark('OLD', column)} END"
        )
    for when, row in (("update", "NEW"), ("delete", "OLD")):
        condition = f"WHEN {_differs(DEAL_COLUMNS, 'IS NOT')} " if when == "update" else ""
        op.execute(
            f"CREATE TRIGGER syncd_changed_deals_{when} AFTER {when.upper()} ON deals "
            f"{condition}BEGIN INSERT INTO changed_contacts (contact_id) "
            f"{_DEAL_CONTACTS.format(row=row)} AND contact_id NOT IN "
            f"(SELECT contact_id FROM changed_contacts); END"
        )


_PG_MARK = """
CREATE FUNCTION syncd_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_id bigint;
  new_id bigint;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_id := to_jsonb(OLD) ->> TG_ARGV[0]; END IF;
  IF TG_OP <> 'DELETE' THEN new_id := to_jsonb(NEW) ->> TG_ARGV[0]; END IF;
  INSERT INTO changed_contacts (contact_id)
    SELECT DISTINCT id FROM (VALUES (old_id), (new_id)) AS marks (id) WHERE id IS NOT NULL
    ON CONFLICT (contact_id) DO UPDATE SET contact_id = EXCLUDED.contact_id WHERE false;
  RETURN NULL;
END $$
"""

_PG_MARK_DEAL = f"""
CREATE FUNCTION syncd_mark_deal_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO changed_contacts (contact_id) {_DEAL_CONTACTS.format(row="OLD")}
    ON CONFLICT (contact_id) DO UPDATE SET contact_id = EXCLUDED.contact_id WHERE false;
  RETURN NULL;
END $$
"""


def _postgres_triggers() -> None:
    op.execute(_PG_MARK)
    op.execute(_PG_MARK_DEAL)
    for table, (column, read) in TRACKED.items():
        for when in ("insert", "update", "delete"):
            condition = f"WHEN ({_differs(read, 'IS DISTINCT FROM')}) " if when == "update" else ""
            op.execute(
                f"CREATE TRIGGER syncd_changed_{table}_{when} AFTER {when.upper()} ON {table} "
                f"FOR EACH ROW {condition}EXECUTE FUNCTION syncd_mark_changed('{column}')"
            )
    for when in ("update", "delete"):
        differs = _differs(DEAL_COLUMNS, "IS DISTINCT FROM")
        condition = f"WHEN ({differs}) " if when == "update" else ""
        op.execute(
            f"CREATE TRIGGER syncd_changed_deals_{when} AFTER {when.upper()} ON deals "
            f"FOR EACH ROW {condition}EXECUTE FUNCTION syncd_mark_deal_changed()"
        )
