"""SQLite WAL checkpoints off the commit path (performance issue #10, goal 3; store/checkpointer.py).

A commit no longer checkpoints when the WAL passes 1,000 pages (the p99 spikes of partial transfers); the
background checkpointer does, PASSIVE while writes go on and TRUNCATE when idle, and the WAL keeps a bound.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sovcarbon.services import journal_admin
from sovcarbon.services.registry import Registry
from sovcarbon.store.checkpointer import PASSIVE_BYTES, SAFETY_PAGES, WalCheckpointer


def _sqlite(registry: Registry) -> WalCheckpointer:
    if registry.store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite WAL")
    assert registry.store.checkpointer is not None
    return registry.store.checkpointer


def _write_mb(registry: Registry, mb: int) -> None:
    for _ in range(mb * 5):
        with registry.store.write() as uow:
            uow.append("bench", {"note": "x" * 200_000})


def test_every_connection_leaves_checkpoints_to_the_thread(registry: Registry) -> None:
    _sqlite(registry)
    with registry.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == SAFETY_PAGES


def test_commits_do_not_checkpoint_and_the_thread_does(registry: Registry) -> None:
    ck = _sqlite(registry)
    ck.stop()  # driven by hand below
    wal = Path(str(registry.store.engine.url.database) + "-wal")
    _write_mb(registry, 12)
    # SQLite's default would have checkpointed in a commit at 1,000 pages and reused the WAL from its start
    # (about 4 MiB); no commit did, so the WAL holds everything written since.
    assert wal.stat().st_size > 2 * PASSIVE_BYTES
    assert ck.tick() == "passive"  # grown since the last look: a passive checkpoint, the writers not held
    assert ck.tick() == "truncate"  # no growth since: idle, the WAL goes back to zero bytes
    assert wal.stat().st_size == 0
    assert ck.tick() is None
    report = journal_admin.verify(registry)
    assert report["ok"], report


def test_an_idle_registry_gets_its_wal_truncated(registry: Registry) -> None:
    ck = _sqlite(registry)
    wal = Path(str(registry.store.engine.url.database) + "-wal")
    _write_mb(registry, 2)
    done = threading.Event()
    for _ in range(600):  # a liveness bound (60 s), not a timing assertion
        if ck.truncate_runs > 0 and wal.stat().st_size == 0:
            done.set()
            break
        threading.Event().wait(0.1)
    assert done.is_set(), (ck.truncate_runs, wal.stat().st_size)


def test_dispose_stops_the_thread(registry: Registry) -> None:
    ck = _sqlite(registry)
    ck.stop()
    assert not ck._thread.is_alive()
