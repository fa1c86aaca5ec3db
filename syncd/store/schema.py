"""The tables of the store. Migrations in ``migrations/versions`` create and evolve them.

Tags, list memberships and attributes are kept per source (the connector instance that
reported them). What a destination holds is what its own instance reported, plus what syncd
confirmed there: ``managed`` marks what syncd itself added, so ``managed`` mode removes only that.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UtcTime(sa.types.TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back as an aware UTC datetime on every store
    (SQLite keeps no time zone, so a time is converted to UTC before it is written)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Time = UtcTime()
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("external_id", sa.String(255), primary_key=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("consent", sa.String(16)),  # granted | revoked | NULL: this source's evidence
    sa.Column("updated_at", Time, nullable=False),
    # the vendor's time of the newest contact record applied for it: an older one (a webhook
    # retried or delivered late) is skipped, not written over newer state
    sa.Column("vendor_at", Time),
    sa.Index("ix_identities_contact", "contact_id", "connector"),
)

# What each source said of a contact's attributes; resolve picks the winners.
attributes = sa.Table(
    "attributes",
    metadata,
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("num", sa.Float),
    sa.Column("ts", Time),
    sa.Column("updated_at", Time, nullable=False),
)

# The resolved value of each field, typed for comparison.
contact_fields = sa.Table(
    "contact_fields",
    metadata,
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("num", sa.Float),
    sa.Column("ts", Time),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Index("ix_contact_fields_name_value", "name", "value"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),  # as the tool spells it: "CENNIK (3)"
    sa.Column("name", sa.String(255), nullable=False),  # without a counter: "CENNIK"
    sa.Column("count", sa.Integer),  # the counter, when the tag carries one
    sa.Column("score", sa.Float),  # the tool's score on the tag (a scoring tag)
    sa.Column("ref", sa.String(100)),  # the vendor's id of the tag link
    sa.Column("managed", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_tags_name", "name", "source"),
    sa.Column("since", Time),  # when the contact got the tag (first seen; migration 0020)
    sa.Index("ix_tags_since", "since"),  # a window's edge passed, by range (0022)
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("list", sa.String(255), primary_key=True),
    # subscribed | unsubscribed (the person's) | removed (by syncd: may be added back)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(100)),
    sa.Column("managed", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("since", Time),  # when the membership took its status (first seen; 0020)
    sa.Index("ix_memberships_since", "since"),  # a window's edge passed, by range (0022)
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id")),  # NULL until resolved
    sa.Column("contact_ref", sa.String(255)),  # the source's contact id, to resolve later
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("raw_type", sa.String(200)),
    sa.Column("occurred_at", Time, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("properties", Json),
    sa.UniqueConstraint("source", "external_id", name="uq_events_source_external"),
    sa.Index("ix_events_contact_type_time", "contact_id", "type", "occurred_at"),
    sa.Index("ix_events_type_contact", "type", "contact_id", "occurred_at", "value"),
    # the events whose time a window's edge passed since the last compute, by range
    sa.Index("ix_events_time", "occurred_at", "type", "contact_id"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("updated_at", Time, nullable=False),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("computed_at", Time, nullable=False),
    sa.Column("changed_at", Time),
    sa.Column("definition", sa.String(64)),  # a digest of the compiled rule it was computed by
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    sa.Column("segment", sa.String(200), primary_key=True),
    sa.Column("contact_id", Id, primary_key=True),
    sa.Column("since", Time, nullable=False),
    sqlite_with_rowid=False,
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("destination", sa.String(100), nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.Text),
    # pending -> done | failed, or held (a guard), or superseded (a later plan dropped it)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("run_id", sa.String(32)),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # a push that took the change into its batch, until when (a lease a crashed holder loses)
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_until", Time),
    sa.Index("ix_outbox_destination_status", "destination", "status"),
    sa.Index("ix_outbox_pending_contact", "destination", "status", "contact_id"),
    # a change looked up as such (adopting what a push sent unanswered, a failure remembered)
    sa.Index("ix_outbox_change", "destination", "contact_id", "kind", "key", "status"),
    sa.Index("ix_outbox_status_updated", "status", "updated_at"),  # compaction
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time),
    # running | ok | partial | held | stopped | failed | killed | abandoned
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("counts", Json),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.String(100)),  # where the run runs, to tell when it died
    sa.Column("pid", sa.String(64)),  # its process: "pid:start time"
    sa.Column("heartbeat_at", Time),  # PostgreSQL: the database's time of its last sign of life
    sa.Index("ix_runs_outcome", "outcome"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32)),
    sa.Column("connector", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("record", sa.Text),
    sa.Column("created_at", Time, nullable=False),
)

# Small facts of the store itself, such as the source precedence the fields were resolved with.
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text),
)

# Deals of a CRM, and the contacts each is associated with.
deals = sa.Table(
    "deals",
    metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("external_id", sa.String(255), primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("stage", sa.String(200)),
    sa.Column("status", sa.String(16)),  # open | won | lost
    sa.Column("pipeline", sa.String(200)),
    sa.Column("owner", sa.String(320)),  # the owner's e-mail
    sa.Column("amount", sa.Float),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("created_at", Time),  # migration 0018
    sa.Column("closed_at", Time),  # closed, or (an open deal) expected to close
)

deal_contacts = sa.Table(
    "deal_contacts",
    metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("deal_id", sa.String(255), primary_key=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), primary_key=True),
    sa.Index("ix_deal_contacts_contact", "contact_id"),
)

# Computed each cycle: score values, and the RFM of each purchaser. Like segment_members,
# written only by compute from the contacts' own ids: no foreign key to check on each row.
contact_scores = sa.Table(
    "contact_scores",
    metadata,
    sa.Column("score", sa.String(200), primary_key=True),
    sa.Column("contact_id", Id, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_contact_scores_value", "score", "value"),  # a top share by walking it
    sqlite_with_rowid=False,
)

# A score with a half-life is stored at its reference time (syncd.segments.scores): what its
# values are multiplied by to give their worth at the last compute (1 without a half-life).
score_scales = sa.Table(
    "score_scales",
    metadata,
    sa.Column("score", sa.String(200), primary_key=True),
    sa.Column("reference_at", Time, nullable=True),
    sa.Column("scale", sa.Float, nullable=False),
)

# The score now minus the score ``over_seconds`` earlier, for each window a segment asks about
# (at the reference time too: times ``score_scales.scale`` for its worth at the last compute).
contact_score_changes = sa.Table(
    "contact_score_changes",
    metadata,
    sa.Column("score", sa.String(200), primary_key=True),
    sa.Column("over_seconds", sa.Integer, primary_key=True),
    sa.Column("contact_id", Id, primary_key=True),
    sa.Column("change", sa.Float, nullable=False),
    sa.Index("ix_contact_score_changes_change", "score", "over_seconds", "change"),  # 0011
    sqlite_with_rowid=False,
)

contact_rfm = sa.Table(
    "contact_rfm",
    metadata,
    sa.Column("contact_id", Id, primary_key=True),
    sa.Column("recency", Time, nullable=False),  # the last order's time
    sa.Column("frequency", sa.Integer, nullable=False),
    sa.Column("monetary", sa.Float, nullable=False),
    sa.Column("r", sa.Integer, nullable=False),
    sa.Column("f", sa.Integer, nullable=False),
    sa.Column("m", sa.Integer, nullable=False),
    sa.Column("class", sa.String(32), nullable=False),
    # the quintile cuts found again by walking each measure's index (migration 0010)
    sa.Index("ix_contact_rfm_recency", "recency"),
    sa.Index("ix_contact_rfm_frequency", "frequency"),
    sa.Index("ix_contact_rfm_monetary", "monetary"),
)

# Each compute's size of each segment, with the members it added and removed, at the
# compute's time: the status page's charts. Pruned after store.history_retention.
segment_history = sa.Table(
    "segment_history",
    metadata,
    sa.Column("segment", sa.String(200), primary_key=True),
    sa.Column("at", Time, primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("added", sa.Integer, nullable=False),
    sa.Column("removed", sa.Integer, nullable=False),
    sa.Index("ix_segment_history_at", "at"),  # pruning, and the latest compute's time
)

# What the buy-till-you-die model predicts for each purchaser over the configured horizon
# (syncd.segments.predict), rewritten whole at each fit (migration 0014).
contact_predictions = sa.Table(
    "contact_predictions",
    metadata,
    sa.Column("contact_id", Id, primary_key=True),
    sa.Column("expected_orders", sa.Float, nullable=False),
    sa.Column("p_alive", sa.Float, nullable=False),
    sa.Column("churn_risk", sa.Float, nullable=False),  # 1 - p_alive
    sa.Column("value", sa.Float),  # expected orders x expected spend; NULL: no spend model
    sa.Column("next_order_at", Time),  # NULL: none expected within ten years
    sa.Column("fitted_at", Time, nullable=False),
    # a top share of each by walking its index
    sa.Index("ix_contact_predictions_churn_risk", "churn_risk"),
    sa.Index("ix_contact_predictions_value", "value"),
)

# The contacts whose data a rule reads changed since the last compute: filled by triggers
# (migration 0008) on every insert, delete and real change of those rows; taken by compute.
changed_contacts = sa.Table(
    "changed_contacts",
    metadata,
    sa.Column("contact_id", Id, primary_key=True, autoincrement=False),
)

# One row per line of an event's ``items`` list (docs/events.md, Line items), with the event's
# contact, type and time: kept by triggers on ``events`` (migration 0012), never written here.
event_items = sa.Table(
    "event_items",
    metadata,
    sa.Column("event_id", Id, primary_key=True, autoincrement=False),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),  # from 0
    sa.Column("contact_id", Id),  # NULL until the event is linked to its contact
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("occurred_at", Time, nullable=False),
    sa.Column("product", sa.Text),
    sa.Column("variant", sa.Text),
    sa.Column("sku", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("vendor", sa.Text),
    sa.Column("quantity", sa.Integer),
    sa.Column("price", sa.Float),
    sa.Index("ix_event_items_contact", "contact_id", "type", "occurred_at"),
    sa.Index("ix_event_items_sku", "sku", "type"),
    sa.Index("ix_event_items_category", "category", "type"),
)

# The views `sql:` segments read are created by migrations 0002 and 0012 (docs/segments.md).

# Webhook deliveries as received (syncd.webhooks.inbox): stored before the vendor is answered,
# applied through the record path by the micro-cycle, kept after that (applied_at set) so a
# replay of the same vendor delivery id is recognised, and pruned after a few days.
webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("delivery_id", sa.String(200)),  # the vendor's; NULL when it gives none
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("headers", Json, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("applied_at", Time),
    sa.Column("outcome", sa.Text),  # what applying it did, or why it could not be applied
    sa.UniqueConstraint("instance", "delivery_id", name="uq_webhook_inbox_delivery"),
    sa.Index("ix_webhook_inbox_pending", "applied_at", "id"),
)
