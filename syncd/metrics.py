"""Prometheus metrics of one syncd process.

Every part of syncd records into the one registry here; the daemon serves it on ``/metrics``.
A one-shot command records too and never serves it, which costs nothing worth measuring.
Label values are connector instance, destination, stream, kind and job names from the config,
so the number of series stays bounded by the config.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

RECORDS_PULLED = Counter(
    "syncd_records_pulled",
    "Records read from a source and stored, by connector instance and stream.",
    ["instance", "stream"],
    registry=REGISTRY,
)
QUARANTINED = Counter(
    "syncd_records_quarantined",
    "Records set aside as unreadable, by connector instance and stream.",
    ["instance", "stream"],
    registry=REGISTRY,
)
CHANGES_PUSHED = Counter(
    "syncd_changes_pushed",
    "Changes sent to a destination, by destination, kind and result (done, retryable, failed).",
    ["destination", "kind", "result"],
    registry=REGISTRY,
)
SEGMENT_SIZE = Gauge(
    "syncd_segment_size",
    "Members of each segment at its last compute.",
    ["segment"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "syncd_run_duration_seconds",
    "Duration of each job run, by job and outcome (ok, partial, held, failed, stopped).",
    ["job", "outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "syncd_last_success_timestamp_seconds",
    "Unix time at which each job last finished with outcome ok.",
    ["job"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "syncd_outbox_backlog",
    "Changes waiting in the outbox, by destination and status (pending, held).",
    ["destination", "status"],
    registry=REGISTRY,
)
OUTBOX_CHANGES = Gauge(
    "syncd_outbox_changes",
    "Changes in the outbox by destination and state: pending (not tried yet), retrying "
    "(pending again after a failed attempt), held (by a guard), failed (given up).",
    ["destination", "state"],
    registry=REGISTRY,
)
LAST_RUN_OK = Gauge(
    "syncd_last_run_ok",
    "1 when each job's latest finished run ended ok (or held), 0 when it failed, was "
    "partial (a part failed or changes were left to retry), or its process died.",
    ["job"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "syncd_api_requests",
    "HTTP requests made to vendor APIs, by connector instance and status code "
    "('error' when no response came).",
    ["instance", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "syncd_rate_limit_wait_seconds",
    "Seconds spent waiting for a vendor's rate limit, by connector instance.",
    ["instance"],
    registry=REGISTRY,
)
WEBHOOKS_RECEIVED = Counter(
    "syncd_webhooks_received",
    "Webhook deliveries verified and stored, by connector instance and topic.",
    ["instance", "topic"],
    registry=REGISTRY,
)
WEBHOOKS_REPLAYED = Counter(
    "syncd_webhooks_replayed",
    "Webhook deliveries answered 200 but not stored again: their id was stored before.",
    ["instance"],
    registry=REGISTRY,
)
WEBHOOKS_REFUSED = Counter(
    "syncd_webhooks_refused",
    "Webhook requests refused, by connector instance and reason (unauthorized, unreadable, "
    "too_large, queue_full, busy, failed).",
    ["instance", "reason"],
    registry=REGISTRY,
)
WEBHOOK_LAG = Histogram(
    "syncd_webhook_lag_seconds",
    "Seconds from a webhook's arrival to the end of the micro-cycle that applied and pushed it.",
    ["instance"],
    buckets=(0.5, 1, 2, 3, 5, 10, 30, 60, 300, 1800),
    registry=REGISTRY,
)
WEBHOOKS_PENDING = Gauge(
    "syncd_webhooks_pending",
    "Webhook deliveries stored and not applied yet.",
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
