"""Which tables the journal guards, and the canonical image of a row.

Every write transaction records the (table, key) of each guarded row it writes (``Repository``); at
flush the unit of work reads those rows back and puts their images in the private part of the
transaction's journal entry. Replaying the images from genesis must give the live tables exactly
(``services/ledger_audit``). Every table of the metadata is decided here, explicitly: a new table
without a decision fails ``tests/security/test_tamper.py``.

| table | guarded? | why |
|---|---|---|
| participants, accounts, api_keys (keys, roles), projects, project_registrations, | yes | the ledger of record |
| issuances, transactions, blocks, retirements, certificates, cancellations, admin_transfers | | |
| a6_* (LoAs, versions, documents, coverage, first transfers, CAs, actions, exports, | yes | Article 6 accounting |
| labels, year closes, frozen holdings) | | |
| token_* (holders, lots, outbox, events, cursor, dead letters, identity sync, | yes | the bridge's state decides |
| balances, reconciliations, burns, officer actions) | | mints and burns |
| liens (pledges of units and tokens to banks, migration 0016) | yes | a lien decides what may move |
| journal, journal_head, checkpoints | no | the journal itself (hash chain, signed checkpoints) |
| idempotency | no | a cache of responses; never read as ledger state |
| registry_settings | no | configuration (registry participant, buffer account, pseudonym secret) |
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Integer, LargeBinary, Numeric, Table

from sovcarbon.domain.journal import canonical_json

# Their tables join the metadata (settlement_tables: DvP orders and escrow events, migration 0014).
from sovcarbon.store import article6_tables, lien_tables, peer_tables, settlement_tables, token_tables  # noqa: F401
from sovcarbon.store import tables as t

UNGUARDED_TABLES: dict[str, str] = {
    "journal": "the journal itself: hash chain and signed checkpoints",
    "journal_head": "the journal's head: checked against the chain by journal verify",
    "checkpoints": "signed checkpoints of the journal",
    "idempotency": "a cache of command responses, not ledger state",
    "registry_settings": "configuration (registry participant, buffer account, pseudonym secret)",
}

GUARDED_TABLE_NAMES: frozenset[str] = frozenset({
    "participants", "accounts", "api_keys", "projects", "project_registrations", "issuances", "transactions",
    "blocks", "retirements", "cancellations", "certificates", "admin_transfers", "token_consents",
    "a6_documents", "a6_authorizations", "a6_authorization_versions", "a6_coverage", "a6_first_transfers",
    "a6_adjustments", "a6_actions", "a6_exports", "a6_labels", "a6_year_closes", "a6_holdings", "a6_submissions",
    "token_holders", "token_lots", "token_outbox", "token_events", "token_event_cursor", "token_dead_letters",
    "token_identity_sync", "token_balances", "token_reconciliations", "token_burns", "token_officer_actions",
    "peers", "peer_transfers", "peer_messages", "peer_mirrors", "peer_uses_abroad", "peer_reconciliations",
    "peer_keys", "peer_entity_uses",
    "dvp_orders", "dvp_events",
    "liens",
})

IN_CHUNK = 500


@dataclass(frozen=True)
class GuardedTable:
    name: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    key_index: tuple[int, ...]
    bool_index: frozenset[int]
    binary_index: frozenset[int]
    select_sql: str  # all columns, no WHERE
    int_key: bool  # a single integer key column (autoincrement ids): keys are converted back to int

    def key_of(self, values: Sequence[Any]) -> str:
        """The row key from the key columns' values (in key column order)."""
        if len(values) == 1:
            return str(values[0])
        return canonical_json(list(values)).decode()

    def image(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row (all columns, in ``columns`` order) as canonical JSON-ready values (no floats, no bytes)."""
        out = dict(zip(self.columns, row, strict=True))
        for i in self.bool_index:
            name = self.columns[i]
            if out[name] is not None:
                out[name] = bool(out[name])
        for i in self.binary_index:
            name = self.columns[i]
            if out[name] is not None:
                out[name] = "sha256:" + hashlib.sha256(bytes(out[name])).hexdigest()
        return out


def _describe(table: Table) -> GuardedTable:
    columns = tuple(c.name for c in table.columns)
    keys = tuple(c.name for c in table.primary_key.columns)
    assert keys, f"guarded table {table.name} needs a primary key"
    select_sql = f"SELECT {', '.join(columns)} FROM {table.name}"
    return GuardedTable(
        name=table.name, columns=columns, key_columns=keys, key_index=tuple(columns.index(k) for k in keys),
        bool_index=frozenset(i for i, c in enumerate(table.columns) if isinstance(c.type, Boolean)),
        binary_index=frozenset(i for i, c in enumerate(table.columns) if isinstance(c.type, LargeBinary)),
        select_sql=select_sql,
        int_key=len(keys) == 1 and isinstance(table.c[keys[0]].type, Integer))


GUARDED: dict[str, GuardedTable] = {name: _describe(t.metadata.tables[name])
                                    for name in sorted(GUARDED_TABLE_NAMES) if name in t.metadata.tables}


# Images are canonical JSON without floats: no guarded column may be a float type (checked at import).
_FLOATS = [f"{g.name}.{c.name}" for g in GUARDED.values() for c in t.metadata.tables[g.name].columns
           if isinstance(c.type, Numeric)]
assert not _FLOATS, f"guarded columns must not be floats (quantities are integer kg): {_FLOATS}"


def undecided_tables() -> list[str]:
    """Tables of the metadata with no decision (guarded or not): must be empty."""
    return sorted(set(t.metadata.tables) - GUARDED_TABLE_NAMES - set(UNGUARDED_TABLES))


def _key_values(g: GuardedTable, key: str) -> list[Any]:
    return [key] if len(g.key_columns) == 1 else list(json.loads(key))


@functools.lru_cache(maxsize=4096)
def _in_sql(table: str, n: int) -> str:
    g = GUARDED[table]
    return f"{g.select_sql} WHERE {g.key_columns[0]} IN ({', '.join('?' * n)})"


def _image_queries(table: str, wanted: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """The SELECTs (one per chunk of keys) that read rows of ``table`` back by key."""
    g = GUARDED[table]
    single = len(g.key_columns) == 1
    queries = []
    for lo in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[lo:lo + IN_CHUNK]
        if single:
            sql = _in_sql(table, len(chunk))
            params: list[Any] = [int(k) for k in chunk] if g.int_key else list(chunk)
        else:
            params = []
            parts = []
            for k in chunk:
                parts.append("(" + " AND ".join(f"{c} = ?" for c in g.key_columns) + ")")
                params.extend(_key_values(g, k))
            sql = f"{g.select_sql} WHERE {' OR '.join(parts)}"
        queries.append((sql, params))
    return queries


def read_images(hot: Any, table: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Read rows back by key (one SELECT per chunk of keys); absent rows map to None."""
    return read_images_of(hot, {table: keys})[table]


def read_images_of(hot: Any, written: dict[str, Iterable[str]]) -> dict[str, dict[str, dict[str, Any] | None]]:
    """``read_images`` of several tables at once: on PostgreSQL their SELECTs go in one pipeline (one round
    trip for a transfer's blocks and transaction row instead of two; ``HotSql.batch``)."""
    wanted = {table: list(keys) for table, keys in written.items()}
    plan = [(table, q) for table, keys in wanted.items() for q in _image_queries(table, keys)]
    results = hot.batch([q for _, q in plan])
    out: dict[str, dict[str, dict[str, Any] | None]] = {table: dict.fromkeys(keys) for table, keys in wanted.items()}
    for (table, _), rows in zip(plan, results, strict=True):
        g = GUARDED[table]
        images = out[table]
        for row in rows:
            images[g.key_of([row[i] for i in g.key_index])] = g.image(row)
    return out


def stream_table(dbapi_cursor: Any, table: str, batch: int = 5000) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every row of a guarded table as (key, image), in no particular order, read in batches."""
    g = GUARDED[table]
    dbapi_cursor.execute(g.select_sql)
    while True:
        rows = dbapi_cursor.fetchmany(batch)
        if not rows:
            return
        for row in rows:
            yield g.key_of([row[i] for i in g.key_index]), g.image(row)
