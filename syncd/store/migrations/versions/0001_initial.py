"""The first schema: contacts, identities, attributes, fields, tags, lists, events,
cursors, segments, outbox, runs, quarantine and meta.

Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _contact_fk() -> sa.ForeignKey:
    return sa.ForeignKey("contacts.id")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "identities",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column("contact_id", Id, _contact_fk(), nullable=False),
        sa.Column("consent", sa.String(16)),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_identities_contact", "identities", ["contact_id", "connector"])
    op.create_table(
        "attributes",
        sa.Column("contact_id", Id, _contact_fk(), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("num", sa.Float),
        sa.Column("ts", Time),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "contact_fields",
        sa.Column("contact_id", Id, _contact_fk(), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("num", sa.Float),
        sa.Column("ts", Time),
        sa.Column("source", sa.String(100), nullable=False),
    )
    op.create_index("ix_contact_fields_name_value", "contact_fields", ["name", "value"])
    op.create_table(
        "tags",
        sa.Column("contact_id", Id, _contact_fk(), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("tag", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("count", sa.Integer),
        sa.Column("ref", sa.String(100)),
        sa.Column("managed", sa.Boolean, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_tags_name", "tags", ["name", "source"])
    op.create_table(
        "memberships",
        sa.Column("contact_id", Id, _contact_fk(), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("list", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(100)),
        sa.Column("managed", sa.Boolean, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("contact_id", Id, _contact_fk()),
        sa.Column("contact_ref", sa.String(255)),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("raw_type", sa.String(200)),
        sa.Column("occurred_at", Time, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("properties", Json),
        sa.UniqueConstraint("source", "external_id", name="uq_events_source_external"),
    )
    op.create_index("ix_events_contact_type_time", "events", ["contact_id", "type", "occurred_at"])
    op.create_index("ix_events_type_time", "events", ["type", "occurred_at"])
    op.create_table(
        "cursors",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("stream", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "segments",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("computed_at", Time, nullable=False),
        sa.Column("changed_at", Time),
    )
    op.create_table(
        "segment_members",
        sa.Column("segment", sa.String(200), primary_key=True),
        sa.Column("contact_id", Id, _contact_fk(), primary_key=True),
        sa.Column("since", Time, nullable=False),
    )
    op.create_index("ix_segment_members_contact", "segment_members", ["contact_id"])
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("contact_id", Id, _contact_fk(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("run_id", sa.String(32)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_outbox_destination_status", "outbox", ["destination", "status"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("counts", Json),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32)),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text),
    )


def downgrade() -> None:
    for table in (
        "meta",
        "quarantine",
        "runs",
        "outbox",
        "segment_members",
        "segments",
        "cursors",
        "events",
        "memberships",
        "tags",
        "contact_fields",
        "attributes",
        "identities",
        "contacts",
    ):
        op.drop_table(table)
