"""Alembic environment: syncd hands over an open connection; no alembic.ini is needed."""

from alembic import context

from syncd.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
