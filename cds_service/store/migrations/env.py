"""Alembic environment: runs on the connection ``cds_service.store.migrate`` hands over.

On PostgreSQL a transaction-scoped advisory lock serialises concurrent upgrades (two Jobs, or a Job and
an operator): the second waits, then finds the schema current and does nothing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from cds_service.store.schema import VERSION_TABLE, metadata

# A fixed key for pg_advisory_xact_lock, shared by every replica of this service.
UPGRADE_LOCK_KEY = 7_406_205_115


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # run by the plain `alembic` command: a URL in the configuration
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own_connection:
            _migrate(own_connection)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things: later revisions use batch operations
    )
    with context.begin_transaction():
        if context.get_bind().dialect.name == "postgresql":
            context.execute(text(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK_KEY})"))
        context.run_migrations()


run_migrations()
