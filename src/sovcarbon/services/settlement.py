"""DvP orders and the escrow's events (rules: ``domain/settlement.py``; contracts: ``chain/settlement.py``).

A licensed intermediary orders a DvP here (HTTP ``POST /v1/dvp-orders``): the registry fixes the terms and
the on-chain id (``chain_dvp_id`` = SHA-256 of the order id). The intermediary then creates it on the escrow
with exactly those terms; the parties fund their legs from their own keys; anyone settles. The registry
consumes the escrow's events (``consume``) exactly once by (tx hash, log index), in the same transaction as
their effect and the event cursor, and records every step with its chain evidence and a journal entry.
Tokens move on chain through the carbon token (its TransferSingle is mirrored by the bridge's consumer).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, StrictInt
from sqlalchemy import func, select

from sovcarbon.domain import settlement as rules
from sovcarbon.domain import tokenize as token_rules
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.invariants import LedgerSnapshot
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import Actor, Role
from sovcarbon.domain.op_ids import DVP_SCOPE, op_id_hex
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.requests import Command, Id
from sovcarbon.store import settlement_tables as st
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import Store, UnitOfWork

ESCROW_EVENTS = tuple(rules.TRANSITIONS)
# The escrow attached to a store (wired by bootstrap.wire_bridge once the bridge consumes one): its address and a
# reader of what it holds at one block, (escrowed kg per chain lot, escrowed satang); weakly, so a closed registry
# drops it.
EscrowReader = Callable[[Sequence[int], int], tuple[dict[int, int], int]]
ESCROW_READERS: weakref.WeakKeyDictionary[Store, tuple[str, EscrowReader]] = weakref.WeakKeyDictionary()


class DvpOrderIn(Command):
    seller_id: Id
    buyer_id: Id
    lot_id: Id
    quantity_kg: StrictInt
    price_satang_per_t: StrictInt
    deadline_at: AwareDatetime


def chain_dvp_id(order_id: str) -> str:
    return op_id_hex(order_id, scope=DVP_SCOPE)


def _wallet(uow: UnitOfWork, participant_id: str) -> str | None:
    value = uow.conn.execute(select(t.participants.c.wallet_address)
                             .where(t.participants.c.id == participant_id)).scalar()
    return str(value).lower() if value else None


def view(row: Any) -> dict[str, Any]:
    r = dict(row)
    r["delivery_funded"] = bool(r["delivery_funded"])
    r["payment_funded"] = bool(r["payment_funded"])
    r["detail"] = json.loads(r["detail"])
    r["evidence"] = ({"tx_hash": r["tx_hash"], "log_index": r["log_index"], "block_number": r["block_number"]}
                     if r["tx_hash"] else None)
    return r


def create_order(uow: UnitOfWork, actor: Actor, req: DvpOrderIn) -> dict[str, Any]:
    if actor.role != Role.INTERMEDIARY or actor.participant_id is None:
        raise RegistryError(1002, "only a licensed intermediary orders a DvP")
    operator = uow.repo.participant(actor.participant_id)
    operator_wallet = _wallet(uow, operator.id)
    token_rules.check_intermediary(operator, operator_wallet)
    total = rules.total_satang(req.quantity_kg, req.price_satang_per_t)
    deadline_s = int(req.deadline_at.timestamp())
    now_s = int(datetime.fromisoformat(uow.now).timestamp())
    rules.check_order(req.seller_id, req.buyer_id, deadline_s, now_s)
    wallets: dict[str, str] = {}
    for pid in (req.seller_id, req.buyer_id):
        party = uow.repo.participant(pid)
        wallet = _wallet(uow, pid)
        token_rules.check_holder(party, wallet, None, None)
        assert wallet is not None
        wallets[pid] = wallet
    lot = uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.id == req.lot_id)).mappings().first()
    if lot is None:
        raise RegistryError(7003, f"lot {req.lot_id} not found", lot_id=req.lot_id)
    if lot["frozen"]:
        raise RegistryError(4006, f"lot {req.lot_id} is frozen", lot_id=req.lot_id)
    if lot["status"] != token_rules.LotStatus.ACTIVE:
        raise RegistryError(7003, f"lot {req.lot_id} is not minted ({lot['status']})", lot_id=req.lot_id)
    order_id = new_id("dvp")
    row = dict(id=order_id, chain_dvp_id=chain_dvp_id(order_id), operator_id=operator.id, seller_id=req.seller_id,
               buyer_id=req.buyer_id, seller_address=wallets[req.seller_id], buyer_address=wallets[req.buyer_id],
               operator_address=str(operator_wallet), lot_id=req.lot_id, chain_lot_id=int(lot["chain_lot_id"]),
               quantity_kg=req.quantity_kg, price_satang_per_t=req.price_satang_per_t, total_satang=total,
               deadline_s=deadline_s,
               deadline_at=datetime.fromtimestamp(deadline_s, UTC).isoformat(timespec="seconds"),
               status=rules.ORDERED, delivery_funded=0, payment_funded=0, code=None, tx_hash=None, log_index=None,
               block_number=None, detail=json.dumps({"ordered_by": actor.key_id}), created_at=uow.now,
               updated_at=uow.now)
    uow.repo.insert(st.dvp_orders, **row)
    uow.append("dvp_ordered", {k: v for k, v in row.items() if k not in ("detail",)})
    return get_order(uow, actor, order_id)


def _visible(actor: Actor, row: Any) -> bool:
    return actor.role in READ_ALL_ROLES or actor.participant_id in (row["operator_id"], row["seller_id"],
                                                                    row["buyer_id"])


def get_order(uow: UnitOfWork, actor: Actor, order_id: str) -> dict[str, Any]:
    row = uow.conn.execute(select(st.dvp_orders).where(st.dvp_orders.c.id == order_id)).mappings().first()
    if row is None or not _visible(actor, row):
        raise RegistryError(1005, f"DvP order {order_id} not found", id=order_id)
    return view(row)


def list_orders(uow: UnitOfWork, actor: Actor, status: str | None = None) -> list[dict[str, Any]]:
    q = select(st.dvp_orders).order_by(st.dvp_orders.c.created_at, st.dvp_orders.c.id)
    if status is not None:
        q = q.where(st.dvp_orders.c.status == status)
    return [view(r) for r in uow.conn.execute(q).mappings() if _visible(actor, r)]


# ------------------------------------------------------------------------------------------- escrow events
def apply_event(uow: UnitOfWork, name: str, args: dict[str, Any], tx_hash: str, log_index: int,
                block_number: int) -> bool:
    """Apply one escrow event once (False if this (tx hash, log index) was applied before)."""
    c = st.dvp_events.c
    if uow.conn.execute(select(c.name).where(c.tx_hash == tx_hash, c.log_index == log_index)).first() is not None:
        return False
    dvp_id = str(args.get("dvp_id", "")).lower()
    order = uow.conn.execute(select(st.dvp_orders).where(st.dvp_orders.c.chain_dvp_id == dvp_id)
                             ).mappings().first()
    evidence = {"tx_hash": tx_hash, "log_index": log_index, "block_number": block_number}
    if order is None:  # a DvP nobody ordered here: recorded, nothing applied
        entry = uow.append("dvp_event_unmatched", {"event": name, "chain_dvp_id": dvp_id, **evidence})
        uow.repo.insert(st.dvp_events, tx_hash=tx_hash, log_index=log_index, name=name, dvp_order_id=None,
                        block_number=block_number, journal_seq=entry.seq, applied_at=uow.now)
        return True
    status = str(order["status"])
    changes: dict[str, Any] = {}
    detail = json.loads(order["detail"])
    if name == "DvpCreated" and status == rules.ORDERED:
        problems = rules.created_mismatches(dict(order), args)
        target = rules.REJECTED if problems else rules.OPEN
        if problems:
            detail["rejected"] = problems
    elif status in rules.FINAL:
        target = status  # e.g. a second DvpCreated, or a late event: recorded with its evidence, state kept
        detail.setdefault("ignored_events", []).append({"event": name, **evidence})
    else:
        target = rules.next_state(status, name)
    if name == "DeliveryFunded" and target == rules.OPEN:
        changes["delivery_funded"] = 1
    elif name == "PaymentFunded" and target == rules.OPEN:
        changes["payment_funded"] = 1
    if target == rules.EXPIRED and status != rules.EXPIRED:
        changes["code"] = rules.SETTLEMENT_EXPIRED
    if target in (rules.SETTLED, rules.CANCELLED, rules.EXPIRED) and status != target:
        changes.update(delivery_funded=0, payment_funded=0)  # the legs left the escrow (delivered or refunded)
    changes.update(status=target, tx_hash=tx_hash, log_index=log_index, block_number=block_number,
                   detail=canonical_text(detail), updated_at=uow.now)
    uow.repo.update(st.dvp_orders, [st.dvp_orders.c.id == order["id"]], **changes)
    if name == "DvpCreated" and status == rules.ORDERED:
        kind = "dvp_opened" if target == rules.OPEN else "dvp_rejected"
    elif target != status:
        kind = f"dvp_{target}"
    elif target == rules.OPEN:
        kind = "dvp_leg_funded"
    else:
        kind = "dvp_event_recorded"
    entry = uow.append(kind, {"order_id": order["id"], "event": name, "from": status, "to": target,
                        "code": changes.get("code"), "lot_id": order["lot_id"], "quantity_kg": order["quantity_kg"],
                        "total_satang": order["total_satang"], **evidence})
    uow.repo.insert(st.dvp_events, tx_hash=tx_hash, log_index=log_index, name=name, dvp_order_id=order["id"],
                    block_number=block_number, journal_seq=entry.seq, applied_at=uow.now)
    return True


def earliest_unopened_deadline(uow: UnitOfWork) -> int | None:
    """The earliest deadline of an order not yet created on the escrow (None if there is none)."""
    c = st.dvp_orders.c
    value = uow.conn.execute(select(func.min(c.deadline_s)).where(c.status == rules.ORDERED)).scalar()
    return None if value is None else int(value)


def lapse_unopened(uow: UnitOfWork, block_number: int, block_time_s: int) -> int:
    """Close as expired (7005) every order never created on the escrow whose deadline the chain's clock reached
    at ``block_number``, the last block the registry consumed (its events are applied before this, in the same
    transaction). The escrow refuses to create a DvP at or after its deadline and block times never go back,
    so no DvpCreated can come for them any more. Journal ``dvp_lapsed``; the evidence is the block, no event."""
    c = st.dvp_orders.c
    rows = uow.conn.execute(select(st.dvp_orders).where(c.status == rules.ORDERED, c.deadline_s <= block_time_s)
                            .order_by(c.id)).mappings().all()
    for order in rows:
        detail = json.loads(order["detail"])
        detail["lapsed"] = {"block_number": block_number, "block_time_s": block_time_s,
                            "reason": "never created on the escrow before its deadline"}
        uow.repo.update(st.dvp_orders, [c.id == order["id"]], status=rules.EXPIRED, code=rules.SETTLEMENT_EXPIRED,
                        block_number=block_number, detail=canonical_text(detail), updated_at=uow.now)
        uow.append("dvp_lapsed", {"order_id": order["id"], "from": rules.ORDERED, "to": rules.EXPIRED,
                                  "code": rules.SETTLEMENT_EXPIRED, "deadline_s": int(order["deadline_s"]),
                                  "block_number": block_number, "block_time_s": block_time_s})
    return len(rows)


def all_orders(uow: UnitOfWork) -> list[dict[str, Any]]:
    return [view(r) for r in uow.conn.execute(select(st.dvp_orders).order_by(st.dvp_orders.c.id)).mappings()]


def escrow_cursor(uow: UnitOfWork, escrow_address: str) -> int | None:
    """The next escrow block to read (None before the first read)."""
    c = tt.token_event_cursor.c
    value = uow.conn.execute(select(c.next_block).where(c.contract_address == escrow_address)).scalar()
    return None if value is None else int(value)


def save_cursor(uow: UnitOfWork, escrow_address: str, next_block: int) -> None:
    c = tt.token_event_cursor.c
    if escrow_cursor(uow, escrow_address) is None:
        uow.repo.insert(tt.token_event_cursor, contract_address=escrow_address, next_block=next_block,
                        updated_at=uow.now)
    else:
        uow.repo.update(tt.token_event_cursor, [c.contract_address == escrow_address], next_block=next_block,
                        updated_at=uow.now)


def escrow_conservation(orders: Sequence[dict[str, Any]], escrowed_kg_by_lot: dict[int, int],
                        escrowed_satang: int) -> list[str]:
    return rules.escrow_conservation(list(orders), escrowed_kg_by_lot, escrowed_satang)


def load_snapshot(uow: UnitOfWork, snapshot: LedgerSnapshot) -> None:
    """ESCROW snapshot loader: order facts and applied events always; what the escrow holds, at the block the
    registry consumed, when an escrow is attached to this store."""
    orders = [dict(r) for r in uow.conn.execute(select(st.dvp_orders)).mappings()]
    snapshot.extra[rules.ORDERS_KEY] = orders
    c = st.dvp_events.c
    snapshot.extra[rules.EVENTS_KEY] = {(str(r[0]), int(r[1])): r[2] for r in uow.conn.execute(
        select(c.tx_hash, c.log_index, c.dvp_order_id))}
    attached = ESCROW_READERS.get(uow.store)
    if attached is None:
        return
    address, reader = attached
    next_block = escrow_cursor(uow, address)
    if next_block is None or next_block < 1:
        return
    # every lot the NR mirrors, not only the ordered ones: tokens escrowed for no order are a finding too
    mirrored = {int(v) for v in uow.conn.execute(select(tt.token_lots.c.chain_lot_id)).scalars() if v is not None}
    lots = sorted({int(o["chain_lot_id"]) for o in orders} | mirrored)
    snapshot.extra[rules.ESCROW_KEY] = reader(lots, next_block - 1)
