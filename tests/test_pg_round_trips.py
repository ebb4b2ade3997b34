"""PostgreSQL round trips (performance issue, goal 2): a pooled connection is not pinged on every checkout
(pool_pre_ping cost one of a transfer's 14 round trips), only after sitting idle; a connection the server
dropped while idle is still replaced before a transaction uses it. PostgreSQL only."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from world import Api, error_code

from sovcarbon.services.registry import Registry
from sovcarbon.store import engine as store_engine


def _pg(registry: Registry) -> None:
    if registry.store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL round trips")


def _count_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = psycopg.Cursor.execute

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return seen


def test_a_busy_connection_is_not_pinged(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    _pg(registry)
    with registry.store.read() as uow:  # the pool has a connection, just used
        uow.conn.execute(text("SELECT 1"))
    seen = _count_statements(monkeypatch)
    for _ in range(5):
        with registry.store.read() as uow:
            uow.conn.execute(text("SELECT 2"))
    assert [s for s in seen if s.strip() in (";", "SELECT 1")] == [], seen
    assert len([s for s in seen if "SELECT 2" in s]) == 5


def test_a_connection_dropped_while_idle_is_replaced_before_use(registry: Registry,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _pg(registry)
    monkeypatch.setattr(store_engine, "PING_AFTER_IDLE_S", 0.0)
    with registry.store.read() as uow:
        backend = uow.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = store_engine.make_engine(registry.settings.database_url)
    try:
        with other.connect() as conn:  # the server drops the pooled (idle) connection
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
            conn.commit()
    finally:
        other.dispose()
    with registry.store.read() as uow:  # no error: the ping found it dead and the pool opened another
        assert uow.conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend


def test_a_transfer_reads_both_accounts_in_one_statement(world: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _pg(world.reg)
    seen = _count_statements(monkeypatch)
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                   "to_account_id": world.ids["company_acc"], "quantity_kg": 5})
    assert len([s for s in seen if "FROM accounts" in s]) == 1, [s for s in seen if "accounts" in s]
    # the error order is unchanged: an unknown source, then the holder's control, then an unknown destination
    resp = world.post("/v1/transfers", "proponent", {"from_account_id": "acc_" + "0" * 32,
                                                     "to_account_id": world.ids["company_acc"], "quantity_kg": 5})
    assert error_code(resp) == 1005 and resp.json()["error"]["details"]["id"] == "acc_" + "0" * 32
    resp = world.post("/v1/transfers", "proponent", {"from_account_id": world.ids["company_acc"],
                                                     "to_account_id": "acc_" + "1" * 32, "quantity_kg": 5})
    assert error_code(resp) == 1002
    resp = world.post("/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                     "to_account_id": "acc_" + "1" * 32, "quantity_kg": 5})
    assert error_code(resp) == 1005 and resp.json()["error"]["details"]["id"] == "acc_" + "1" * 32


def test_the_leaf_query_is_planned_for_its_own_account(registry: Registry) -> None:
    """Partial-transfer p99 at 1,000,000 blocks (goal 3): psycopg prepares a statement after 5 executions and
    PostgreSQL may then keep a generic plan; the leaf query's generic plan walked the serial index of every
    leaf (0.76 s) for an account holding one. It is never prepared, so each execution gets a custom plan."""
    _pg(registry)
    with registry.store.write() as uow:
        for _ in range(8):
            list(uow.repo.blocks.free_leaves("acc_00000000000000000000000000000000"))
        prepared = uow.conn.execute(text("SELECT count(*) FROM pg_prepared_statements "
                                         "WHERE statement LIKE '%FROM blocks WHERE is_leaf AND account_id%'"))
        assert prepared.scalar_one() == 0
