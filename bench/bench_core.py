"""Registry-of-record benchmarks (issue 2), each beside a baseline measured in the same run:

1. transfers/s through the service layer, 1 and 8 clients, vs the raw single-row INSERT+COMMIT rate of
   the same database (SQLite WAL synchronous=FULL; PostgreSQL when SOVCARBON_TEST_DATABASE_URL or
   SOVCARBON_BENCH_DATABASE_URL is set). Goal: >= 0.3x raw at 1 client.
2. p50/p99 latency of a partial transfer with 1,000 blocks in the store vs 1,000,000 blocks.
   Goal: p99 grows by no more than 1.5x.
3. `journal verify` entries/s vs raw chained SHA-256 over the same bytes. Goal >= 0.5x.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text, update

from sovcarbon.config import load_settings
from sovcarbon.domain.ids import new_id, utc_now
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import issuance, journal_admin, participants, projects, transfers
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import AccountIn, IssuanceIn, ParticipantIn, ProjectIn, TransferIn, ValidationIn
from sovcarbon.store import tables as t
from sovcarbon.store.engine import make_engine

APPROVER = Actor("key_bench_approver", Role.REGISTRY_APPROVER, None, "bench approver")
VVB = Actor("key_bench_vvb", Role.VVB, None, "bench vvb")
HOLDERS: dict[str, Actor] = {}  # account id -> the actor of its holder (seed_world fills it)


def pg_url() -> str | None:
    return os.environ.get("SOVCARBON_BENCH_DATABASE_URL") or os.environ.get("SOVCARBON_TEST_DATABASE_URL")


@contextmanager
def database(kind: str) -> Iterator[tuple[str, Path]]:
    """A fresh, empty database of ``kind`` (sqlite or postgresql) and a data dir; removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sqlite":
            yield f"sqlite:///{tmp}/bench.sqlite", Path(tmp)
            return
        base = make_engine(pg_url() or "")
        name = f"sovcarbon_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.url.set(database=name).render_as_string(hide_password=False), Path(tmp)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            base.dispose()


