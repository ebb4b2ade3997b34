"""The blocks aggregate's reads: the split tree of serial ranges (leaf queries, lineage, balances, supply).

Bound to a unit of work (``uow.blocks``). Services read blocks through here and never build block SQL
themselves (``tests/test_architecture.py``). Rows come back as ``Block`` values or plain mappings for views.
The split itself (consume leaves, insert children) is ``Repository.apply_movement``: it records the rows it
writes for the journal's row images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, RowMapping

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Block, BlockState, IssuanceStatus
from sovcarbon.store import tables as t

LEAF_BATCH = 256

# Predicates written exactly as the partial indexes' WHERE clause, so both SQLite and PostgreSQL use them.
LEAF = text("blocks.is_leaf")
# Supply and balances count a block's kilograms from its serial range, as the invariant checker (I1/I2)
# does: the two can never be made to disagree by editing the redundant quantity_kg column alone (the
# journal replay catches that edit: docs/security.md).
RANGE_KG = t.blocks.c.last_kg - t.blocks.c.first_kg + 1
BLOCK_COLS = ("id, issuance_id, project_id, standard, vintage, serial_prefix, first_kg, last_kg, state, account_id, "
              "parent_id, txn_id, frozen, lot_id, lien_id")


def block_from_tuple(r: Sequence[Any]) -> Block:
    return Block(id=r[0], issuance_id=r[1], project_id=r[2], standard=r[3], vintage=r[4], serial_prefix=r[5],
                 first_kg=r[6], last_kg=r[7], state=BlockState(r[8]), account_id=r[9], parent_id=r[10], txn_id=r[11],
                 frozen=bool(r[12]), lot_id=r[13], lien_id=r[14])


def block_from_row(r: RowMapping) -> Block:
    return Block(id=r["id"], issuance_id=r["issuance_id"], project_id=r["project_id"], standard=r["standard"],
                 vintage=r["vintage"], serial_prefix=r["serial_prefix"], first_kg=r["first_kg"], last_kg=r["last_kg"],
                 state=BlockState(r["state"]), account_id=r["account_id"], parent_id=r["parent_id"],
                 txn_id=r["txn_id"], frozen=bool(r["frozen"]), lot_id=r["lot_id"], lien_id=r["lien_id"])


def block_row(b: Block, now: str) -> dict[str, Any]:
    return dict(id=b.id, issuance_id=b.issuance_id, project_id=b.project_id, standard=b.standard, vintage=b.vintage,
                serial_prefix=b.serial_prefix, first_kg=b.first_kg, last_kg=b.last_kg, quantity_kg=b.quantity_kg,
                state=str(b.state), account_id=b.account_id, parent_id=b.parent_id, txn_id=b.txn_id,
                consumed_by_txn=None, is_leaf=True, frozen=b.frozen, lot_id=b.lot_id, created_at=now, lien_id=b.lien_id)


class HotStatements(Protocol):
    """What the blocks need of ``repository.HotSql`` (the hot path's direct DB-API statements)."""

    def one(self, sql: str, params: Sequence[Any]) -> Any: ...

    def all(self, sql: str, params: Sequence[Any], *, custom_plan: bool = False) -> list[Any]: ...


class BlockRepository:
    """Reads of the block tree on the unit of work's connection."""

    def __init__(self, conn: Connection, hot: HotStatements) -> None:
        self.conn = conn
        self.hot = hot

    # --- leaves a movement picks from (the hot path) ----------------------------------------------------
    def free_leaves(self, account_id: str, state: BlockState = BlockState.HELD, *, project_id: str | None = None,
                    vintage: int | None = None, standards: Sequence[str] | None = None,
                    lot_id: str | None = None) -> Iterator[Block]:
        """Unfrozen leaves of an account in one state, lowest serials first, read in bounded batches."""
        where = ["is_leaf", "account_id = ?", "state = ?", "NOT frozen"]
        params: list[Any] = [account_id, str(state)]
        for column, value in (("project_id", project_id), ("vintage", vintage), ("lot_id", lot_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if standards is not None:
            where.append(f"standard IN ({', '.join('?' * len(standards))})" if standards else "1 = 0")
            params.extend(standards)
        # The ORDER BY names the leading equality columns of one index on purpose (a lot's leaves when a lot
        # is named, else the account's): only that index yields this order, so no planner walks another
        # index filtering a million leaves.
        lead = "lot_id" if lot_id is not None else "account_id"
        order = f"ORDER BY {lead}, state, serial_prefix, first_kg LIMIT {LEAF_BATCH}"
        first_page = f"SELECT {BLOCK_COLS} FROM blocks WHERE {' AND '.join(where)} {order}"
        next_page = (f"SELECT {BLOCK_COLS} FROM blocks WHERE {' AND '.join(where)} "
                     f"AND (serial_prefix > ? OR (serial_prefix = ? AND first_kg > ?)) {order}")
        # Planned per execution (custom_plan): a generic plan cannot see how many leaves this account holds.
        rows = self.hot.all(first_page, params, custom_plan=True)
        while True:
            for r in rows:
                yield block_from_tuple(r)
            if len(rows) < LEAF_BATCH:
                return
            last = rows[-1]
            rows = self.hot.all(next_page, [*params, last[5], last[5], last[6]], custom_plan=True)

    def leaves_overlapping(self, prefix: str, first_kg: int, last_kg: int) -> list[Block]:
        # Leaves never overlap (I2), so at most one starts before first_kg: take it plus those inside.
        before = self.hot.one(f"SELECT {BLOCK_COLS} FROM blocks WHERE is_leaf AND serial_prefix = ? AND first_kg <= ? "
                              "ORDER BY first_kg DESC LIMIT 1", (prefix, first_kg))
        inside = self.hot.all(f"SELECT {BLOCK_COLS} FROM blocks WHERE is_leaf AND serial_prefix = ? AND first_kg > ? "
                              "AND first_kg <= ? ORDER BY first_kg", (prefix, first_kg, last_kg))
        out = [block_from_tuple(before)] if before is not None and before[7] >= first_kg else []
        out += [block_from_tuple(r) for r in inside]
        return out

    # --- the tree ------------------------------------------------------------------------------------
    def block(self, id_: str) -> RowMapping:
        row = self.conn.execute(select(t.blocks).where(t.blocks.c.id == id_)).mappings().first()
        if row is None:
            raise RegistryError(1005, f"block {id_} not found", id=id_)
        return row

    def lineage(self, block_id: str, limit: int = 10_000) -> list[RowMapping]:
        chain: list[RowMapping] = []
        current: str | None = block_id
        while current is not None and len(chain) < limit:
            row = self.block(current)
            chain.append(row)
            current = row["parent_id"]
        return chain

    def of_txn(self, txn_id: str, state: str | None = None) -> list[Block]:
        """The blocks a transaction created (only those in ``state`` when named), in serial order."""
        q = select(t.blocks).where(t.blocks.c.txn_id == txn_id)
        if state is not None:
            q = q.where(t.blocks.c.state == state)
        rows = self.conn.execute(q.order_by(t.blocks.c.serial_prefix, t.blocks.c.first_kg)).mappings()
        return [block_from_row(r) for r in rows]

    def issuance_roots(self, issuance_id: str) -> list[Block]:
        """The root blocks an approved issuance created (none while it is pending)."""
        c = t.blocks.c
        rows = self.conn.execute(select(t.blocks).where(c.issuance_id == issuance_id, c.parent_id.is_(None))
                                 .order_by(c.first_kg)).mappings()
        return [block_from_row(r) for r in rows]

    def serial_prefix_used(self, prefix: str) -> bool:
        q = select(t.blocks.c.id).where(t.blocks.c.serial_prefix == prefix).limit(1)
        return self.conn.execute(q).first() is not None

    # --- balances and supply -------------------------------------------------------------------------
    def kg_by_lot_state(self, lot_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """Token lots: lot id -> state -> kg of its leaves (every tagged lot, or those of ``lot_ids``)."""
        c = t.blocks.c
        q = select(c.lot_id, c.state, func.sum(c.quantity_kg)).where(LEAF, c.lot_id.is_not(None))
        if lot_ids is not None:
            q = q.where(c.lot_id.in_(list(lot_ids)))
        out: dict[str, dict[str, int]] = {}
        for lot_id, state, kg in self.conn.execute(q.group_by(c.lot_id, c.state)):
            out.setdefault(str(lot_id), {})[str(state)] = int(kg)
        return out

    def lot_leaves(self, lot_id: str) -> list[RowMapping]:
        """A token lot's leaves, in serial order."""
        c = t.blocks.c
        return list(self.conn.execute(select(t.blocks).where(LEAF, c.lot_id == lot_id)
                                      .order_by(c.serial_prefix, c.first_kg)).mappings())

    def holdings(self, account_id: str) -> list[RowMapping]:
        c = t.blocks.c
        return list(self.conn.execute(select(t.blocks).where(LEAF, c.account_id == account_id)
                                      .order_by(c.serial_prefix, c.first_kg)).mappings())

    def balance_by_state(self, account_id: str) -> dict[str, int]:
        c = t.blocks.c
        rows = self.conn.execute(select(c.state, func.sum(RANGE_KG)).where(LEAF,
                                 c.account_id == account_id).group_by(c.state)).all()
        return {r[0]: int(r[1]) for r in rows}

    def supply(self, project_id: str | None = None, vintage: int | None = None) -> tuple[int, dict[str, int]]:
        c = t.blocks.c
        conds: list[Any] = [LEAF]
        ic = t.issuances.c
        iconds = [ic.status == str(IssuanceStatus.ISSUED)]
        if project_id:
            conds.append(c.project_id == project_id)
            iconds.append(ic.project_id == project_id)
        if vintage:
            conds.append(c.vintage == vintage)
            iconds.append(ic.vintage == vintage)
        by_state = {r[0]: int(r[1]) for r in self.conn.execute(
            select(c.state, func.sum(RANGE_KG)).where(*conds).group_by(c.state)).all()}
        issued = int(self.conn.execute(select(func.coalesce(func.sum(ic.quantity_kg), 0)).where(*iconds)).scalar_one())
        return issued, by_state

    def frozen_kg(self, project_id: str | None = None) -> int:
        c = t.blocks.c
        conds: list[Any] = [LEAF, text("blocks.frozen")]
        if project_id:
            conds.append(c.project_id == project_id)
        return int(self.conn.execute(select(func.coalesce(func.sum(RANGE_KG), 0)).where(*conds)).scalar_one())

    def invariant_facts(self) -> list[tuple[Any, ...]]:
        """Every block's (id, issuance, parent, first kg, last kg, state, is_leaf), for the invariant checker."""
        c = t.blocks.c
        return [tuple(r) for r in self.conn.execute(
            select(c.id, c.issuance_id, c.parent_id, c.first_kg, c.last_kg, c.state, c.is_leaf))]
