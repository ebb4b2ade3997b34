"""The NR effects of chain outcomes, each inside the caller's unit of work: an outbox row confirmed or
failed (a lot's mint confirmed or compensated, identity sync settled), token balances mirrored from
transfers, burns for a claim retired in the NR and burns for redemption released to an NR account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import RowMapping

from sovcarbon.domain import tokenize as rules
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.chain_ops import IDENTITY_OPS, LOT_OPS, OpKind
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import AccountKind, BlockState, Purpose
from sovcarbon.domain.tokenize import LotStatus
from sovcarbon.services import retirements
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.movements import record
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_lots import lot_by_chain_id, lot_row, set_lot
from sovcarbon.services.token_outbox import CONFIRMED, FAILED, PENDING, SENT, TERMINAL, set_outbox
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork


# ------------------------------------------------------------------------------------------- chain outcomes
def confirm(uow: UnitOfWork, outbox_id: str, tx_hash: str | None, block_number: int | None) -> None:
    """The chain executed the row's operation (its receipt, or the contract says the op id is used)."""
    row = uow.conn.execute(select(tt.token_outbox).where(tt.token_outbox.c.id == outbox_id)).mappings().one()
    if row["status"] in TERMINAL:
        return
    set_outbox(uow, outbox_id, status=CONFIRMED, tx_hash=tx_hash or row["tx_hash"], last_error=None)
    if row["kind"] == OpKind.MINT and row["lot_id"] is not None:
        set_lot(uow, row["lot_id"], status=LotStatus.ACTIVE, mint_block=block_number)
        lot = lot_row(uow, row["lot_id"])
        uow.append("tokens_minted", {"lot_id": lot["id"], "chain_lot_id": lot["chain_lot_id"],
                                     "amount_kg": lot["quantity_kg"], "to": lot["holder_address"],
                                     "chain_tx": tx_hash or row["tx_hash"], "block": block_number,
                                     "outbox_id": outbox_id})
    elif row["kind"] in IDENTITY_OPS:
        c = tt.token_identity_sync.c
        uow.repo.update(tt.token_identity_sync, [c.outbox_id == outbox_id], status=CONFIRMED, updated_at=uow.now)


def fail(uow: UnitOfWork, outbox_id: str, code: int, reason: str) -> None:
    """The chain rejected the row's operation for good. A lot's open/mint is compensated in the NR: its
    units go back to the holder and the lot fails with 7002; nothing is left half-done."""
    row = uow.conn.execute(select(tt.token_outbox).where(tt.token_outbox.c.id == outbox_id)).mappings().one()
    if row["status"] in TERMINAL:
        return
    message = f"7002 CHAIN_REJECTED: {code} {reason}"
    set_outbox(uow, outbox_id, status=FAILED, last_error=message)
    if row["kind"] in LOT_OPS and row["lot_id"] is not None:
        _compensate_lot(uow, row["lot_id"], outbox_id, message)
    elif row["kind"] in IDENTITY_OPS:
        c = tt.token_identity_sync.c
        uow.repo.update(tt.token_identity_sync, [c.outbox_id == outbox_id], status=FAILED, updated_at=uow.now)


def _compensate_lot(uow: UnitOfWork, lot_id: str, outbox_id: str, message: str) -> None:
    lot = lot_row(uow, lot_id)
    if lot["status"] != LotStatus.MINTING:
        return
    leaves = list(uow.repo.blocks.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot_id))
    assert sum(b.quantity_kg for b in leaves) == lot["quantity_kg"], "a lot that never minted lost units"
    txn_id = new_id("txn")
    picks = rules.pick_from_lot(leaves, lot["quantity_kg"], lot_id)
    movement = rules.plan_release(picks, txn_id, lambda: new_id("blk"), lot["holder_account_id"])
    record(uow, movement, txn_id, "tokenization_compensated", SYSTEM_ACTOR.key_id, lot["custody_account_id"],
           lot["holder_account_id"], {"lot_id": lot_id, "chain_lot_id": lot["chain_lot_id"], "code": 7002,
                                      "reason": message, "outbox_id": outbox_id})
    set_lot(uow, lot_id, status=LotStatus.FAILED, failure=message)
    c = tt.token_outbox.c
    uow.repo.update(tt.token_outbox, [c.lot_id == lot_id, c.id != outbox_id, c.status.in_([PENDING, SENT]),
                                      c.kind.in_(list(LOT_OPS))],
                    status=FAILED, last_error=f"lot {lot_id} compensated after {outbox_id} failed", updated_at=uow.now)


