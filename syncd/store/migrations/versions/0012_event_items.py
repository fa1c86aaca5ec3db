"""Line items as rows: ``event_items`` holds each line of an event's ``items`` list (product,
variant, sku, category, vendor, quantity, price), with the event's contact, type and time, so
rules such as ``bought: {sku: X}`` or ``spent: {where: {category: Shoes}}`` are plain indexed
selects on both stores instead of JSON walks over every order.

Triggers on ``events``, not the writers, keep it: every writer (a pulled page, a link of
pending events, a merge moving events to another contact, an order turned cancelled) is seen
the same way, and the rows follow their event in the same statement. Only values of the
documented types are kept (text as text, quantity a whole number, price a number; anything
else is NULL), the same way on SQLite and PostgreSQL. Existing events are read once here.

Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
TEXTS = ("product", "variant", "sku", "category", "vendor")
# the columns of an event the rows copy: a change of any of them rewrites the event's rows
READ = ("contact_id", "type", "occurred_at", "properties")
VIEW = (
    "SELECT contact_id, event_id, position, type, occurred_at, product, variant, sku, "
    "category, vendor, quantity, price FROM event_items WHERE contact_id IS NOT NULL"
)


def upgrade() -> None:
    op.create_table(
        "event_items",
        sa.Column("event_id", Id, primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("contact_id", Id),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("occurred_at", Time, nullable=False),
        *[sa.Column(name, sa.Text) for name in TEXTS],
        sa.Column("quantity", sa.Integer),
        sa.Column("price", sa.Float),
    )
    op.create_index("ix_event_items_contact", "event_items", ["contact_id", "type", "occurred_at"])
    op.create_index("ix_event_items_sku", "event_items", ["sku", "type"])
    op.create_index("ix_event_items_category", "event_items", ["category", "type"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()
    op.execute(f"CREATE VIEW syncd_items AS {VIEW}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS syncd_items")
    postgres = op.get_bind().dialect.name == "postgresql"
    for when in ("insert", "update", "delete"):
        name = f"syncd_items_{when}"
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON events" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS syncd_event_items()")
    op.drop_table("event_items")


def _sqlite_insert(row: str) -> str:
    def text(name: str) -> str:
        path = f"'$.{name}'"
        return (
            f"CASE WHEN json_type(j.value, {path}) = 'text' THEN json_extract(j.value, {path}) END"
        )

    quantity = (
        "CASE WHEN json_type(j.value, '$.quantity') IN ('integer', 'real') "
        "AND json_extract(j.value, '$.quantity') = CAST(json_extract(j.value, '$.quantity') "
        "AS INTEGER) THEN CAST(json_extract(j.value, '$.quantity') AS INTEGER) END"
    )
    price = (
        "CASE WHEN json_type(j.value, '$.price') IN ('integer', 'real') "
        "THEN CAST(json_extract(j.value, '$.price') AS REAL) END"
    )
    return (
        "INSERT INTO event_items (event_id, position, contact_id, type, occurred_at, "
        f"{', '.join(TEXTS)}, quantity, price) "
        f"SELECT {row}.id, j.key, {row}.contact_id, {row}.type, {row}.occurred_at, "
        f"{', '.join(text(n) for n in TEXTS)}, {quantity}, {price} "
        f"FROM json_each({row}.properties, '$.items') AS j "
        f"WHERE json_type({row}.properties, '$.items') = 'array' AND j.type = 'object';"
    )


def _sqlite() -> None:
    has_items = "json_type(NEW.properties, '$.items') = 'array'"
    differs = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in READ)
    op.execute(
        f"CREATE TRIGGER syncd_items_insert AFTER INSERT ON events WHEN {has_items} "
        f"BEGIN {_sqlite_insert('NEW')} END"
    )
    op.execute(
        f"CREATE TRIGGER syncd_items_update AFTER UPDATE ON events WHEN {differs} "
        f"BEGIN DELETE FROM event_items WHERE event_id = OLD.id; {_sqlite_insert('NEW')} END"
    )
    op.execute(
        "CREATE TRIGGER syncd_items_delete AFTER DELETE ON events "
        "BEGIN DELETE FROM event_items WHERE event_id = OLD.id; END"
    )
    op.execute(
        _sqlite_insert("events").replace("FROM json_each", "FROM events, json_each").rstrip(";")
    )


def _pg_select(row: str) -> str:
    def text(name: str) -> str:
        return f"CASE WHEN jsonb_typeof(j.e -> '{name}') = 'string' THEN j.e ->> '{name}' END"

    number = "(j.e ->> '{0}')::numeric"
    is_number = "jsonb_typeof(j.e -> '{0}') = 'number'"
    quantity = (
        f"CASE WHEN {is_number.format('quantity')} AND {number.format('quantity')} = "
        f"trunc({number.format('quantity')}) THEN {number.format('quantity')}::integer END"
    )
    price = f"CASE WHEN {is_number.format('price')} THEN {number.format('price')}::float8 END"
    items = (
        f"CASE WHEN jsonb_typeof({row}.properties -> 'items') = 'array' "
        f"THEN {row}.properties -> 'items' ELSE '[]'::jsonb END"
    )
    return (
        "INSERT INTO event_items (event_id, position, contact_id, type, occurred_at, "
        f"{', '.join(TEXTS)}, quantity, price) "
        f"SELECT {row}.id, j.n - 1, {row}.contact_id, {row}.type, {row}.occurred_at, "
        f"{', '.join(text(n) for n in TEXTS)}, {quantity}, {price} "
        f"FROM jsonb_array_elements({items}) WITH ORDINALITY AS j (e, n) "
        "WHERE jsonb_typeof(j.e) = 'object'"
    )


def _postgres() -> None:
    op.execute(
        "CREATE FUNCTION syncd_event_items() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF TG_OP <> 'INSERT' THEN DELETE FROM event_items WHERE event_id = OLD.id; END IF;\n"
        f"  IF TG_OP <> 'DELETE' THEN {_pg_select('NEW')}; END IF;\n"
        "  RETURN NULL;\n"
        "END $$"
    )
    differs = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in READ)
    conditions = {
        "insert": "WHEN (jsonb_typeof(NEW.properties -> 'items') = 'array') ",
        "update": f"WHEN ({differs}) ",
        "delete": "",
    }
    for when, condition in conditions.items():
        op.execute(
            f"CREATE TRIGGER syncd_items_{when} AFTER {when.upper()} ON events "
            f"FOR EACH ROW {condition}EXECUTE FUNCTION syncd_event_items()"
        )
    op.execute(
        _pg_select("events").replace(
            "FROM jsonb_array_elements", "FROM events, jsonb_array_elements"
        )
    )