def raw_commit_rate(url: str, seconds: float) -> float:
    """Single-row INSERT+COMMIT per transaction on the same database and settings as the ledger."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_raw (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)"))
    count = 0
    started = time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(sovcarbon_write=True)
        while time.perf_counter() - started < seconds:
            conn.begin()
            conn.execute(text("INSERT INTO bench_raw (id, payload) VALUES (:i, :p)"), {"i": count, "p": "x" * 200})
            conn.commit()
            count += 1
    rate = count / (time.perf_counter() - started)
    engine.dispose()
    return rate


def build_registry(url: str, data_dir: Path) -> Registry:
    reg = Registry(load_settings(data_dir=str(data_dir), database_url=url))
    participants.bootstrap(reg)
    return reg


def run_cmd(reg: Registry, fn: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return reg.execute(SYSTEM_ACTOR, "bench", {"n": uuid.uuid4().hex}, fn).body


def seed_world(reg: Registry, accounts: int, quantity_kg: int) -> tuple[list[str], str]:
    """Participants, ``accounts`` holding accounts, one registered project, one issuance into account 0."""
    par = run_cmd(reg, lambda uow: participants.create_participant(
        reg, uow, SYSTEM_ACTOR, ParticipantIn(name="bench", kind="company", country="TH", kyc_status="verified")))
    accs = [run_cmd(reg, lambda uow: participants.open_account(reg, uow, SYSTEM_ACTOR, AccountIn(
        participant_id=par["id"])))["id"] for _ in range(accounts)]
    for acc in accs:  # units move only by their holder's act (domain.access)
        HOLDERS[acc] = Actor("key_bench_holder", Role.HOLDER, par["id"], "bench holder")
    prj = run_cmd(reg, lambda uow: projects.submit(reg, uow, SYSTEM_ACTOR, ProjectIn(
        name="bench", standard="PREMIUM_T-VER", methodology="M", host_country="TH", proponent_id=par["id"],
        crediting_period={"start": "2021-01-01", "end": "2099-12-31"},
        location={"type": "Point", "coordinates": [100, 13]})))
    run_cmd(reg, lambda uow: projects.validate(reg, uow, VVB, prj["id"], ValidationIn()))
    run_cmd(reg, lambda uow: projects.register(reg, uow, SYSTEM_ACTOR, prj["id"]))
    return accs, issue(reg, prj["id"], accs[0], quantity_kg, 2021)


def issue(reg: Registry, project_id: str, account_id: str, quantity_kg: int, vintage: int) -> str:
    body = IssuanceIn(project_id=project_id, vintage=vintage, account_id=account_id, quantity_kg=quantity_kg,
                      monitoring_period={"start": f"{vintage}-01-01", "end": f"{vintage}-12-31"})
    iss = run_cmd(reg, lambda uow: issuance.request(reg, uow, SYSTEM_ACTOR, body))
    done = run_cmd(reg, lambda uow: issuance.approve(reg, uow, APPROVER, iss["id"]))
    return str(done["serial_prefix"])


def one_transfer(reg: Registry, body: TransferIn) -> None:
    """One transfer through the service layer, exactly as the API runs it (the holder's key acts)."""
    holder = HOLDERS[body.from_account_id]
    reg.execute(holder, "transfer", body.model_dump(mode="json"),
                lambda uow: transfers.transfer(reg, uow, holder, body))


RATE_CLIENTS = 8


def fund_rate_sources(reg: Registry, accs: list[str]) -> None:
    """Each client of ``transfer_rate`` moves units out of its own account: give them some, from account 0."""
    for i in range(RATE_CLIENTS):
        one_transfer(reg, TransferIn(from_account_id=accs[0], to_account_id=accs[1 + 2 * i], quantity_kg=1_000_000))


def transfer_rate(reg: Registry, accs: list[str], clients: int, seconds: float, *, own_accounts: bool = False) -> float:
    """Partial transfers (each splits a block) by ``clients`` threads, each out of account 0 into its own account
    (lowest serials first from one account: the clients queue on it, as the rules require); ``own_accounts``:
    each client between its own two accounts (8 holders at work; ``fund_rate_sources`` first)."""
    pairs = [(accs[1 + 2 * i], accs[2 + 2 * i]) if own_accounts else (accs[0], accs[1 + i]) for i in range(clients)]
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        src, dst = pairs[i]
        while time.perf_counter() < stop:
            one_transfer(reg, TransferIn(from_account_id=src, to_account_id=dst, quantity_kg=7))
            counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.perf_counter() - started)


def bulk_blocks(reg: Registry, accs: list[str], count: int) -> None:
    """Fill the store with ``count`` extra leaf blocks (the split tree of fresh issuances), fast.

    Each bulk issuance is approved through the service, then its root block is split into 1-kg-wide
    leaves spread over the accounts, inserted in batches: a real, invariant-respecting split tree.
    """
    per_issuance = 100_000
    with reg.store.read() as uow:
        project_id = uow.conn.execute(text("SELECT id FROM projects LIMIT 1")).scalar_one()
        # a second bulk load takes the next vintages (one issuance per project and vintage: 2005)
        vintage = max(2030, 1 + int(uow.conn.execute(text("SELECT COALESCE(MAX(vintage), 0) FROM issuances"))
                                     .scalar_one()))
    made = 0
    while made < count:
        n = min(per_issuance, count - made)
        prefix = issue(reg, project_id, accs[0], n * 1000, vintage)
        vintage += 1
        # a write transaction from its start (BEGIN IMMEDIATE on SQLite), as the store's own: a deferred one that
        # reads first cannot upgrade once the WAL checkpointer has truncated the WAL under its snapshot
        with reg.store.engine.connect().execution_options(sovcarbon_write=True) as conn, conn.begin():
            root = conn.execute(text("SELECT * FROM blocks WHERE serial_prefix = :p AND parent_id IS NULL"),
                                {"p": prefix}).mappings().one()
            txn = new_id("txn")
            conn.execute(update(t.blocks).where(t.blocks.c.id == root["id"]).values(is_leaf=False,
                                                                                     consumed_by_txn=txn))
            now = utc_now()
            rows = []
            for k in range(n):
                rows.append(dict(id=new_id("blk"), issuance_id=root["issuance_id"], project_id=root["project_id"],
                                 standard=root["standard"], vintage=root["vintage"], serial_prefix=prefix,
                                 first_kg=k * 1000 + 1, last_kg=(k + 1) * 1000, quantity_kg=1000, state="held",
                                 account_id=accs[1 + k % (len(accs) - 1)], parent_id=root["id"], txn_id=txn,
                                 consumed_by_txn=None, is_leaf=True, frozen=False, lot_id=None, created_at=now))
                if len(rows) == 20_000:
                    conn.execute(insert(t.blocks), rows)
                    rows = []
            if rows:
                conn.execute(insert(t.blocks), rows)
        made += n
    with reg.store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def settle(reg: Registry) -> None:
    """Steady state before timing: the bulk load's dirty pages written out (SQLite WAL checkpoint;
    PostgreSQL VACUUM ANALYZE then CHECKPOINT), so the timed transfers do not pay for the loader's I/O."""
    if reg.store.engine.dialect.name == "sqlite":
        with reg.store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with reg.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE blocks")
            conn.exec_driver_sql("CHECKPOINT")