def apply_transfer(uow: UnitOfWork, chain_lot_id: int, sender: str | None, receiver: str | None,
                   amount_kg: int) -> None:
    """Mirror a TransferSingle (mint: from zero, burn: to zero) into ``token_balances``."""
    zero = "0x" + "00" * 20
    c = tt.token_balances.c
    for address, delta_kg in ((sender, -amount_kg), (receiver, amount_kg)):
        if address is None or address.lower() == zero:
            continue
        key = address.lower()
        current = uow.conn.execute(select(c.balance_kg).where(c.chain_lot_id == chain_lot_id, c.address == key)
                                   ).scalar()
        if current is None:
            uow.repo.insert(tt.token_balances, chain_lot_id=chain_lot_id, address=key, balance_kg=delta_kg)
        else:
            uow.repo.update(tt.token_balances, [c.chain_lot_id == chain_lot_id, c.address == key],
                            balance_kg=int(current) + delta_kg)


def _participant_by_wallet(uow: UnitOfWork, address: str) -> RowMapping | None:
    return uow.conn.execute(select(t.participants).where(t.participants.c.wallet_address == address.lower())
                            ).mappings().first()


def apply_retired(reg: Registry, uow: UnitOfWork, event: Mapping[Any, Any]) -> tuple[str, int]:
    """A burn for a claim on chain becomes an NR retirement of the lot's lowest serials, with the chain
    tx as evidence and a certificate. Returns (transaction id, journal seq)."""
    lot = lot_by_chain_id(uow, int(event["lot_id"]))
    amount_kg = int(event["amount_kg"])
    try:
        purpose = Purpose(str(event["purpose"]))
    except ValueError as exc:
        raise RegistryError(1003, f"purpose {event['purpose']!r} burned on chain is not a registry purpose",
                            purpose=str(event["purpose"])[:40]) from exc
    leaves = uow.repo.blocks.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot["id"])
    picks = rules.pick_from_lot(leaves, amount_kg, lot["id"])
    holder = _participant_by_wallet(uow, str(event["holder"]))
    country = holder["country"] if holder is not None else reg.profile.country
    beneficiary = {"name": (str(event["beneficiary"]) or (holder["name"] if holder else "unnamed"))[:200],
                   "country": country}
    evidence = {"chain_tx": event["tx_hash"], "log_index": event["log_index"], "block": event["block_number"],
                "chain_lot_id": lot["chain_lot_id"], "lot_id": lot["id"], "holder_address": event["holder"],
                "chain_retirement_seq": event.get("seq")}
    # The user of the units is the token holder; the units sit in the intermediary's custody account.
    user = holder["id"] if holder is not None else lot["holder_participant_id"]
    _, txn_id, seq = retirements.record_retirement(
        reg, uow, actor_key=SYSTEM_ACTOR.key_id, account_id=lot["custody_account_id"], user_participant_id=user,
        picks=picks, beneficiary=beneficiary, purpose=purpose, claim_year=int(event["claim_year"]),
        note="retired on chain (token burn)", evidence=evidence)
    set_lot(uow, lot["id"], retired_kg=int(lot["retired_kg"]) + amount_kg)
    return txn_id, seq


def apply_redeemed(reg: Registry, uow: UnitOfWork, event: Mapping[Any, Any]) -> tuple[str, int]:
    """A burn for redemption releases the lot's lowest serials into the holder's NR account named on chain."""
    lot = lot_by_chain_id(uow, int(event["lot_id"]))
    amount_kg = int(event["amount_kg"])
    account_id = str(event["nr_account"])
    row = uow.conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise RegistryError(1005, f"redemption names NR account {account_id[:64]!r}, which does not exist",
                            account_id=account_id[:64])
    account = uow.repo.account(account_id)
    holder = _participant_by_wallet(uow, str(event["holder"]))
    if holder is None or holder["id"] != account.participant_id:
        raise RegistryError(1002, f"account {account_id} does not belong to the token holder {event['holder']}",
                            account_id=account_id, holder=str(event["holder"]))
    require_active(account, "redeeming")
    if account.kind != AccountKind.HOLDING:
        raise RegistryError(1003, f"redemption goes to a holding account, not a {account.kind} account",
                            account_id=account_id)
    leaves = uow.repo.blocks.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot["id"])
    picks = rules.pick_from_lot(leaves, amount_kg, lot["id"])
    txn_id = new_id("txn")
    movement = rules.plan_release(picks, txn_id, lambda: new_id("blk"), account.id)
    seq, _ = record(uow, movement, txn_id, "redemption", SYSTEM_ACTOR.key_id, lot["custody_account_id"], account.id,
                    {"lot_id": lot["id"], "chain_lot_id": lot["chain_lot_id"], "chain_tx": event["tx_hash"],
                     "log_index": event["log_index"], "block": event["block_number"],
                     "holder_address": event["holder"], "chain_redemption_seq": event.get("seq")})
    set_lot(uow, lot["id"], redeemed_kg=int(lot["redeemed_kg"]) + amount_kg)
    return txn_id, seq
