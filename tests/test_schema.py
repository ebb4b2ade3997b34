"""The schema the migrations build is exactly the one the code declares, on every store."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables, token_tables  # noqa: F401 - their tables join the metadata
from sovcarbon.store.tables import metadata


def test_migrations_match_the_declared_tables(registry: Registry) -> None:
    with registry.store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