def partial_transfer_latency(reg: Registry, src: str, dst: str, samples: int) -> tuple[float, float]:
    """p50/p99 of transfers that split a block, after a warm-up of 50 (steady state, not first-touch)."""
    settle(reg)
    for _ in range(50):
        one_transfer(reg, TransferIn(from_account_id=src, to_account_id=dst, quantity_kg=3))
    times = []
    for _ in range(samples):
        body = TransferIn(from_account_id=src, to_account_id=dst, quantity_kg=3)
        started = time.perf_counter()
        one_transfer(reg, body)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000


def fill_journal(reg: Registry, entries: int) -> None:
    payload = {"actor": "key_bench", "txn_id": "txn_0123456789abcdef0123", "note": "y" * 300,
               "created": [{"id": "blk_0123456789abcdef0123", "serial": "TH-PTVER-00001-2021-001-000000000001-"
                            "000000001000", "quantity_kg": 1000, "state": "held"}]}
    done = 0
    while done < entries:
        with reg.store.write() as uow:
            for _ in range(min(10_000, entries - done)):
                uow.append("bench", payload)
                done += 1


def verify_rates(reg: Registry) -> tuple[float, float, int]:
    with reg.store.engine.connect() as conn:
        rows = [bytes(r[0]) for r in conn.execute(text("SELECT entry FROM journal ORDER BY seq"))]
    started = time.perf_counter()
    prev = bytes(32)
    for entry in rows:
        prev = hashlib.sha256(prev + entry).digest()
    raw = len(rows) / (time.perf_counter() - started)
    started = time.perf_counter()
    result = journal_admin.verify(reg)
    ours = result["entries"] / (time.perf_counter() - started)
    assert result["ok"]
    return ours, raw, len(rows)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verify_cpu_ratio(reg: Registry) -> tuple[float, float, int]:
    """CPU seconds, not wall: raw chained SHA-256 of the journal's bytes vs ``journal verify`` (this process and
    its worker processes; a PostgreSQL server's own CPU is not counted). On a loaded machine the wall-clock
    ratio swings with the scheduler (a 20k-entry raw loop lasts ~30 ms); the CPU ratio does not."""
    with reg.store.engine.connect() as conn:
        rows = [bytes(r[0]) for r in conn.execute(text("SELECT entry FROM journal ORDER BY seq"))]
    started = time.process_time()
    prev = bytes(32)
    for entry in rows:
        prev = hashlib.sha256(prev + entry).digest()
    raw_cpu = time.process_time() - started
    started, children = time.process_time(), _children_cpu_s()
    assert journal_admin.verify(reg)["ok"]
    ours_cpu = time.process_time() - started + _children_cpu_s() - children
    return ours_cpu, raw_cpu, len(rows)


