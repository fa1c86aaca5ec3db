"""The store: SQL schema, migrations, and the queries the core needs."""

import sqlalchemy as sa

from syncd.store.engine import BUSY_TIMEOUT, create_engine, describe, head_revision, migrate
from syncd.store.schema import metadata


def open_store(url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> sa.Engine:
    """An engine on ``url`` with the schema migrated to head (on SQLite, waiting up to
    ``busy_timeout`` seconds for another process that writes)."""
    engine = create_engine(url, busy_timeout=busy_timeout)
    migrate(engine, busy_timeout=busy_timeout)
    return engine


__all__ = ["create_engine", "describe", "head_revision", "metadata", "migrate", "open_store"]
