"""Shared fixtures: a fresh registry on every store (SQLite always, PostgreSQL when
SOVCARBON_TEST_DATABASE_URL is set), an HTTP client with keys for every role, and the invariant
check (I1-I7 as implemented) after every test that used a registry."""

from __future__ import annotations

from world import (  # noqa: F401 - fixtures are found by name
    api,
    pg_database,
    pytest_configure,
    registry,
    world,
)