def run(quick: bool = False) -> list[dict[str, Any]]:
    kinds = ["sqlite"] + (["postgresql"] if pg_url() else [])
    seconds = 2.0 if quick else 6.0
    big_blocks = 20_000 if quick else 1_000_000
    samples = 100 if quick else 500
    journal_entries = 20_000 if quick else 200_000
    rows: list[dict[str, Any]] = []
    for kind in kinds:
        with database(kind) as (url, data_dir):
            raw = statistics.median(raw_commit_rate(url, seconds / 2) for _ in range(1))
            reg = build_registry(url, data_dir)
            accs, _ = seed_world(reg, 1 + 2 * RATE_CLIENTS, 100_000_000)
            fund_rate_sources(reg, accs)
            one = statistics.median([transfer_rate(reg, accs, 1, seconds / 2, own_accounts=True) for _ in range(2)])
            eight = transfer_rate(reg, accs, RATE_CLIENTS, seconds, own_accounts=True)
            eight_one_source = transfer_rate(reg, accs, RATE_CLIENTS, seconds / 2)
            rows.append(dict(benchmark=f"transfers/s, 1 client ({kind})", figure=round(one), unit="tx/s",
                             baseline=f"raw INSERT+COMMIT {raw:.0f}/s", ratio=f"{one / raw:.2f}", goal=">= 0.30"))
            rows.append(dict(benchmark=f"transfers/s, 8 clients, own accounts ({kind})", figure=round(eight),
                             unit="tx/s", baseline=f"1 client {one:.0f}/s", ratio=f"{eight / one:.2f}", goal=">= 1.0"))
            rows.append(dict(benchmark=f"transfers/s, 8 clients, one source account ({kind})",
                             figure=round(eight_one_source), unit="tx/s", baseline=f"1 client {one:.0f}/s",
                             ratio=f"{eight_one_source / one:.2f}", goal="-"))
            with reg.store.read() as uow:
                blocks_now = int(uow.conn.execute(text("SELECT COUNT(*) FROM blocks")).scalar_one())
            if blocks_now < 1000:
                bulk_blocks(reg, accs, 1000 - blocks_now)
            p50_small, p99_small = partial_transfer_latency(reg, accs[0], accs[9], samples)
            bulk_blocks(reg, accs, big_blocks)
            p50_big, p99_big = partial_transfer_latency(reg, accs[0], accs[9], samples)
            rows.append(dict(benchmark=f"partial transfer latency, 1k blocks ({kind})",
                             figure=f"p50 {p50_small:.2f} / p99 {p99_small:.2f}", unit="ms", baseline="-",
                             ratio="-", goal="-"))
            rows.append(dict(benchmark=f"partial transfer latency, {big_blocks:,} blocks ({kind})",
                             figure=f"p50 {p50_big:.2f} / p99 {p99_big:.2f}", unit="ms",
                             baseline=f"p99 at 1k blocks {p99_small:.2f} ms", ratio=f"{p99_big / p99_small:.2f}",
                             goal="<= 1.5"))
            fill_journal(reg, journal_entries)
            ours, raw_sha, n = verify_rates(reg)
            rows.append(dict(benchmark=f"journal verify, {n:,} entries ({kind})", figure=round(ours), unit="entries/s",
                             baseline=f"raw chained SHA-256 {raw_sha:,.0f}/s", ratio=f"{ours / raw_sha:.2f}",
                             goal=">= 0.50"))
            ours_cpu, raw_cpu, n = verify_cpu_ratio(reg)
            rows.append(dict(benchmark=f"journal verify, {n:,} entries, client CPU ({kind})",
                             figure=f"{ours_cpu * 1e6 / n:.2f}", unit="us CPU/entry",
                             baseline=f"raw chained SHA-256 {raw_cpu * 1e6 / n:.2f} us CPU/entry",
                             ratio=f"{raw_cpu / ours_cpu:.2f}", goal="-"))
            reg.store.dispose()
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
