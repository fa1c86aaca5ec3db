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
    wait = STORE_WAIT if wait is None else wait
    delivery_id = delivery.id[:200] if delivery.id else None
    row = {
        "instance": instance,
        "delivery_id": delivery_id,
        "topic": delivery.topic[:200],
        "method": request.method,
        "url": without_secrets(request.url),
        "headers": {k: v for k, v in request.headers.items() if k not in SECRET_HEADERS},
        "body": request.body,
        "received_at": request.received_at,
    }
    if delivery_id is not None and _seen(engine, instance, delivery_id):
        return False
    with engine.connect() as conn:
        # on SQLite the vendor waits a few seconds for its answer, not the busy timeout (set
        # on the driver's connection: a statement through SQLAlchemy would begin one)
        driver: Any = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if driver is not None:
            kept = driver.execute("PRAGMA busy_timeout").fetchone()[0]
            driver.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
        try:
            with conn.execution_options(**{WRITES: True}).begin():
                conn.execute(webhook_inbox.insert().values(**row))
        except sa.exc.IntegrityError:
            if delivery_id is not None and _seen(engine, instance, delivery_id):
                return False  # the same delivery, stored by a request racing this one
            raise  # anything else was not stored: never answered as if it were
        finally:
            if driver is not None:
                driver.execute(f"PRAGMA busy_timeout = {int(kept)}")
    return True


def without_secrets(url: str) -> str:
    """``url`` with the value of a ``token`` parameter left out: the inbox keeps what reading
    a delivery needs, never the secret that verified it."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [(k, "-" if k in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _seen(engine: sa.Engine, instance: str, delivery_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(webhook_inbox.c.id).where(
                webhook_inbox.c.instance == instance, webhook_inbox.c.delivery_id == delivery_id
            )
        ).first()
    return found is not None


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
