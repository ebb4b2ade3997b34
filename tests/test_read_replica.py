"""Reads through a real PostgreSQL streaming replica (performance issue, goal 6): the test creates a
primary cluster and a replica of it on loopback (pg_createcluster + pg_basebackup, free ports), points
SOVCARBON_READ_DATABASE_URL at the replica, pauses the replica's replay, and shows that a public view
(holdings) is answered by the replica for a reader that did not write, while the writer reads its own
write (from the primary, the replica being behind it). Skipped with the reason when the PostgreSQL
server tooling is absent or the test cannot run it (not root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from served import free_port
from sqlalchemy import create_engine, text
from world import Api, setup_world

from sovcarbon.api.app import create_app
from sovcarbon.config import load_settings
from sovcarbon.domain.model import Role
from sovcarbon.services import invariants, ledger_audit
from sovcarbon.services.participants import bootstrap
from sovcarbon.services.registry import Registry

TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_basebackup", "runuser")
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nlocal replication all trust\n" \
      "host replication all 127.0.0.1/32 trust\n"


def _skip_reason() -> str | None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"PostgreSQL server tooling absent: {', '.join(missing)}"
    if os.geteuid() != 0:
        return "creating PostgreSQL clusters needs root (pg_createcluster)"
    if not Path("/usr/lib/postgresql").is_dir() or not os.listdir("/usr/lib/postgresql"):
        return "no PostgreSQL server installed under /usr/lib/postgresql"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _run(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, (cmd, done.stdout[-2000:], done.stderr[-2000:])


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def primary_and_replica() -> Iterator[tuple[str, str]]:
    """(primary URL, replica URL) of a fresh database "registry" on two clusters made for this test."""
    version = sorted(os.listdir("/usr/lib/postgresql"))[-1]
    name = f"sovtest{uuid.uuid4().hex[:6]}"
    primary_port, replica_port = free_port(), free_port()
    created: list[str] = []
    try:
        _run("pg_createcluster", version, name, "-p", str(primary_port))
        created.append(name)
        Path(f"/etc/postgresql/{version}/{name}/pg_hba.conf").write_text(HBA)
        _run("pg_ctlcluster", version, name, "start")
        primary = f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}"
        admin = create_engine(f"{primary}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "registry"'))
        admin.dispose()
        _run("pg_createcluster", version, f"{name}r", "-p", str(replica_port))
        created.append(f"{name}r")
        Path(f"/etc/postgresql/{version}/{name}r/pg_hba.conf").write_text(HBA)
        data_dir = Path(f"/var/lib/postgresql/{version}/{name}r")
        for child in data_dir.iterdir():  # pg_basebackup fills the (empty) directory the cluster owns
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        _run("runuser", "-u", "postgres", "--", "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port),
             "-U", "postgres", "-D", str(data_dir), "-R", "-X", "stream")
        _run("pg_ctlcluster", version, f"{name}r", "start")
        yield f"{primary}/registry", f"postgresql+psycopg://postgres@127.0.0.1:{replica_port}/registry"
    finally:
        for cluster in reversed(created):
            subprocess.run(["pg_dropcluster", "--stop", version, cluster], capture_output=True, timeout=180)


def _lsn(url: str, sql: str) -> Any:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_public_reads_go_to_the_replica_and_the_writer_reads_its_writes(
        primary_and_replica: tuple[str, str], tmp_path: Path) -> None:
    primary, replica = primary_and_replica
    settings = load_settings(data_dir=str(tmp_path / "data"), database_url=primary, read_database_url=replica,
                             allow_key_in_data_dir="1")
    reg = Registry(settings)
    try:
        bootstrap(reg)
        assert reg.store.replica is not None
        with TestClient(create_app(reg)) as client:
            api = Api(client, reg)
            api.key("admin", Role.REGISTRY_ADMIN)
            api.key("approver", Role.REGISTRY_APPROVER)
            api.key("regulator", Role.REGULATOR)
            setup_world(api)
            acc = api.ids["foundation_acc"]

            def held(who: str) -> int:
                return int(api.ok("GET", f"/v1/accounts/{acc}/holdings", who)["free_kg"])

            def replica_caught_up() -> bool:
                target = _lsn(primary, "SELECT pg_current_wal_lsn()::text")
                return bool(_lsn(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"))

            _wait(replica_caught_up, 60, "the replica to replay the setup")
            before_kg = held("regulator")
            assert held("proponent") == before_kg
            on_replica = reg.store.replica.reads_on_replica
            assert on_replica >= 1  # both holdings reads above were eligible and the replica was current

            _lsn(replica, "SELECT pg_wal_replay_pause()")
            api.ok("POST", "/v1/transfers", "proponent",
                   {"from_account_id": acc, "to_account_id": api.ids["company_acc"], "quantity_kg": 1_000})
            # the writer reads its write: the replica is behind it, so the primary answers
            assert held("proponent") == before_kg - 1_000
            # a reader that did not write is answered by the (paused, stale) replica
            replica_reads = reg.store.replica.reads_on_replica
            assert held("regulator") == before_kg
            assert reg.store.replica.reads_on_replica == replica_reads + 1
            # a view that is not replica-eligible (the account itself) reads the primary
            assert api.ok("GET", f"/v1/accounts/{acc}", "regulator")["id"] == acc
            assert reg.store.replica.reads_on_replica == replica_reads + 1

            _lsn(replica, "SELECT pg_wal_replay_resume()")
            _wait(lambda: held("regulator") == before_kg - 1_000, 60, "the replica to replay the transfer")
        assert not invariants.check(reg)
        replayed = ledger_audit.replay(reg)
        assert replayed.ok, replayed.message
    finally:
        reg.store.dispose()
