"""SQLite WAL checkpoints off the commit path (performance issue #10, goal 3).

With SQLite's default ``wal_autocheckpoint`` (1,000 pages), the commit that pushes the WAL past it runs the
checkpoint itself: it copies the WAL into the database file and fsyncs it before returning, so about one
commit in fifty of a transfer load took several times the usual latency (the p99 of a partial transfer).
Here every connection raises the automatic checkpoint to ``SAFETY_PAGES`` (a bound on the WAL, reached only if
this thread falls behind or does not run), and one background thread per ``Store`` checkpoints instead:
PASSIVE (never waits for, nor blocks, readers or writers) when the WAL has grown past ``PASSIVE_BYTES``, and
TRUNCATE (the file back to zero bytes) when the registry is idle (the WAL did not grow since the last look),
with a short busy timeout so that a pending TRUNCATE never holds writers up for long.

Durability is unchanged: a commit is durable when its WAL frames are synced (``synchronous=FULL``); a
checkpoint only moves committed pages into the main file, and a crash at any point of it is recovered from the
WAL by the next open.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

SAFETY_PAGES = 16_384  # the commit path checkpoints only past this (64 MiB of 4 KiB pages): the WAL's bound
PASSIVE_BYTES = 4 * 1024 * 1024  # about SQLite's default autocheckpoint (1,000 pages of 4 KiB)
INTERVAL_S = 0.2
TRUNCATE_BUSY_MS = 20


class WalCheckpointer:
    """Checkpoints one SQLite database file in a daemon thread until ``stop()``."""

    def __init__(self, engine: Engine, path: Path, *, interval_s: float = INTERVAL_S,
                 passive_bytes: int = PASSIVE_BYTES) -> None:
        self.engine = engine
        self.wal = path.with_name(path.name + "-wal")
        self.interval_s = interval_s
        self.passive_bytes = passive_bytes
        self.passive_runs = 0
        self.truncate_runs = 0
        self._last_size = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failed checkpoint is retried next tick; the WAL stays bounded
                log.warning("WAL checkpoint failed; retried next tick", exc_info=True)

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except FileNotFoundError:
            return 0

    def tick(self) -> str | None:
        """One look at the WAL: 'passive', 'truncate' or None (nothing to do)."""
        size = self._wal_size()
        idle = size == self._last_size
        self._last_size = size
        if size >= self.passive_bytes and not idle:
            self._checkpoint("PASSIVE")
            self.passive_runs += 1
            return "passive"
        if size > 0 and idle:
            self._checkpoint("TRUNCATE")
            self.truncate_runs += 1
            self._last_size = self._wal_size()
            return "truncate"
        return None

    def _checkpoint(self, mode: str) -> None:
        raw: Any = self.engine.raw_connection()  # a pooled connection: autocommit (no BEGIN), our pragmas
        try:
            cur = raw.cursor()
            if mode == "TRUNCATE":
                # TRUNCATE blocks new writers while it waits for readers: wait briefly, else try when next idle
                cur.execute(f"PRAGMA busy_timeout={TRUNCATE_BUSY_MS}")
            try:
                cur.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            finally:
                if mode == "TRUNCATE":
                    cur.execute("PRAGMA busy_timeout=60000")
                cur.close()
        finally:
            raw.close()
