"""`sovcarbon serve --workers N` on PostgreSQL (performance issue, goal 6): N real uvicorn processes on
one database, exactly one of them running the chain worker (a PostgreSQL advisory lease). Tokenizations
sent to any process are minted once: every outbox row is confirmed after exactly one send. When the
leader is SIGKILLed, another process takes the lease and the chain worker, and still nothing is sent
twice. Skipped without PostgreSQL (SOVCARBON_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from served import free_port
from sqlalchemy import create_engine, text
from token_world import make_token_world
from world import Api, setup_world

from sovcarbon.config import load_settings
from sovcarbon.domain.model import Role
from sovcarbon.domain.tokenize import LotStatus
from sovcarbon.services import invariants, ledger_audit
from sovcarbon.services.registry import Registry
from sovcarbon.store.engine import make_engine
from sovcarbon.store.leader import CHAIN_WORKER_LOCK_KEY

PG_URL = os.environ.get("SOVCARBON_TEST_DATABASE_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="serve --workers needs PostgreSQL: SOVCARBON_TEST_DATABASE_URL")
WORKERS = 3


@pytest.fixture
def private_database() -> Iterator[str]:
    base = make_engine(PG_URL or "")
    name = f"sovcarbon_workers_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        base.dispose()


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _leaders(reg: Registry) -> list[int]:
    """The client processes holding the chain worker's lease (their application_name names their pid)."""
    with reg.store.engine.connect() as conn:
        names = conn.execute(text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"), {"key": CHAIN_WORKER_LOCK_KEY}).scalars()
        return [int(str(n).rsplit("-", 1)[1]) for n in names]


def _outbox(reg: Registry) -> list[tuple[str, str, int]]:
    with reg.store.engine.connect() as conn:
        return [(str(r[0]), str(r[1]), int(r[2])) for r in conn.execute(
            text("SELECT kind, status, attempts FROM token_outbox ORDER BY seq"))]


def test_workers_share_one_chain_worker_and_send_nothing_twice(private_database: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "SOVCARBON_DATA_DIR": str(data_dir), "SOVCARBON_DATABASE_URL": private_database,
           "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1"}
    sovcarbon = str(Path(sys.executable).with_name("sovcarbon"))
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("wb")
    server = subprocess.Popen([sovcarbon, "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", str(WORKERS)], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    reg: Registry | None = None
    try:
        def up() -> bool:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, 180, "serve --workers to answer")
        reg = Registry(load_settings(data_dir=str(data_dir), database_url=private_database))
        _wait(lambda: len(_leaders(reg)) == 1, 60, "a leader")  # type: ignore[arg-type]
        first_leader = _leaders(reg)[0]
        # no keep-alive: each request is a new connection, spread over the processes by the kernel
        client = httpx.Client(base_url=base_url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
        api = Api(client, reg)  # type: ignore[arg-type]
        api.key("admin", Role.REGISTRY_ADMIN)
        api.key("approver", Role.REGISTRY_APPROVER)
        api.key("regulator", Role.REGULATOR)
        setup_world(api)
        tw = make_token_world(api, None)
        lots = [tw.tokenize(1_000_000) for _ in range(4)]

        def all_active() -> bool:
            return all(tw.lot(str(lot["id"]))["status"] == LotStatus.ACTIVE for lot in lots)

        _wait(all_active, 120, f"the lots to be minted; serve said: {log_path.read_text()[-3000:]}")
        # Exactly one process holds the lease at any time (it may have moved if uvicorn recycled a worker).
        assert len(_leaders(reg)) == 1
        first_leader = _leaders(reg)[0]
        rows = _outbox(reg)
        assert rows and all(status == "confirmed" and attempts == 1 for _, status, attempts in rows), rows

        # the leader dies: another process takes the lease (uvicorn restarts the dead worker)
        os.kill(first_leader, signal.SIGKILL)
        _wait(lambda: len(_leaders(reg)) == 1 and _leaders(reg)[0] != first_leader, 60, "a new leader")  # type: ignore[arg-type]
        lots.append(tw.tokenize(500_000))
        _wait(all_active, 120, "the lot tokenized after the failover to be minted")
        assert len(_leaders(reg)) == 1
        rows = _outbox(reg)
        assert all(status == "confirmed" and attempts == 1 for _, status, attempts in rows), rows
        client.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
        if reg is not None:
            assert not invariants.check(reg)
            replayed = ledger_audit.replay(reg)
            assert replayed.ok, replayed.message
            reg.store.dispose()
