"""Reads and writes of ledger rows on one connection. No rules live here, only queries.

Rows come back as domain values (``Block``, ``Account``...) or plain dicts for views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import (
    Account,
    AccountKind,
    AccountStatus,
    Block,
    Issuance,
    IssuanceStatus,
    KycStatus,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    Project,
    ProjectStatus,
)
from sovcarbon.store import tables as t
from sovcarbon.store.authorizations import AuthorizationRepository

# BLOCK_COLS, LEAF, block_from_row, block_from_tuple: re-exported for modules that import them from here
from sovcarbon.store.blocks import BLOCK_COLS as BLOCK_COLS
from sovcarbon.store.blocks import LEAF as LEAF
from sovcarbon.store.blocks import BlockRepository, block_row
from sovcarbon.store.blocks import block_from_row as block_from_row
from sovcarbon.store.blocks import block_from_tuple as block_from_tuple
from sovcarbon.store.journal_reads import JournalRepository
from sovcarbon.store.row_images import GUARDED

_INSERT_COLS: dict[tuple[str, tuple[str, ...]], str] = {}


class HotSql:
    """The hot path's statements, run on the DB-API connection of the current transaction.

    SQLAlchemy Core costs ~50 us per executed statement here against ~6 us for the statement itself;
    a transfer runs about ten. The few statements every movement runs are therefore written once, with
    ``?`` placeholders converted for the dialect, and executed directly. Everything else uses Core.
    """

    def __init__(self, conn: Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        self.dbapi: Any = dbapi
        self.pg = conn.dialect.name == "postgresql"

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def one(self, sql: str, params: Sequence[Any]) -> Any:
        return self.dbapi.execute(self._q(sql), params).fetchone()

    def all(self, sql: str, params: Sequence[Any], *, custom_plan: bool = False) -> list[Any]:
        """``custom_plan``: on PostgreSQL never as a prepared statement, so that each execution is planned for
        its own parameters. psycopg prepares a statement after 5 executions and the server may then keep a
        generic plan: for the leaf query that plan walked the whole serial index of a million leaves (EXPLAIN
        ANALYZE: 1,001,831 rows removed by filter, 54k buffers, 0.76 s) for an account holding one leaf."""
        if custom_plan and self.pg:
            return list(self.dbapi.execute(self._q(sql), params, prepare=False).fetchall())
        return list(self.dbapi.execute(self._q(sql), params).fetchall())

    def run(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.dbapi.execute(self._q(sql), params).rowcount)

    def batch(self, reads: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Several SELECTs, each one's rows. PostgreSQL: sent together in a psycopg pipeline, one round trip."""
        if not self.pg or len(reads) < 2:
            return [self.all(sql, params) for sql, params in reads]
        with self.dbapi.pipeline():  # fetched after the pipeline's one sync (a fetch inside would flush early)
            cursors = [self.dbapi.execute(self._q(sql), params) for sql, params in reads]
        return [list(cur.fetchall()) for cur in cursors]

    def write_pipelined(self, many: tuple[str, Sequence[Sequence[Any]]], then: tuple[str, Sequence[Any]]) -> None:
        """An executemany and one more statement; PostgreSQL: in one pipeline (one round trip, errors raised)."""
        if not self.pg:
            self.many(*many)
            self.run(*then)
            return
        with self.dbapi.pipeline():
            cur = self.dbapi.cursor()
            cur.executemany(self._q(many[0]), many[1])
            self.dbapi.execute(self._q(then[0]), then[1])

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cur = self.dbapi.cursor()
        cur.executemany(self._q(sql), rows)
        cur.close()

    def insert(self, table: str, values: dict[str, Any]) -> None:
        key = (table, tuple(values))
        sql = _INSERT_COLS.get(key)
        if sql is None:
            sql = _INSERT_COLS[key] = (f"INSERT INTO {table} ({', '.join(values)}) "
                                       f"VALUES ({', '.join('?' * len(values))})")
        self.dbapi.execute(self._q(sql), tuple(values.values()))


