"""The webhook inbox: each accepted delivery stored, in a short transaction of its own, before
the vendor is answered; the micro-cycle applies what is pending, and a replay of a delivery id
already stored is recognised and not stored twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from syncd.connectors.webhooks import WebhookDelivery, WebhookRequest
from syncd.store.engine import WRITES
from syncd.store.schema import webhook_inbox

STORE_WAIT = 3.0  # seconds a delivery waits for the store: vendors wait about 5 for an answer
KEEP = timedelta(days=7)  # an applied delivery is remembered this long: vendors retry for days
#: what verified a request, not stored with it
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
SECRET_PARAMS = frozenset({"token"})


@dataclass(frozen=True)
class Stored:
    """One stored delivery, as the micro-cycle reads it back."""

    id: int
    instance: str
    delivery_id: str | None
    request: WebhookRequest


def store_delivery(
    engine: sa.Engine,
    instance: str,
    request: WebhookRequest,
    delivery: WebhookDelivery,
    wait: float | None = None,
) -> bool:
    """Store ``request`` durably; False when its delivery id was stored before (a replay).
    On SQLite, waits at most ``wait`` seconds for another writer (OperationalError then)."""
    return store_deliveries(engine, [inbox_row(instance, request, delivery)], wait)[0]


def inbox_row(instance: str, request: WebhookRequest, delivery: WebhookDelivery) -> dict[str, Any]:
    """The ``webhook_inbox`` row of a delivery, without the secrets that verified it."""
    return {
        "instance": instance,
        "delivery_id": delivery.id[:200] if delivery.id else None,
        "topic": delivery.topic[:200],
        "method": request.method,
        "url": without_secrets(request.url),
        "headers": {k: v for k, v in request.headers.items() if k not in SECRET_HEADERS},
        "body": request.body,
        "received_at": request.received_at,
    }


def store_deliveries(
    engine: sa.Engine, rows: list[dict[str, Any]], wait: float | None = None
) -> list[bool]:
    """Store the ``inbox_row``s in one transaction (one commit however many); for each, False
    when its delivery id was stored before, or earlier in ``rows`` (a replay). On SQLite,
    waits at most ``wait`` seconds for another writer (OperationalError then). An
    IntegrityError stores none of them."""
    wait = STORE_WAIT if wait is None else wait
    with engine.connect() as conn:
        seen = _seen(conn, rows)
        conn.rollback()  # the check reads outside the write transaction: a replay never waits
        fresh = []
        for row in rows:
            key = (row["instance"], row["delivery_id"])
            fresh.append(row["delivery_id"] is None or key not in seen)
            if row["delivery_id"] is not None:
                seen.add(key)
        new = [row for row, is_new in zip(rows, fresh, strict=True) if is_new]
        if not new:
            return fresh
        # on SQLite the vendor waits a few seconds for its answer, not the busy timeout (set
        # on the driver's connection: a statement through SQLAlchemy would begin one)
        driver: Any = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if driver is not None:
            kept = driver.execute("PRAGMA busy_timeout").fetchone()[0]
            driver.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            with conn.execution_options(**{WRITES: True}).begin():
                conn.execute(webhook_inbox.insert(), new)
        except sa.exc.IntegrityError:
            if len(rows) == 1 and rows[0]["delivery_id"] is not None and _seen(conn, rows):
                conn.rollback()
                return [False]  # the same delivery, stored by a request racing this one
            raise  # anything else was not stored: never answered as if it were
        finally:
            if driver is not None:
                driver.execute(f"PRAGMA busy_timeout = {int(kept)}")
    return fresh


def without_secrets(url: str) -> str:
    """``url`` with the value of a ``token`` parameter left out: the inbox keeps what reading
    a delivery needs, never the secret that verified it."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, "-" if k in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _seen(conn: sa.Connection, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The (instance, delivery id) of ``rows`` stored already."""
    ids = {(row["instance"], row["delivery_id"]) for row in rows if row["delivery_id"]}
    found: set[tuple[str, str]] = set()
    for instance in {instance for instance, _ in ids}:
        named = sorted(d for i, d in ids if i == instance)
        found.update(
            (instance, str(d))
            for d in conn.execute(
                sa.select(webhook_inbox.c.delivery_id).where(
                    webhook_inbox.c.instance == instance,
                    webhook_inbox.c.delivery_id.in_(named),
                )
            ).scalars()
        )
    return found


def pending_count(engine: sa.Engine) -> int:
    """Deliveries stored and not applied yet."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(webhook_inbox.c.applied_at.is_(None))
            ).scalar_one()
        )


def pending(conn: sa.Connection, limit: int = 1000, after: int = 0) -> list[Stored]:
    """The oldest deliveries not applied yet (past inbox id ``after``), in the order they came."""
    rows = conn.execute(
        sa.select(webhook_inbox)
        .where(webhook_inbox.c.applied_at.is_(None), webhook_inbox.c.id > after)
        .order_by(webhook_inbox.c.id)
        .limit(limit)
    ).mappings()
    return [_stored(row) for row in rows]


def _stored(row: Any) -> Stored:
    headers = dict(row["headers"] or {})
    url = str(row["url"])
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    request = WebhookRequest(
        method=str(row["method"]),
        url=url,
        headers=headers,
        query=query,
        body=bytes(row["body"]),
        received_at=row["received_at"],
    )
    return Stored(int(row["id"]), str(row["instance"]), row["delivery_id"], request)


def mark_applied(conn: sa.Connection, inbox_ids: list[int], now: datetime, outcome: str) -> None:
    """Record that the deliveries were applied, with ``outcome``; their bodies are let go."""
    conn.execute(
        webhook_inbox.update()
        .where(webhook_inbox.c.id.in_(inbox_ids))
        .values(applied_at=now, outcome=outcome[:2000], body=b"")
    )


def mark_not_applied(conn: sa.Connection, inbox_id: int, outcome: str) -> None:
    """Record why the delivery could not be applied now; it stays pending, its body kept, and
    the next micro-cycle tries it again."""
    conn.execute(
        webhook_inbox.update().where(webhook_inbox.c.id == inbox_id).values(outcome=outcome[:2000])
    )


def prune(conn: sa.Connection, now: datetime, keep: timedelta = KEEP) -> int:
    """Forget applied deliveries older than ``keep``; return how many."""
    return int(
        conn.execute(
            webhook_inbox.delete().where(
                webhook_inbox.c.applied_at.is_not(None), webhook_inbox.c.received_at < now - keep
            )
        ).rowcount
    )
