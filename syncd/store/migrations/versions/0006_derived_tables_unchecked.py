"""The tables compute fills each cycle lose their foreign keys and every index but their
key; on SQLite their rows are kept in key order (WITHOUT ROWID).

Segment members, scores, score changes and the RFM are written only by compute, from the
contacts' own ids, and contacts are never deleted: a check of every written row against
``contacts`` proved nothing and cost most of a first compute's writing (millions of rows).
Segment members are only ever read by segment (a segment's members, or whether a contact
is in given segments), which the key (segment, contact_id) serves: the index by contact
only cost each of those millions of rows a second write. Without a row id, SQLite keeps
one b-tree per table instead of a table and its key index.

Create Date: 2026-11-23
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Contact = "contacts.id"


def _tables(fk: bool, rowid: bool, prefix: str = "") -> list[sa.Table]:
    """The four tables as of this revision (with or without foreign keys and row ids), their
    names led by ``prefix``."""
    meta = sa.MetaData()

    def contact(primary_key: bool = True) -> sa.Column[int]:
        args = [sa.ForeignKey(Contact)] if fk else []
        return sa.Column("contact_id", Id, *args, primary_key=primary_key)

    keyed: dict[str, Any] = {} if rowid else {"sqlite_with_rowid": False}
    sa.Table("contacts", meta, sa.Column("id", Id, primary_key=True))
    return [
        sa.Table(
            prefix + "segment_members",
            meta,
            sa.Column("segment", sa.String(200), primary_key=True),
            contact(),
            sa.Column("since", Time, nullable=False),
            **keyed,
        ),
        sa.Table(
            prefix + "contact_scores",
            meta,
            sa.Column("score", sa.String(200), primary_key=True),
            contact(),
            sa.Column("value", sa.Float, nullable=False),
            **keyed,
        ),
        sa.Table(
            prefix + "contact_score_changes",
            meta,
            sa.Column("score", sa.String(200), primary_key=True),
            sa.Column("over_seconds", sa.Integer, primary_key=True),
            contact(),
            sa.Column("change", sa.Float, nullable=False),
            **keyed,
        ),
        # one key column: already the row id on SQLite
        sa.Table(
            prefix + "contact_rfm",
            meta,
            contact(),
            sa.Column("recency", Time, nullable=False),
            sa.Column("frequency", sa.Integer, nullable=False),
            sa.Column("monetary", sa.Float, nullable=False),
            sa.Column("r", sa.Integer, nullable=False),
            sa.Column("f", sa.Integer, nullable=False),
            sa.Column("m", sa.Integer, nullable=False),
            sa.Column("class", sa.String(32), nullable=False),
        ),
    ]


def upgrade() -> None:
    op.drop_index("ix_segment_members_contact", table_name="segment_members")
    _rebuild(fk=False, rowid=False)


def downgrade() -> None:
    _rebuild(fk=True, rowid=True)
    op.create_index("ix_segment_members_contact", "segment_members", ["contact_id"])


def _rebuild(fk: bool, rowid: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        for table in _tables(fk, rowid):
            if fk:
                op.create_foreign_key(
                    f"{table.name}_contact_id_fkey", table.name, "contacts", ["contact_id"], ["id"]
                )
                continue
            for key in sa.inspect(bind).get_foreign_keys(table.name):
                if key["name"]:
                    op.drop_constraint(key["name"], table.name, type_="foreignkey")
        return
    # SQLite alters neither a key nor the row id: each table is made anew and its rows copied.
    # A rename checks every view, and the views read these tables: they step aside meanwhile.
    views = bind.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'view'").all()
    for name, _ in views:
        op.execute(f"DROP VIEW {name}")
    for table in _tables(fk, rowid, prefix="_syncd_new_"):
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        final = table.name.removeprefix("_syncd_new_")
        table.create(bind)
        op.execute(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {final}")
        op.execute(f"DROP TABLE {final}")
        op.execute(f"ALTER TABLE {table.name} RENAME TO {final}")
    for _, sql in views:
        op.execute(sql)
