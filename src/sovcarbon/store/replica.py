"""Reads from a PostgreSQL streaming replica (``SOVCARBON_READ_DATABASE_URL``), with read-your-writes.

Only the reads a request marks as replica-eligible (``eligible``: the HTTP guard does it for the public
views: explorer pages, supply, holdings, serials, journal) go to the replica; everything else, every write
and every read inside a write transaction stays on the primary.

Read-your-writes for the writer's own requests: after each write transaction that a known client (API key,
else client address: ``client``) committed, the primary's WAL position (``pg_current_wal_lsn()``, one extra
statement after the commit, only when a replica is configured) is remembered for that client. Its next
eligible read goes to the replica only if the replica has replayed that far
(``pg_last_wal_replay_lsn() >= lsn``, one statement on the replica), else to the primary. A replica that
cannot be reached sends reads to the primary. The memory is per process: a client keeping its connection
(HTTP keep-alive stays on one ``serve --workers`` process) always reads its writes; a client whose next
connection lands on another process gets the guarantee of the replica's replay lag only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

_CLIENT: ContextVar[str | None] = ContextVar("sovcarbon_read_client", default=None)
_ELIGIBLE: ContextVar[bool] = ContextVar("sovcarbon_replica_eligible", default=False)
MAX_CLIENTS = 10_000


def route(client: str | None, eligible: bool) -> None:
    """Called once per request (before its handler runs): who is asking, and may its reads use the replica."""
    _CLIENT.set(client)
    _ELIGIBLE.set(eligible)


class ReplicaRouter:
    def __init__(self, read_engine: Engine) -> None:
        self.engine = read_engine
        self._written: OrderedDict[str, str] = OrderedDict()  # client -> WAL position of its last write
        self._lock = threading.Lock()
        self.reads_on_replica = 0
        self.reads_on_primary = 0

    def after_write(self, conn: Connection) -> None:
        """Right after a commit on ``conn`` (primary): remember where the client's write is in the WAL."""
        client = _CLIENT.get()
        if client is None:
            return
        try:
            lsn = str(conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one())
            conn.rollback()
        except Exception:  # noqa: BLE001 - the commit stands; the client reads from the primary for good measure
            lsn = "FFFFFFFF/FFFFFFFF"
        with self._lock:
            self._written[client] = lsn
            self._written.move_to_end(client)
            while len(self._written) > MAX_CLIENTS:
                self._written.popitem(last=False)

    def connect(self) -> Connection | None:
        """A replica connection for this read, or None (primary): not eligible, the replica is behind this
        client's last write, or unreachable."""
        if not _ELIGIBLE.get():
            return None
        client = _CLIENT.get()
        with self._lock:
            lsn = self._written.get(client) if client is not None else None
        conn: Connection | None = None
        try:
            conn = self.engine.connect()
            if lsn is not None:
                caught_up = conn.exec_driver_sql(
                    "SELECT pg_last_wal_replay_lsn() >= CAST(%(lsn)s AS pg_lsn)", {"lsn": lsn}).scalar()
                conn.rollback()
                if not caught_up:
                    conn.close()
                    self.reads_on_primary += 1
                    return None
                with self._lock:
                    if self._written.get(client or "") == lsn:
                        del self._written[client or ""]
        except Exception as exc:  # noqa: BLE001 - a replica down or lagging: the primary answers
            log.warning("read replica unavailable, reading from the primary: %s", exc)
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self.reads_on_primary += 1
            return None
        self.reads_on_replica += 1
        return conn

    def stats(self) -> dict[str, Any]:
        return {"reads_on_replica": self.reads_on_replica, "reads_on_primary": self.reads_on_primary}
