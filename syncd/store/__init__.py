"""The store: SQL schema, migrations, and the queries the core needs."""

import sqlalchemy as sa

from syncd.store.engine import create_engine, describe, head_revision, migrate
from syncd.store.schema import metadata


def open_store(url: str) -> sa.Engine:
    """An engine on ``url`` with the schema migrated to head."""
    engine = create_engine(url)
    migrate(engine)
    return engine


__all__ = ["create_engine", "describe", "head_revision", "metadata", "migrate", "open_store"]
