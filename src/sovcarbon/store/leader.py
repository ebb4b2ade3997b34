"""Leader election among the processes of ``sovcarbon serve --workers N``: exactly one runs the chain worker.

The leader holds a PostgreSQL session-level advisory lock on a dedicated connection for as long as it
lives. The lock is the database's, not a row: a process that dies (SIGKILL included) loses its connection
and with it the lock, and another process takes it on its next try (``LEADER_RETRY_S``). Two processes
never hold it together, so two chain workers never send the outbox's rows side by side (the outbox's op
ids would make a second send harmless on chain, but it would cost a revert and a retry).

On SQLite (one process: ``--workers`` needs PostgreSQL) the lease is always granted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# pg_try_advisory_lock(bigint): a fixed key of this application ("sovcarbon chain worker")
CHAIN_WORKER_LOCK_KEY = 0x736F_7663_6368_6E31 & 0x7FFF_FFFF_FFFF_FFFF
LEADER_RETRY_S = 2.0


class Lease:
    """The chain worker's lease. ``try_acquire`` is non-blocking; ``held`` says whether this process has it."""

    def __init__(self, engine: Engine, key: int = CHAIN_WORKER_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Any = None  # the DB-API connection that holds the lock (PostgreSQL)
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None or self.engine.dialect.name == "sqlite"

    def try_acquire(self) -> bool:
        with self._lock:
            if self.held:
                return True
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                # named, so that an operator (and the test) can see which process leads: pg_stat_activity
                cursor.execute(f"SET application_name = 'sovcarbon-chain-worker-{os.getpid()}'")
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                row = cursor.fetchone()
                got = row is not None and bool(row[0])
                cursor.close()
                conn.commit()
            except BaseException:
                conn.invalidate()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            return True

    def alive(self) -> bool:
        """Is the lock still ours? (False if its connection broke: the database released the lock.)"""
        with self._lock:
            if self._conn is None:
                return self.engine.dialect.name == "sqlite"
            try:
                cursor = self._conn.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
                self._conn.commit()
                return True
            except Exception:  # noqa: BLE001 - a broken connection: the lock is gone with it
                self._drop()
                return False

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                cursor = self._conn.cursor()
                cursor.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                cursor.close()
                self._conn.commit()
            except Exception:  # noqa: BLE001 - closing the connection releases it anyway
                pass
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        with contextlib.suppress(Exception):
            conn.invalidate()  # never back into the pool: a pooled session would keep the lock


class LeaderLoop:
    """A thread that takes the lease when it can and then starts the leader's work (``on_elected``); if the
    lease is lost (its connection broke), it calls ``on_lost`` and tries again."""

    def __init__(self, lease: Lease, on_elected: Callable[[], None], on_lost: Callable[[], None],
                 retry_s: float = LEADER_RETRY_S) -> None:
        self.lease = lease
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.retry_s = retry_s
        self.leading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sovcarbon-leader", daemon=True)

    def start(self) -> LeaderLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.leading and self.lease.try_acquire():
                    try:
                        self.on_elected()
                    except BaseException:
                        self.lease.release()  # let another process (or the next try) run it
                        raise
                    self.leading = True
                    log.info("this process runs the chain worker")
                elif self.leading and not self.lease.alive():
                    self.leading = False
                    log.warning("chain worker lease lost; stopping the chain worker here")
                    self.on_lost()
            except Exception as exc:  # noqa: BLE001 - a database outage: try again later
                log.warning("leader election failed (retrying): %s", exc)
            self._stop.wait(self.retry_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.leading:
            self.leading = False
            self.on_lost()
        self.lease.release()