class Repository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.hot = HotSql(conn)
        self.blocks = BlockRepository(conn, self.hot)
        self.journal = JournalRepository(conn)
        self.authorizations = AuthorizationRepository(conn)
        # Guarded rows written in this transaction: table -> {row key: inserted?}. The unit of work
        # journals their images at flush (store/row_images.py); every ledger write goes through here.
        self.written: dict[str, dict[str, bool]] = {}
        # A concurrent command (store/uow.py, PostgreSQL): the rows it reads to change are locked as read, and
        # it moves only the blocks of the accounts it locked.
        self.lock_rows = False
        self.locked_accounts: set[str] = set()

    # --- generic -----------------------------------------------------------------------------------
    def _record(self, table: str, key: str, inserted: bool) -> None:
        rows = self.written.setdefault(table, {})
        rows[key] = inserted or rows.get(key, False)

    def insert(self, table: Any, **values: Any) -> None:
        g = GUARDED.get(table.name)
        if g is None:
            self.hot.insert(table.name, values)
        elif all(k in values for k in g.key_columns):
            self.hot.insert(table.name, values)
            self._record(g.name, g.key_of([values[k] for k in g.key_columns]), True)
        else:  # a generated key (autoincrement): ask the database for it
            self.insert_many(table, [values])

    def insert_many(self, table: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Insert several rows; generated keys are read back with RETURNING and recorded."""
        if not rows:
            return
        g = GUARDED.get(table.name)
        if g is None:
            self.conn.execute(insert(table), list(rows))
            return
        if all(k in rows[0] for k in g.key_columns):
            self.conn.execute(insert(table), list(rows))
            for values in rows:
                self._record(g.name, g.key_of([values[k] for k in g.key_columns]), True)
            return
        keys = [table.c[k] for k in g.key_columns]
        for values in rows:  # one statement per row: RETURNING of executemany is not ordered on every driver
            returned = self.conn.execute(insert(table).values(**values).returning(*keys)).one()
            self._record(g.name, g.key_of(list(returned)), True)

    def update(self, table: Any, where: Sequence[Any], **values: Any) -> int:
        """UPDATE table SET values WHERE where; the keys of the rows changed are recorded. Returns the count."""
        q = update(table).where(*where).values(**values)
        g = GUARDED.get(table.name)
        if g is None:
            return int(self.conn.execute(q).rowcount)
        returned = self.conn.execute(q.returning(*[table.c[k] for k in g.key_columns])).all()
        for r in returned:
            self._record(g.name, g.key_of(list(r)), False)
        return len(returned)

    def find(self, table: Any, id_: str) -> RowMapping | None:
        return self.conn.execute(select(table).where(table.c.id == id_)).mappings().first()

    def one(self, table: Any, id_: str, what: str) -> RowMapping:
        row = self.find(table, id_)
        if row is None:
            raise RegistryError(1005, f"{what} {id_} not found", id=id_)
        return row

    def page(self, table: Any, *, limit: int, cursor: str | None,
             where: Sequence[Any] = ()) -> tuple[list[RowMapping], str | None]:
        q = select(table).where(*where)
        if cursor:
            q = q.where(table.c.id > cursor)
        rows = list(self.conn.execute(q.order_by(table.c.id).limit(limit + 1)).mappings())
        nxt = rows[limit - 1]["id"] if len(rows) > limit else None
        return rows[:limit], nxt

    # --- participants and accounts ---------------------------------------------------------------------
    def participant(self, id_: str) -> Participant:
        r = self.one(t.participants, id_, "participant")
        return Participant(id=r["id"], name=r["name"], kind=ParticipantKind(r["kind"]), country=r["country"],
                           kyc_status=KycStatus(r["kyc_status"]), status=ParticipantStatus(r["status"]),
                           license_kind=r["license_kind"], license_number=r["license_number"])

    def account(self, id_: str) -> Account:
        found = self.find_account(id_)
        if found is None:
            raise RegistryError(1005, f"account {id_} not found", id=id_)
        return found

    def find_account(self, id_: str) -> Account | None:
        r = self.hot.one("SELECT id, participant_id, kind, status, name FROM accounts WHERE id = ?", (id_,))
        if r is None:
            return None
        return Account(id=r[0], participant_id=r[1], kind=AccountKind(r[2]), status=AccountStatus(r[3]), name=r[4])

    def account_pair(self, first_id: str, second_id: str) -> tuple[Account | None, Account | None]:
        """Two accounts in one statement (a movement's source and destination); None for a missing one, so
        that the caller raises its errors in its own order."""
        sql = "SELECT id, participant_id, kind, status, name FROM accounts WHERE id IN (?, ?)"
        if self.lock_rows:  # both rows, in id order (no deadlock between two transfers); held to COMMIT
            sql += " ORDER BY id FOR NO KEY UPDATE"
        rows = self.hot.all(sql, (first_id, second_id))
        if self.lock_rows:
            self.locked_accounts.update(r[0] for r in rows)
        found = {r[0]: Account(id=r[0], participant_id=r[1], kind=AccountKind(r[2]), status=AccountStatus(r[3]),
                               name=r[4]) for r in rows}
        return found.get(first_id), found.get(second_id)

    def setting(self, key: str) -> str | None:
        return self.conn.execute(select(t.settings_kv.c.value).where(t.settings_kv.c.key == key)).scalar()

    def set_setting(self, key: str, value: str) -> None:
        if self.setting(key) is None:
            self.insert(t.settings_kv, key=key, value=value)
        else:
            self.update(t.settings_kv, [t.settings_kv.c.key == key], value=value)

    # --- projects and issuances -----------------------------------------------------------------------
    def project(self, id_: str) -> Project:
        r = self.one(t.projects, id_, "project")
        return Project(id=r["id"], number=r["number"], name=r["name"], standard=r["standard"],
                       methodology=r["methodology"], host_country=r["host_country"], proponent_id=r["proponent_id"],
                       crediting_start=r["crediting_start"], crediting_end=r["crediting_end"],
                       status=ProjectStatus(r["status"]))

    def next_project_number(self) -> int:
        return int(self.conn.execute(select(func.coalesce(func.max(t.projects.c.number), 0))).scalar_one()) + 1

    def issuance(self, id_: str) -> Issuance:
        r = self.one(t.issuances, id_, "issuance")
        return Issuance(id=r["id"], project_id=r["project_id"], number=r["number"], vintage=r["vintage"],
                        period_start=r["period_start"], period_end=r["period_end"], quantity_kg=r["quantity_kg"],
                        buffer_kg=r["buffer_kg"], account_id=r["account_id"],
                        buffer_account_id=r["buffer_account_id"], status=IssuanceStatus(r["status"]),
                        requested_by_key=r["requested_by_key"], requested_by_name=r["requested_by_name"],
                        serial_prefix=r["serial_prefix"])

    def overlapping_issuances(self, project_id: str, start: str, end: str, exclude_id: str | None = None) -> list[str]:
        c = t.issuances.c
        q = select(c.id).where(c.project_id == project_id, c.status != str(IssuanceStatus.REJECTED),
                               c.period_start <= end, c.period_end >= start)
        if exclude_id:
            q = q.where(c.id != exclude_id)
        return list(self.conn.execute(q).scalars())

    def next_issuance_number(self, project_id: str, vintage: int) -> int:
        c = t.issuances.c
        return int(self.conn.execute(select(func.coalesce(func.max(c.number), 0))
                                     .where(c.project_id == project_id, c.vintage == vintage)).scalar_one()) + 1

    def issuance_by_prefix(self, prefix: str) -> RowMapping | None:
        return self.conn.execute(select(t.issuances).where(t.issuances.c.serial_prefix == prefix)).mappings().first()

    # --- blocks ------------------------------------------------------------------------------------------
    def apply_movement(self, consumed: Sequence[Block], created: Sequence[Block], txn_id: str, now: str) -> None:
        if self.lock_rows:
            assert {b.account_id for b in (*consumed, *created)} <= self.locked_accounts, \
                "a concurrent command moved blocks of an account it did not lock"
        if consumed:
            ids = [b.id for b in consumed]
            changed = self.hot.run(f"UPDATE blocks SET is_leaf = ?, consumed_by_txn = ? WHERE is_leaf AND id IN "
                                   f"({', '.join('?' * len(ids))})", [False, txn_id, *ids])
            # A leaf consumed twice would break I2; the head lock (a concurrent command: its lock on the
            # account) makes this impossible, assert anyway.
            assert changed == len(ids), "a consumed block was no longer a leaf"
            written = self.written.setdefault("blocks", {})
            for id_ in ids:
                written.setdefault(id_, False)
        if created:
            rows = [block_row(b, now) for b in created]
            cols = tuple(rows[0])
            self.hot.many(f"INSERT INTO blocks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [tuple(r.values()) for r in rows])
            written = self.written.setdefault("blocks", {})
            for r in rows:
                written[r["id"]] = True

