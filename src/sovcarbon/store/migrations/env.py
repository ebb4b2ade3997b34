"""Alembic environment: runs migrations on the connection handed in by ``store.engine.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sovcarbon.store import article6_tables, token_tables  # noqa: F401 - register their tables on metadata
from sovcarbon.store.tables import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
