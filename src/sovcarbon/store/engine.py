"""Database engines and schema migration for SQLite (WAL, embedded default) and PostgreSQL.

SQLite: WAL with ``synchronous=FULL`` (a registry of record must not lose a committed change),
foreign keys on, and ``BEGIN IMMEDIATE`` for write transactions so that writers queue on the lock
instead of failing on upgrade. PostgreSQL: READ COMMITTED plus the journal-head row lock that every
write transaction takes first (see ``uow``).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
WRITE_OPTION = "sovcarbon_write"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def private_sqlite_file(path: Path) -> None:
    """The ledger file is readable by its owner only (0600; SQLite gives its -wal and -shm files the same
    mode); a directory created for it is 0700. An existing file with wider permissions is narrowed."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    # Never open an existing ledger file here: on Linux, closing any descriptor of a file drops every
    # POSIX lock this process holds on it, including SQLite's, and a WAL still in use could then be
    # removed by another process closing the database. Create it (exclusively) only when missing.
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60},
                               pool_size=pool_size, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: keeps the block indexes of a large ledger hot
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a round trip per transaction: ``pool_pre_ping`` pings on every
    checkout (one of a PostgreSQL transfer's 14 round trips); this pings only a connection that sat in the
    pool for more than ``PING_AFTER_IDLE_S`` (a server restart or an idle timeout happens to idle connections).
    A dead one is replaced before use (DisconnectionError: the pool retries with a new connection)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info["sovcarbon_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("sovcarbon_idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:  # noqa: BLE001 - whatever broke it, the connection is unusable
            raise DisconnectionError(f"pooled connection lost while idle: {exc}") from exc


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine) -> None:
    """Apply every migration (all heads) to the database behind ``engine``."""
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        if conn.in_transaction():
            conn.commit()
