"""The outbox worker: sends the chain operations the NR committed, in order, exactly once in effect.

Protocol for one row (``token_outbox``), oldest first; a row that cannot progress stops the drain so
that later rows (a mint after its holder's identity) never overtake it:

1. ``pending``: sign the call (its op id is the row's), record ``sent`` + the tx hash and COMMIT, then
   send. A crash before the commit leaves the row pending (nothing left the process); a crash after it
   leaves a known tx hash to look up.
2. wait for the receipt; commit ``confirmed`` together with the NR effect (a lot becomes active).
3. a revert commits ``failed`` with 7002 and the NR compensation in one transaction (a lot's units go
   back to the holder); never half-done.
4. on restart a ``sent`` row is resolved by its receipt, or by asking the contract whether its op id was
   used (``processed``); if neither, the call never reached the chain and is signed and sent again. The
   contract accepts an op id once (a second send reverts 1004), so a re-sent mint can never double-mint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from web3.exceptions import TransactionNotFound

from sovcarbon.bridge.faults import fault
from sovcarbon.chain import CarbonTokenChain, ChainRejected
from sovcarbon.domain.chain_ops import (
    AGENT_OPS,
    CompleteBurn,
    FreezeAddress,
    FreezeLot,
    Mint,
    OpenLot,
    ReturnBurn,
    SetIdentity,
    SetIntermediary,
    UnfreezeAddress,
    UnfreezeLot,
    parse_op,
)
from sovcarbon.services import token_outbox, token_outcomes
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_burns import KIND_NUMBER
from sovcarbon.store import token_tables as tt

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8  # sends refused without a mined tx (fees, funds) before the row fails for good
OP_USED = 1004  # the contract's "op_id used": the operation already happened
HOLDER_GAS_WEI = 10**17


class ChainBusy(RuntimeError):
    """The chain did not answer (or not yet): the row stays where it is and is tried again later."""


@dataclass(frozen=True)
class Outcome:
    status: str  # confirmed | reverted | unknown
    block_number: int | None = None
    code: int = 0
    reason: str = ""


class OutboxWorker:
    def __init__(self, reg: Registry, token: CarbonTokenChain, *, fund_holders_wei: int = HOLDER_GAS_WEI) -> None:
        self.reg = reg
        self.token = token
        self.fund_holders_wei = fund_holders_wei

    # ------------------------------------------------------------------------------------ driving
    def drain(self, max_rows: int = 200, only_kinds: frozenset[str] | None = None) -> int:
        """Process rows in order until none is left, one cannot progress, or ``max_rows`` were done
        (``only_kinds``: just those rows, e.g. protective freezes while the bridge is halted)."""
        done = 0
        while done < max_rows:
            row = self._next_row(only_kinds)
            if row is None:
                break
            self.process(row)
            done += 1
        return done

    def _next_row(self, only_kinds: frozenset[str] | None = None) -> RowMapping | None:
        c = tt.token_outbox.c
        q = select(tt.token_outbox).where(c.status.in_([token_outbox.PENDING, token_outbox.SENT]))
        if only_kinds is not None:
            q = q.where(c.kind.in_(sorted(only_kinds)))
        with self.reg.store.read() as uow:
            return uow.conn.execute(q.order_by(c.seq).limit(1)).mappings().first()

    def process(self, row: RowMapping) -> None:
        if row["status"] == token_outbox.SENT:
            outcome = self._resolve(row)
            if outcome.status == "confirmed":
                self._confirm(row, row["tx_hash"], outcome.block_number)
                return
            if outcome.status == "reverted":
                self._fail(row, outcome.code, outcome.reason)
                return
        elif self._processed(row):  # done by a send whose hash was never recorded (re-signed, then crash)
            self._confirm(row, row["tx_hash"], None)
            return
        fault("after_outbox_commit", row["kind"])
        self._send(row)

    # ------------------------------------------------------------------------------------ steps
    def _send(self, row: RowMapping) -> None:
        function, args = self._call(row)
        signer = self._signer(row)
        with self.token.send_lock:  # the bridge key's nonces: sign and send in one order
            signed = self.token.sign_call(function, args, signer)
            with self.reg.store.write() as uow:
                token_outbox.set_outbox(uow, row["id"], status=token_outbox.SENT, tx_hash=signed.tx_hash,
                                  attempts=int(row["attempts"]) + 1, last_error=None)
            fault("after_tx_hash_recorded", row["kind"])
            try:
                tx_hash = self.token.send_signed(signed)
            except ChainRejected as exc:
                self._on_send_error(row, exc)
                return
        if tx_hash != signed.tx_hash:  # re-signed after a nonce conflict: remember the hash really sent
            with self.reg.store.write() as uow:
                token_outbox.set_outbox(uow, row["id"], tx_hash=tx_hash)
        fault("after_send", row["kind"])
        try:
            result = self.token.wait_receipt(tx_hash)
        except ChainRejected as exc:
            outcome = self._resolve({**row, "tx_hash": tx_hash})
            if outcome.status == "unknown":
                raise ChainBusy(f"no receipt for {tx_hash} yet: {exc.reason}") from exc
            if outcome.status == "reverted":
                self._fail(row, outcome.code, outcome.reason)
                return
            result_block = outcome.block_number
        else:
            result_block = result.block_number
        fault("after_receipt", row["kind"])
        self._confirm(row, tx_hash, result_block)

    def _on_send_error(self, row: RowMapping, exc: ChainRejected) -> None:
        """The node refused or reverted at submission (an auto-mining node executes on send)."""
        if exc.code == OP_USED:
            if self._processed(row):
                self._confirm(row, None, None)
            else:
                self._fail(row, exc.code, f"op id {row['op_id']} was used by another call (not this row's)")
            return
        outcome = self._resolve({**row, "tx_hash": exc.tx_hash or row["tx_hash"]})
        if outcome.status == "confirmed":
            self._confirm(row, exc.tx_hash, outcome.block_number)
        elif outcome.status == "reverted":
            self._fail(row, outcome.code, outcome.reason)
        elif int(row["attempts"]) + 1 >= MAX_SEND_ATTEMPTS:
            self._fail(row, exc.code, f"refused {MAX_SEND_ATTEMPTS} times: {exc.reason}")
        else:  # refused without a trace on chain (fee, funds, transport): back to pending, tried again
            with self.reg.store.write() as uow:
                token_outbox.set_outbox(uow, row["id"], status=token_outbox.PENDING,
                                        last_error=f"{exc.code}: {exc.reason}")
            raise ChainBusy(f"chain refused {row['kind']} {row['id']}: {exc.code} {exc.reason}") from exc

    def _resolve(self, row: Mapping[Any, Any]) -> Outcome:
        """What became of a sent row: its receipt if the tx is known, else whether its op id was used."""
        tx_hash = row["tx_hash"]
        receipt: Mapping[Any, Any] | None = None
        if tx_hash:
            try:
                receipt = self.token.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                receipt = None
            except Exception as exc:  # transport errors of any provider
                raise ChainBusy(f"cannot read receipt {tx_hash}: {exc}") from exc
        if receipt is not None and int(receipt["status"]) == 1:
            return Outcome("confirmed", int(receipt["blockNumber"]))
        if self._processed(row):
            return Outcome("confirmed", int(receipt["blockNumber"]) if receipt is not None else None)
        if receipt is None:
            return Outcome("unknown")
        try:
            self.token.wait_receipt(str(tx_hash), timeout_s=1.0)
        except ChainRejected as exc:
            return Outcome("reverted", int(receipt["blockNumber"]), exc.code, exc.reason)
        return Outcome("confirmed", int(receipt["blockNumber"]))

    def _processed(self, row: Mapping[Any, Any]) -> bool:
        """True only if the contract bound the row's op id to exactly the row's call (function and arguments)
        made by the bridge: an op id used for anything else is no proof that this row ran."""
        op_id = str(row["op_id"])
        try:
            used = self.token.op_call(op_id, self._signer(row).address)
        except ChainRejected as exc:
            raise ChainBusy(f"cannot ask the contract about op {op_id}: {exc.reason}") from exc
        if used is None:
            return False
        function, args = self._call(row)
        return used == self.token.call_hash(function, args)

    def _signer(self, row: Mapping[Any, Any]) -> LocalAccount:
        if row["kind"] in AGENT_OPS:
            if self.token.agent is None:
                raise ChainBusy(f"{row['kind']} {row['id']} needs the enforcement agent's key "
                                "(SOVCARBON_AGENT_KEY_FILE), which this bridge does not hold")
            return self.token.agent
        return self.token.bridge

    def _confirm(self, row: RowMapping, tx_hash: str | None, block_number: int | None) -> None:
        with self.reg.store.write() as uow:
            token_outcomes.confirm(uow, row["id"], tx_hash, block_number)
        fault("after_confirm", row["kind"])
        op = parse_op(row["kind"], json.loads(row["payload"]))
        if isinstance(op, SetIdentity) and op.kyc_verified and self.fund_holders_wei:
            self._fund(op.holder)

    def _fail(self, row: RowMapping, code: int, reason: str) -> None:
        log.warning("chain rejected %s %s: %s %s", row["kind"], row["id"], code, reason)
        with self.reg.store.write() as uow:
            token_outcomes.fail(uow, row["id"], code, reason)

    def _fund(self, address: str) -> None:
        """Holders sign their own transfers, retirements and redemptions: give them gas once. Only externally
        owned accounts: a contract wallet pays its own way (a plain transfer to it may revert)."""
        if bytes(self.token.w3.eth.get_code(to_checksum_address(address))):
            return
        if int(self.token.w3.eth.get_balance(to_checksum_address(address))) < self.fund_holders_wei // 2:
            self.token.fund_gas(address, self.fund_holders_wei)

    def _call(self, row: Mapping[Any, Any]) -> tuple[str, list[Any]]:
        """The contract function and arguments of a row's operation (its op id first)."""
        op_id = bytes.fromhex(str(row["op_id"]).removeprefix("0x"))
        try:
            op = parse_op(str(row["kind"]), json.loads(row["payload"]))
        except ValueError as exc:
            raise ValueError(f"{exc} in {row['id']}") from exc
        function = str(op.OP)
        match op:
            case OpenLot():
                return function, [op_id, int(op.chain_lot_id), int(op.immobilized_kg)]
            case Mint():
                return function, [op_id, to_checksum_address(op.to), int(op.chain_lot_id), int(op.amount_kg)]
            case SetIdentity():
                return function, [op_id, to_checksum_address(op.holder), bool(op.kyc_verified),
                                  to_checksum_address(op.intermediary)]
            case SetIntermediary():
                return function, [op_id, to_checksum_address(op.intermediary), bool(op.licensed)]
            case FreezeLot() | UnfreezeLot():
                return function, [op_id, int(op.chain_lot_id)]
            case FreezeAddress() | UnfreezeAddress():
                return function, [op_id, to_checksum_address(op.holder)]
            case CompleteBurn() | ReturnBurn():
                return function, [op_id, KIND_NUMBER[str(op.kind)], int(op.seq)]

