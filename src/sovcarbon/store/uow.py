"""The unit of work: one database transaction, the journal writer, and signed checkpoints.

Every write transaction first locks the journal head (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ...
FOR UPDATE`` on PostgreSQL). The hash chain is a total order of changes anyway; taking its head
first means concurrent writers queue instead of racing, so two clients moving the same units can
never both succeed, and a failed check rolls back with nothing written.

PostgreSQL, concurrent commands (``Store.write(concurrent=True)``; today only transfers, see
``Registry.execute``): a reader-writer gate (transaction-scoped advisory lock ``WRITE_GATE``) replaces
"head first". An ordinary write takes the gate exclusively, then the head, as its first statement: it
runs alone, exactly as before. A concurrent command takes the gate shared (before any read), locks the
rows it will change (a transfer: both accounts, ``Repository.account_pair``), reads, checks and writes
its blocks, and takes the journal head only at its first ``append`` (or at flush): the head is held from
there to COMMIT, a few statements instead of the whole transaction. Why that is as strict as before:
concurrent commands run only beside each other (the gate excludes every ordinary writer); everything
they read but do not lock (participants, projects, issuances, liens...) is written only by ordinary
writers; what they change is the blocks of accounts they locked (checked at flush) and new transaction
rows. Two transfers that share an account run one after the other; the others touch disjoint rows, and
commit in journal order (the head is held to COMMIT), so the chain has no gap and no fork and replaying
it gives the tables. SQLite serializes every writer with ``BEGIN IMMEDIATE`` and ignores the flag.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from sovcarbon.domain import checkpoints as cpt
from sovcarbon.domain import journal as jr
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import SYSTEM_CLOCK, Clock, utc_now
from sovcarbon.store import tables as t
from sovcarbon.store.engine import WRITE_OPTION, is_sqlite, make_engine, migrate
from sovcarbon.store.replica import ReplicaRouter
from sovcarbon.store.repository import Repository
from sovcarbon.store.row_images import read_images_of
from sovcarbon.store.signing import Signer, load_signer

PSEUDONYM_SECRET_SETTING = "journal_pseudonym_secret"
ROWS_ONLY_KIND = "ledger_rows_written"  # the entry of a transaction that wrote ledger rows but appended none
# The PostgreSQL advisory lock (key) of the writers' gate: exclusive for ordinary writes, shared for concurrent
# commands (module docstring). Advisory locks are per database, so every process of a registry shares it.
WRITE_GATE = 0x5C0A_4B0D
# What a concurrent command may write (checked at flush): the blocks of the accounts it locked and new rows here.
CONCURRENT_TABLES = frozenset({"blocks", "transactions"})
# A unique key taken by a transaction that ran beside this one: through Core or straight from the driver (HotSql).
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (IntegrityError, psycopg.IntegrityError)


@dataclass(frozen=True)
class Appended:
    """An entry's position. Its bytes and hash are made at flush, when the transaction's row images are known."""

    seq: int


@dataclass
class _Pending:
    seq: int
    kind: str
    payload: dict[str, Any]


class UnitOfWork:
    """A transaction plus the journal writer. Use through ``Store.write()`` / ``Store.read()``."""

    def __init__(self, conn: Connection, store: Store, write: bool, *, concurrent: bool = False) -> None:
        self.conn = conn
        self.store = store
        self.write = write
        self.repo = Repository(conn)
        # PostgreSQL only: the head is taken at the first append (module docstring); rows are locked as read.
        self.concurrent = concurrent and write and not is_sqlite(store.engine)
        self.repo.lock_rows = self.concurrent
        self.now = utc_now(store.clock)  # the store's clock: the wall clock in production, a fixed one in tests
        self._head: tuple[int, str] | None = None
        self._start_seq = 0
        self._dirty_head = False
        self._pending: list[_Pending] = []
        self.after_commit: list[Any] = []

    def lock_head(self, *, gate: bool = True) -> None:
        """The head, locked. On PostgreSQL an ordinary write takes the writers' gate exclusively first, in the
        same statement (the subquery is joined before the row is locked), so it runs alone; a concurrent
        command has the gate shared already and takes the head alone (``gate=False``)."""
        if is_sqlite(self.store.engine):
            sql = "SELECT seq, hash FROM journal_head WHERE id = 1"
        elif gate:
            sql = (f"SELECT h.seq, h.hash FROM (SELECT pg_advisory_xact_lock({WRITE_GATE})) AS g, journal_head AS h "
                   "WHERE h.id = 1 FOR UPDATE OF h")
        else:
            sql = "SELECT seq, hash FROM journal_head WHERE id = 1 FOR UPDATE"
        row = self.repo.hot.one(sql, ())
        if row is None:
            self.conn.execute(insert(t.journal_head).values(id=1, seq=0, hash=jr.GENESIS_HASH))
            self._head = (0, jr.GENESIS_HASH)
        else:
            self._head = (int(row[0]), str(row[1]))
        self._start_seq = self._head[0]

    def append(self, kind: str, payload: dict[str, Any]) -> Appended:
        """Append one journal entry in this transaction (the only journal writer).

        The entry takes its seq now; its bytes are written at flush (``_write_entries``), when the images
        of every ledger row this transaction wrote are known: the last entry carries them.
        """
        assert self.write, "journal entries are written only in write transactions"
        if self._head is None and self.concurrent:
            self.lock_head(gate=False)  # a concurrent command takes the head here (module docstring)
        assert self._head is not None
        seq = (self._pending[-1].seq if self._pending else self._head[0]) + 1
        self._pending.append(_Pending(seq, kind, payload))
        return Appended(seq)

    def _write_entries(self) -> None:
        """Serialize, chain and insert the pending entries; the last one carries the row images."""
        written = self.repo.written
        if not self._pending and not any(written.values()):
            return
        if self.concurrent:
            tables = {table for table, keys in written.items() if keys}
            assert tables <= CONCURRENT_TABLES, f"a concurrent command wrote {sorted(tables - CONCURRENT_TABLES)}"
        if not self._pending:
            self.append(ROWS_ONLY_KIND, {})
        assert self._head is not None
        rows: jr.RowImages = read_images_of(self.repo.hot, {table: keys for table, keys in sorted(written.items())
                                                            if keys})
        inserted = {table: {k for k, new in keys.items() if new} for table, keys in written.items()}
        secret = self._pseudonym_secret()
        prev_seq, prev_hash = self._head
        values = []
        for i, p in enumerate(self._pending):
            last = i == len(self._pending) - 1
            entry_rows: jr.RowImages = rows if last else {}
            private = jr.private_bytes(p.payload, entry_rows)
            public = jr.public_part(p.payload, entry_rows, inserted if last else {}, secret)
            entry = jr.entry_bytes(p.seq, p.kind, self.now, public, jr.private_hash(private))
            digest = jr.chain_hash(prev_hash, entry)
            values.append((p.seq, p.kind, entry, prev_hash, digest, self.now, private))
            prev_seq, prev_hash = p.seq, digest
        # the entries and the new head in one round trip on PostgreSQL (a pipeline)
        self.repo.hot.write_pipelined(("INSERT INTO journal (seq, kind, entry, prev_hash, hash, created_at, private) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?)", values),
                                      ("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (prev_seq, prev_hash)))
        self._pending.clear()
        written.clear()
        self._head = (prev_seq, prev_hash)
        self._dirty_head = True

    def _pseudonym_secret(self) -> bytes:
        """The registry secret of account pseudonyms (registry_settings), created once."""
        if self.store.pseudonym_secret is not None:
            return self.store.pseudonym_secret
        row = self.repo.hot.one("SELECT value FROM registry_settings WHERE key = ?", (PSEUDONYM_SECRET_SETTING,))
        if row is None:
            value = os.urandom(32).hex()
            self.repo.hot.insert("registry_settings", {"key": PSEUDONYM_SECRET_SETTING, "value": value})
        else:
            value = str(row[0])
        secret = bytes.fromhex(value)
        self.after_commit.append(lambda: setattr(self.store, "pseudonym_secret", secret))
        return secret

    @property
    def head(self) -> tuple[int, str]:
        assert self._head is not None
        return self._head

    def flush_head(self) -> None:
        if self.write:
            self._write_entries()
        if not self._dirty_head or self._head is None:
            return
        seq, _ = self._head  # the head row was updated with the entries (``_write_entries``)
        # Checkpoints fall on multiples of the interval: sign one when this transaction crossed one, or
        # when the time interval has passed since the last one (a small registry still gets them).
        interval = self.store.checkpoint_interval
        due_by_count = seq // interval > self._start_seq // interval
        due_by_time = time.monotonic() - self.store.last_checkpoint_monotonic >= self.store.checkpoint_interval_s
        if due_by_count or due_by_time:
            self.checkpoint()
        self._dirty_head = False

    def checkpoint(self) -> dict[str, Any]:
        """Sign (head seq, head hash, Merkle root of the entries since the last checkpoint).

        The signed message (``journal.checkpoint_message``) is a fixed, versioned structure; its SHA-256
        (``checkpoint_hash``) is the 32 bytes an anchor publishes (docs/security.md).
        """
        assert self._head is not None
        seq, head_hash = self._head
        self.store.last_checkpoint_monotonic = time.monotonic()
        prev = self.conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.seq.desc()).limit(1)).mappings().first()
        if prev is not None and prev["seq"] == seq:
            return cpt.with_checkpoint_hash(dict(prev), self.store.registry_id)
        from_seq = (prev["seq"] + 1) if prev is not None else 1
        prev_hash = prev["head_hash"] if prev is not None else jr.GENESIS_HASH
        hashes = self.conn.execute(select(t.journal.c.hash).where(t.journal.c.seq >= from_seq, t.journal.c.seq <= seq)
                                   .order_by(t.journal.c.seq)).scalars()
        root = jr.merkle_root(hashes)
        message = jr.checkpoint_message(seq, head_hash, root, from_seq, prev_hash, self.store.registry_id)
        row = dict(seq=seq, from_seq=from_seq, head_hash=head_hash, merkle_root=root, prev_checkpoint_hash=prev_hash,
                   signature=self.store.signer.sign(message).hex(), public_key=self.store.public_key_hex,
                   created_at=self.now)
        self.conn.execute(insert(t.checkpoints).values(**row))
        return cpt.with_checkpoint_hash(row, self.store.registry_id)


class Store:
    """Owns the engine, the registry signing key and the transaction boundaries."""

    # Where every unit of work reads "now" (``uow.now``); Registry(clock=...) sets it, tests use a FixedClock.
    clock: Clock = SYSTEM_CLOCK

    def __init__(self, database_url: str, signing_key: Path | Signer, *, registry_id: str = "sovcarbon",
                 checkpoint_interval: int = 1000, checkpoint_interval_s: float = 60.0, data_dir: Path | None = None,
                 allow_key_in_data_dir: bool = False, apply_migrations: bool = True,
                 read_database_url: str | None = None) -> None:
        """``signing_key``: a ``Signer`` (e.g. an HSM) or the PEM file, loaded under ``store.signing``'s rules
        (mode 0600; refused inside ``data_dir`` unless ``allow_key_in_data_dir``). ``read_database_url``: a
        PostgreSQL streaming replica for replica-eligible reads (``store.replica``)."""
        # The key first: a misplaced or exposed key refuses to start before anything touches the database.
        self.signer: Signer = (signing_key if isinstance(signing_key, Signer) else
                               load_signer(signing_key, data_dir=data_dir, allow_in_data_dir=allow_key_in_data_dir))
        self.engine: Engine = make_engine(database_url)
        if apply_migrations:
            migrate(self.engine)
        self.public_key_hex = self.signer.public_key_hex
        self.registry_id = registry_id
        self.checkpoint_interval = max(1, checkpoint_interval)
        self.checkpoint_interval_s = max(0.0, checkpoint_interval_s)
        self.last_checkpoint_monotonic = time.monotonic()
        self.pseudonym_secret: bytes | None = None
        # Set when the start-up check found the tables and the journal disagree: every write is refused
        # (1006) until an operator has investigated (services/ledger_audit.startup_check).
        self.read_only_reason: str | None = None
        # What the start-up check is doing: "not run", "running", "ok", "read-only", "could not run", "refused".
        self.startup_check_state = "not run"
        self.replica: ReplicaRouter | None = (ReplicaRouter(make_engine(read_database_url))
                                              if read_database_url else None)

    @contextmanager
    def write(self, *, concurrent: bool = False) -> Iterator[UnitOfWork]:
        """A write transaction: head locked first, committed on success, rolled back on any error.

        ``concurrent``: a command that locks the rows it changes and writes only ``CONCURRENT_TABLES`` (a
        transfer) runs beside others of its kind on PostgreSQL and holds the head only from its first
        append to COMMIT (module docstring)."""
        if self.read_only_reason is not None:
            raise RegistryError(1006, "the registry is read-only: its start-up check found the ledger tables and "
                                "the journal disagree; an operator must run `sovcarbon check`",
                                reason=self.read_only_reason)
        conn = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        with conn:
            conn.begin()
            uow = UnitOfWork(conn, self, write=True, concurrent=concurrent)
            try:
                if uow.concurrent:  # the gate shared before any read; the head at the first append
                    uow.repo.hot.one(f"SELECT pg_advisory_xact_lock_shared({WRITE_GATE})", ())
                else:
                    uow.lock_head()
                yield uow
                uow.flush_head()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            if self.replica is not None:
                self.replica.after_write(conn)  # read-your-writes: where this client's write is in the WAL
        for callback in uow.after_commit:
            callback()

    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        replica = self.replica.connect() if self.replica is not None else None
        with replica or self.engine.connect() as conn:
            conn.begin()
            try:
                yield UnitOfWork(conn, self, write=False)
            finally:
                conn.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.engine.dispose()
