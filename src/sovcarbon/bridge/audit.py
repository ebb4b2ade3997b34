"""Whole-chain audit: every privileged act on the contract must be one the registry ordered.

The event consumer reads these events in the same block range as the burns and transfers it applies, and
checks them BEFORE applying anything. An act the registry did not order halts the bridge (no outbox sends,
no event applied, the cursor stays) and is reported and journaled; officers resume it under four-eyes
(``resume_bridge``), which acknowledges exactly the reported acts.

| event | ordered when |
|---|---|
| LotOpened, Minted, IdentitySet, IntermediarySet, LotUnfrozen, | an outbox row has its op id, its kind |
| AddressUnfrozen | and its arguments |
| LotIncreased, ForcedTransfer | never (the registry does not order them) |
| RoleProposed, RoleChanged after the deployment block | never (governance acts happen outside the registry) |
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from sovcarbon.chain import ChainEvent
from sovcarbon.domain.chain_ops import (
    ChainOp,
    Mint,
    OpenLot,
    OpKind,
    SetIdentity,
    SetIntermediary,
    UnfreezeAddress,
    UnfreezeLot,
    parse_op,
)
from sovcarbon.domain.journal import canonical_text
from sovcarbon.services import token_lots
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork

AUDIT_NAMES = ("LotOpened", "LotIncreased", "Minted", "IdentitySet", "IntermediarySet", "LotUnfrozen",
               "AddressUnfrozen", "ForcedTransfer", "RoleProposed", "RoleChanged")
HALT_SETTING = "bridge_halted"
ACK_SETTING = "bridge_audit_acknowledged"
OUTBOX_KIND = {"LotOpened": OpKind.OPEN_LOT, "Minted": OpKind.MINT, "IdentitySet": OpKind.SET_IDENTITY,
               "IntermediarySet": OpKind.SET_INTERMEDIARY, "LotUnfrozen": OpKind.UNFREEZE_LOT,
               "AddressUnfrozen": OpKind.UNFREEZE_ADDRESS}


def _lower(value: Any) -> str:
    return str(value).lower()


def _matches(args: Mapping[str, Any], op: ChainOp) -> bool:
    """The event's arguments are those of the outbox operation that carried its op id."""
    match op:
        case OpenLot():
            return int(args["lot_id"]) == int(op.chain_lot_id) and int(args["immobilized_kg"]) == int(op.immobilized_kg)
        case Mint():
            return (int(args["lot_id"]) == int(op.chain_lot_id) and int(args["amount"]) == int(op.amount_kg)
                    and _lower(args["receiver"]) == _lower(op.to))
        case SetIdentity():
            return (_lower(args["holder"]) == _lower(op.holder) and bool(args["kyc_verified"]) == bool(op.kyc_verified)
                    and _lower(args["intermediary"]) == _lower(op.intermediary))
        case SetIntermediary():
            return (_lower(args["intermediary"]) == _lower(op.intermediary)
                    and bool(args["licensed"]) == bool(op.licensed))
        case UnfreezeLot():
            return int(args["lot_id"]) == int(op.chain_lot_id)
        case UnfreezeAddress():
            return _lower(args["holder"]) == _lower(op.holder)
    return False


def acknowledged(uow: UnitOfWork) -> set[str]:
    raw = uow.repo.setting(ACK_SETTING)
    return set(json.loads(raw)) if raw else set()


def halted(uow: UnitOfWork) -> dict[str, Any] | None:
    raw = uow.repo.setting(HALT_SETTING)
    if not raw:
        return None
    value: dict[str, Any] = json.loads(raw)
    return value or None


def event_key(event: ChainEvent) -> str:
    return f"{event.tx_hash}#{event.log_index}"


def unordered(uow: UnitOfWork, events: Iterable[ChainEvent], deploy_block: int) -> list[dict[str, Any]]:
    """The audited events in ``events`` that the registry did not order (and officers did not acknowledge)."""
    acks = acknowledged(uow)
    out: list[dict[str, Any]] = []
    c = tt.token_outbox.c
    for e in events:
        if e.name not in AUDIT_NAMES or event_key(e) in acks:
            continue
        if e.name in ("RoleProposed", "RoleChanged") and e.block_number <= deploy_block:
            continue  # the deployment's own role grants
        ordered = False
        kind = OUTBOX_KIND.get(e.name)
        if kind is not None and e.op_id:
            row = uow.conn.execute(select(c.kind, c.payload).where(c.op_id == e.op_id.lower())).first()
            ordered = row is not None and row[0] == kind and _matches(e.args, parse_op(str(row[0]), json.loads(row[1])))
        if not ordered:
            out.append({"event": e.name, "tx_hash": e.tx_hash, "log_index": e.log_index, "block": e.block_number,
                        "key": event_key(e), "args": {k: v for k, v in e.args.items()
                                                      if isinstance(v, str | int | bool)}})
    return out


def halt(uow: UnitOfWork, findings: list[dict[str, Any]]) -> None:
    """Stop the bridge: recorded in the settings and journaled (code 7001: the chain disagrees with the NR).
    The NR lots touched by the acts are frozen (NR and chain: freezes still go out while halted)."""
    if halted(uow) is not None:
        return
    frozen: list[str] = []
    for f in findings:
        lot_id = f["args"].get("lot_id")
        if f["event"] in ("Minted", "LotIncreased", "ForcedTransfer") and isinstance(lot_id, int):
            row = uow.conn.execute(select(tt.token_lots.c.id).where(tt.token_lots.c.chain_lot_id == lot_id)
                                   ).first() if lot_id < 2**63 else None
            if row is not None and token_lots.freeze_lot(uow, str(row[0]), f"unordered {f['event']} on chain", "audit"):
                frozen.append(str(row[0]))
    record = {"code": 7001, "reason": "acts on the contract that the registry did not order", "at": uow.now,
              "findings": findings, "frozen_lots": frozen}
    uow.repo.set_setting(HALT_SETTING, canonical_text(record))
    uow.append("bridge_halted", record)


def resume(uow: UnitOfWork, action_id: str) -> list[str]:
    """Officers resume the bridge: the reported acts are acknowledged (never reported again)."""
    record = halted(uow)
    if record is None:
        return []
    keys = [str(f["key"]) for f in record.get("findings", [])]
    uow.repo.set_setting(ACK_SETTING, json.dumps(sorted(acknowledged(uow) | set(keys))))
    uow.repo.set_setting(HALT_SETTING, "")
    uow.append("bridge_resumed", {"action_id": action_id, "acknowledged": keys})
    return keys
