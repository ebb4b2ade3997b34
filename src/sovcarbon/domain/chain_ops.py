"""The operations the NR asks of its token contract through the outbox, typed: one frozen dataclass per
operation, its fields being the operation's payload. A row of ``token_outbox`` stores the operation's
``kind`` (a string column, unchanged) and its fields as JSON under the same names, so rows written before
these types existed read back as the same operations.

| operation | payload | signed with |
|---|---|---|
| ``open_lot`` | chain_lot_id, immobilized_kg | bridge key |
| ``mint`` | chain_lot_id, to, amount_kg | bridge key |
| ``set_identity`` | holder, kyc_verified, intermediary | bridge key |
| ``set_intermediary`` | intermediary, licensed | bridge key |
| ``freeze_lot`` / ``unfreeze_lot`` | chain_lot_id | bridge key / enforcement agent's key |
| ``freeze_address`` / ``unfreeze_address`` | holder | bridge key / enforcement agent's key |
| ``complete_burn`` / ``return_burn`` | kind (retire, redeem), seq, chain_lot_id | bridge key |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar


class OpKind(StrEnum):
    OPEN_LOT = "open_lot"
    MINT = "mint"
    SET_IDENTITY = "set_identity"
    SET_INTERMEDIARY = "set_intermediary"
    FREEZE_LOT = "freeze_lot"
    UNFREEZE_LOT = "unfreeze_lot"
    FREEZE_ADDRESS = "freeze_address"
    UNFREEZE_ADDRESS = "unfreeze_address"
    COMPLETE_BURN = "complete_burn"
    RETURN_BURN = "return_burn"


@dataclass(frozen=True)
class OpenLot:
    OP: ClassVar[OpKind] = OpKind.OPEN_LOT
    chain_lot_id: int
    immobilized_kg: int


@dataclass(frozen=True)
class Mint:
    OP: ClassVar[OpKind] = OpKind.MINT
    chain_lot_id: int
    to: str
    amount_kg: int


@dataclass(frozen=True)
class SetIdentity:
    OP: ClassVar[OpKind] = OpKind.SET_IDENTITY
    holder: str
    kyc_verified: bool
    intermediary: str


@dataclass(frozen=True)
class SetIntermediary:
    OP: ClassVar[OpKind] = OpKind.SET_INTERMEDIARY
    intermediary: str
    licensed: bool


@dataclass(frozen=True)
class FreezeLot:
    OP: ClassVar[OpKind] = OpKind.FREEZE_LOT
    chain_lot_id: int


@dataclass(frozen=True)
class UnfreezeLot:
    OP: ClassVar[OpKind] = OpKind.UNFREEZE_LOT
    chain_lot_id: int


@dataclass(frozen=True)
class FreezeAddress:
    OP: ClassVar[OpKind] = OpKind.FREEZE_ADDRESS
    holder: str


@dataclass(frozen=True)
class UnfreezeAddress:
    OP: ClassVar[OpKind] = OpKind.UNFREEZE_ADDRESS
    holder: str


@dataclass(frozen=True)
class CompleteBurn:
    """The NR applied a holder's burn request (retired or redeemed): the contract burns the escrowed tokens."""

    OP: ClassVar[OpKind] = OpKind.COMPLETE_BURN
    kind: str  # the burn request's kind: retire | redeem
    seq: int
    chain_lot_id: int


@dataclass(frozen=True)
class ReturnBurn:
    """The NR refused a holder's burn request: the contract gives the escrowed tokens back."""

    OP: ClassVar[OpKind] = OpKind.RETURN_BURN
    kind: str
    seq: int
    chain_lot_id: int


ChainOp = (OpenLot | Mint | SetIdentity | SetIntermediary | FreezeLot | UnfreezeLot | FreezeAddress
           | UnfreezeAddress | CompleteBurn | ReturnBurn)
BY_KIND: Mapping[OpKind, type[ChainOp]] = {cls.OP: cls for cls in (
    OpenLot, Mint, SetIdentity, SetIntermediary, FreezeLot, UnfreezeLot, FreezeAddress, UnfreezeAddress,
    CompleteBurn, ReturnBurn)}
# Sets of kinds as the stored strings (the column's values; usable in SQL as they are).
LOT_OPS = frozenset({OpKind.OPEN_LOT.value, OpKind.MINT.value})  # a failure compensates the lot in the NR
IDENTITY_OPS = frozenset({OpKind.SET_IDENTITY.value, OpKind.SET_INTERMEDIARY.value})  # settle token_identity_sync
AGENT_OPS = frozenset({OpKind.UNFREEZE_LOT.value, OpKind.UNFREEZE_ADDRESS.value})  # the enforcement agent signs
LOT_FREEZE_OPS = frozenset({OpKind.FREEZE_LOT.value, OpKind.UNFREEZE_LOT.value})
ADDRESS_FREEZE_OPS = frozenset({OpKind.FREEZE_ADDRESS.value, OpKind.UNFREEZE_ADDRESS.value})
PROTECTIVE_OPS = frozenset({OpKind.FREEZE_LOT.value, OpKind.FREEZE_ADDRESS.value})  # sent even while halted


def payload_of(op: ChainOp) -> dict[str, Any]:
    """The JSON payload stored with the row (the operation's fields by name)."""
    return dataclasses.asdict(op)


def parse_op(kind: str, payload: Mapping[str, Any]) -> ChainOp:
    """The operation a stored row holds; ValueError for an unknown kind or a payload missing a field."""
    try:
        cls = BY_KIND[OpKind(kind)]
    except ValueError as exc:
        raise ValueError(f"unknown outbox kind {kind!r}") from exc
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in payload]
    if missing:
        raise ValueError(f"outbox {kind} payload lacks {', '.join(missing)}")
    return cls(**{n: payload[n] for n in names})
