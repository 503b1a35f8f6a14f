"""Alembic environment: runs migrations on the connection handed over by `opsmgr.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from opsmgr.store.schema import metadata

config = context.config
connection = config.attributes["connection"]

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # several server processes may start at once on one PostgreSQL: migrate one at a time
        connection.execute(text("SELECT pg_advisory_xact_lock(7265100)"))
    context.run_migrations()
