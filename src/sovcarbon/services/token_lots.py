"""Token lots as the NR records them: lookups, views and pages, the NR freeze of a lot, and the I4
snapshot loader (NR lot facts beside the chain's figures when a bridge serves the store)."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from sovcarbon.domain import tokenize as rules
from sovcarbon.domain.chain_ops import LOT_OPS, FreezeLot
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.invariants import LedgerSnapshot
from sovcarbon.domain.model import BlockState
from sovcarbon.domain.tokenize import ChainLotFigures, LotFacts, LotStatus
from sovcarbon.services import retirements, token_burns
from sovcarbon.services.token_outbox import PENDING, SENT, enqueue, outbox_view
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import Store, UnitOfWork

# A chain reader answers the chain's figures of some lots at one block; the bridge registers one per
# store it serves (weakly: a closed registry drops it), so the I4 loader reads the chain when there is one.
ChainReader = Callable[[Sequence[int], int], dict[int, ChainLotFigures]]
CHAIN_READERS: weakref.WeakKeyDictionary[Store, Callable[[], tuple[ChainReader, str] | None]] = (
    weakref.WeakKeyDictionary())

# ------------------------------------------------------------------------------------------- lots
def lot_row(uow: UnitOfWork, lot_id: str) -> RowMapping:
    row = uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.id == lot_id)).mappings().first()
    if row is None:
        raise RegistryError(7003, f"lot {lot_id} not found", lot_id=lot_id)
    return row


def lot_by_chain_id(uow: UnitOfWork, chain_lot_id: int) -> RowMapping:
    row = uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.chain_lot_id == chain_lot_id)
                           ).mappings().first()
    if row is None:
        raise RegistryError(7003, f"no NR lot for chain lot {chain_lot_id}", chain_lot_id=chain_lot_id)
    return row


def _kg_by_state(uow: UnitOfWork, lot_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    return uow.repo.blocks.kg_by_lot_state(lot_ids)


def lot_view(uow: UnitOfWork, lot_id: str, *, with_blocks: bool = False) -> dict[str, Any]:
    r = lot_row(uow, lot_id)
    kg = _kg_by_state(uow, [lot_id]).get(lot_id, {})
    view = _lot_dict(r, kg)
    if with_blocks:
        view["blocks"] = [block_view(b) for b in uow.repo.blocks.lot_leaves(lot_id)]
        bc = tt.token_balances.c
        view["token_holders"] = [{"address": a, "balance_kg": int(b)} for a, b in uow.conn.execute(
            select(bc.address, bc.balance_kg).where(bc.chain_lot_id == r["chain_lot_id"], bc.balance_kg > 0)
            .order_by(bc.address))]
        ec = tt.token_events.c
        burns = uow.conn.execute(select(ec.tx_hash, ec.log_index, t.retirements.c.id).join(
            t.retirements, t.retirements.c.txn_id == ec.applied_txn).where(ec.chain_lot_id == r["chain_lot_id"])
            .order_by(ec.block_number, ec.log_index)).all()
        view["retirements"] = []
        for tx_hash, log_index, retirement_id in burns:
            ret = retirements.view(uow, retirement_id)
            view["retirements"].append({"id": retirement_id, "chain_tx": tx_hash, "log_index": log_index,
                                        "quantity_kg": ret["quantity_kg"], "serials": ret["serials"],
                                        "certificate_id": ret["certificate_id"], "created_at": ret["created_at"]})
        view["outbox"] = [outbox_view(o) for o in uow.conn.execute(
            select(tt.token_outbox).where(tt.token_outbox.c.lot_id == lot_id).order_by(tt.token_outbox.c.seq)
        ).mappings()]
    return view


def _lot_dict(r: Mapping[Any, Any], kg: Mapping[str, int]) -> dict[str, Any]:
    return dict(id=r["id"], chain_lot_id=r["chain_lot_id"], status=r["status"], frozen=bool(r["frozen"]),
                holder_participant_id=r["holder_participant_id"], holder_account_id=r["holder_account_id"],
                holder_address=r["holder_address"], intermediary_id=r["intermediary_id"],
                custody_account_id=r["custody_account_id"], quantity_kg=r["quantity_kg"],
                immobilized_kg=kg.get(str(BlockState.IMMOBILIZED), 0), retired_kg=r["retired_kg"],
                redeemed_kg=r["redeemed_kg"], serials=json.loads(r["serials"]), txn_id=r["txn_id"],
                mint_block=r["mint_block"], failure=r["failure"], created_at=r["created_at"],
                updated_at=r["updated_at"])


def list_lots(uow: UnitOfWork, *, limit: int, cursor: str | None, where: Sequence[Any] = ()) -> dict[str, Any]:
    rows, nxt = uow.repo.page(tt.token_lots, limit=limit, cursor=cursor, where=where)
    kg = _kg_by_state(uow, [r["id"] for r in rows])
    return {"data": [_lot_dict(r, kg.get(r["id"], {})) for r in rows], "next_cursor": nxt}


def set_lot(uow: UnitOfWork, lot_id: str, **values: Any) -> None:
    uow.repo.update(tt.token_lots, [tt.token_lots.c.id == lot_id], updated_at=uow.now, **values)


def freeze_lot(uow: UnitOfWork, lot_id: str, reason: str, report_id: str) -> bool:
    """Freeze a lot in the NR (journal entry) and enqueue the freeze on chain. False if already frozen."""
    lot = lot_row(uow, lot_id)
    if lot["frozen"]:
        return False
    set_lot(uow, lot_id, frozen=True)
    enqueue(uow, FreezeLot(chain_lot_id=int(lot["chain_lot_id"])), lot_id)
    uow.append("lot_frozen", {"lot_id": lot_id, "chain_lot_id": lot["chain_lot_id"], "code": 7001,
                              "reason": reason, "reconciliation_id": report_id})
    return True


# ------------------------------------------------------------------------------------------- I4
def event_cursor_block(uow: UnitOfWork, contract_address: str) -> int | None:
    """The last chain block whose events the NR has consumed (None before the first read)."""
    value = uow.conn.execute(select(tt.token_event_cursor.c.next_block)
                             .where(tt.token_event_cursor.c.contract_address == contract_address)).scalar()
    return None if value is None else int(value) - 1


def lot_facts(uow: UnitOfWork, reader: ChainReader | None = None, at_block: int | None = None,
              lot_ids: Sequence[str] | None = None) -> list[LotFacts]:
    """Every lot as the NR records it; with a reader, plus the chain's figures at ``at_block`` (the last
    block whose events the NR has consumed, so both sides describe the same moment)."""
    q = select(tt.token_lots)
    if lot_ids is not None:
        q = q.where(tt.token_lots.c.id.in_(list(lot_ids)))
    lots = list(uow.conn.execute(q.order_by(tt.token_lots.c.chain_lot_id)).mappings())
    kg = _kg_by_state(uow, None if lot_ids is None else list(lot_ids))
    c = tt.token_outbox.c
    busy = {str(r[0]) for r in uow.conn.execute(
        select(c.lot_id).where(c.lot_id.is_not(None), c.status.in_([PENDING, SENT]), c.kind.in_(list(LOT_OPS)))
        .distinct())}
    chain: dict[int, ChainLotFigures] = {}
    if reader is not None and at_block is not None and at_block >= 0 and lots:
        chain = reader([int(r["chain_lot_id"]) for r in lots], at_block)
    unsettled = token_burns.unsettled_by_lot(uow)
    facts: list[LotFacts] = []
    for r in lots:
        by_state = kg.get(r["id"], {})
        accepted_retire_kg, accepted_redeem_kg, refused_kg = unsettled.get(int(r["chain_lot_id"]), (0, 0, 0))
        in_flight = (r["status"] == LotStatus.MINTING or r["id"] in busy
                     or (r["mint_block"] is not None and at_block is not None and int(r["mint_block"]) > at_block))
        facts.append(LotFacts(
            lot_id=r["id"], chain_lot_id=int(r["chain_lot_id"]), status=r["status"],
            quantity_kg=int(r["quantity_kg"]), immobilized_kg=by_state.get(str(BlockState.IMMOBILIZED), 0),
            retired_kg=by_state.get(str(BlockState.RETIRED), 0), retired_counter_kg=int(r["retired_kg"]),
            redeemed_kg=int(r["redeemed_kg"]), chain=chain.get(int(r["chain_lot_id"])), in_flight=in_flight,
            accepted_retire_kg=accepted_retire_kg, accepted_redeem_kg=accepted_redeem_kg, refused_kg=refused_kg))
    return facts


def load_lot_facts(uow: UnitOfWork, snapshot: LedgerSnapshot) -> None:
    """I4 snapshot loader: NR lot facts always; the chain's figures when a bridge serves this store."""
    reader: ChainReader | None = None
    at_block: int | None = None
    source = CHAIN_READERS.get(uow.store)
    attached = source() if source is not None else None
    if attached is not None:
        reader, contract_address = attached
        at_block = event_cursor_block(uow, contract_address)
    snapshot.extra[rules.LOT_FACTS_KEY] = lot_facts(uow, reader, at_block)
