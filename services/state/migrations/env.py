"""Alembic's environment for the state store: run by `services.state.database.migrate` (and the
`alembic` CLI with `-x url=...`). The connection comes from the caller; nothing is read from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from services.state.models import Base

# Any constant would do; it names the lock every replica takes before migrating a Postgres database.
_MIGRATION_LOCK_ID = 0x52414D50


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas that start together migrate one after the other, not at once.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("alembic: pass the store's URL with -x url=<sqlalchemy url>")
    with create_engine(url).connect() as opened:
        _run(opened)


if context.is_offline_mode():
    raise SystemExit("alembic: offline (SQL script) mode is not supported; run against a database")
run_migrations_online()
