"""Typed client of the carbon token contract: what the bridge, the demo and the tests call.

This module owns: deploying or loading the contract (with the runtime-bytecode check) and its typed
calls per contract role (bridge, enforcement agent, governance owner, holders) and views. Signing,
nonces and receipts: ``chain.transactions``; ABI, gas table and reverts: ``chain.abi``; events:
``chain.event_decoding``.

Quantities are integer kilograms (1 token = 1 kgCO2e). Every bridge-initiated change takes a
32-byte `op_id` that the contract accepts once (``domain.op_ids.op_id`` derives one from an outbox key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sovcarbon.chain import event_decoding
from sovcarbon.chain.abi import (
    CHAIN_REJECTED,
    DEFAULT_GAS_LIMIT,
    DEPLOY_GAS,
    GAS_LIMITS,
    ChainRejected,
    call_data,
    call_view,
    index_abi,
    to_hex,
    utf8,
    wire_type,
)
from sovcarbon.chain.compiler import (
    BytecodeMismatch,
    CompiledContract,
    compile_contract,
    verify_runtime_code,
)
from sovcarbon.chain.event_decoding import ChainEvent
from sovcarbon.chain.node import Chain
from sovcarbon.chain.transactions import (
    DEFAULT_PRIORITY_FEE_WEI,
    DEFAULT_RECEIPT_TIMEOUT_S,
    SignedCall,
    SigningClient,
    TxResult,
)

DEFAULT_ROLE_DELAY_S: int = 2 * 24 * 3600  # a role change waits two days on chain before it can be accepted
ROLE_OWNER, ROLE_BRIDGE, ROLE_AGENT = 1, 2, 3
LOT_FIGURES_BATCH = 256  # the contract's lotFigures bound


def _op_id_bytes(op_id: bytes | str) -> bytes:
    value = bytes.fromhex(op_id.removeprefix("0x")) if isinstance(op_id, str) else bytes(op_id)
    if len(value) != 32 or value == b"\x00" * 32:
        raise ValueError("op_id must be 32 non-zero bytes (domain.op_ids.op_id)")
    return value


@dataclass(frozen=True)
class LotInfo:
    lot_id: int
    open: bool
    immobilized_kg: int
    total_supply_kg: int
    retired_kg: int
    redeemed_kg: int
    frozen: bool


@dataclass(frozen=True)
class Identity:
    holder: str
    kyc_verified: bool
    intermediary: str
    intermediary_licensed: bool
    frozen: bool
    eligibility_code: int  # 0 = eligible, else 4006 / 5004 / 5005


@dataclass(frozen=True)
class Deployment:
    address: str
    source_sha256: str
    compiler_version: str
    evm_version: str
    chain_id: int
    deploy_tx: str
    deploy_block: int
    deployed_at: str


class CarbonTokenChain(SigningClient):
    """The carbon token contract on one chain, driven by the registry's bridge key (signing, nonces and
    receipts: ``SigningClient``). Reads go straight to the node (the embedded provider serializes them)."""

    def __init__(
        self,
        chain: Chain,
        bridge_key: str | LocalAccount,
        *,
        agent_key: str | LocalAccount | None = None,
        owner_key: str | LocalAccount | None = None,
        role_delay_s: int = DEFAULT_ROLE_DELAY_S,
        cache_dir: Path | None = None,
        priority_fee_wei: int = DEFAULT_PRIORITY_FEE_WEI,
        receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S,
    ) -> None:
        super().__init__(chain, bridge_key, agent_key=agent_key, owner_key=owner_key,
                         priority_fee_wei=priority_fee_wei, receipt_timeout_s=receipt_timeout_s)
        self.role_delay_s = role_delay_s
        self.compiled: CompiledContract = compile_contract(
            cache_dir if cache_dir is not None else chain.data_dir / "contracts-cache"
        )
        self._functions, self._events = index_abi(self.compiled.abi)
        self._address: str | None = None
        self.deployment: Deployment | None = None

    # ---------------------------------------------------------------------------------------------- deployment
    @property
    def address(self) -> str:
        if self._address is None:
            raise RuntimeError("contract not deployed or loaded: call deploy_or_load() first")
        return self._address

    @property
    def abi(self) -> list[dict[str, Any]]:
        return self.compiled.abi

    def deploy_or_load(self, deployment_file: Path) -> Deployment:
        """Load the deployment recorded in `deployment_file` (checking that the on-chain
        runtime code is what our source compiles to), or deploy and record it."""
        self._ensure_bridge_funded()
        if deployment_file.exists():
            record = json.loads(deployment_file.read_text(encoding="utf-8"))
            deployment = Deployment(**record)
            if deployment.chain_id != self.chain.chain_id:
                raise BytecodeMismatch(
                    f"{deployment_file} records chain id {deployment.chain_id}, "
                    f"the node reports {self.chain.chain_id}"
                )
            self.load(deployment.address)
            self.deployment = deployment
            self.check_roles()
            return deployment
        deployment = self.deploy()
        deployment_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = deployment_file.with_suffix(deployment_file.suffix + ".tmp")
        tmp.write_text(json.dumps(deployment.__dict__, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, deployment_file)
        return deployment

    def load(self, address: str) -> None:
        """Use the contract at `address` after checking its runtime code against our source."""
        checksum = to_checksum_address(address)
        verify_runtime_code(self.compiled, checksum, bytes(self.w3.eth.get_code(checksum)))
        self._address = checksum

    def check_roles(self) -> None:
        """At start: the configured bridge key must be the contract's bridge (and the agent key an agent)."""
        bridge = to_checksum_address(self.call("bridge", [])[0])
        if bridge != self.bridge.address:
            raise BytecodeMismatch(f"the configured bridge key ({self.bridge.address}) is not the bridge of "
                                   f"contract {self.address} ({bridge}): refusing to start")
        if self.agent is not None and not bool(self.call("agents", [self.agent.address])[0]):
            raise BytecodeMismatch(f"the configured enforcement key ({self.agent.address}) is not an agent of "
                                   f"contract {self.address}")

    def deploy(self) -> Deployment:
        """Deploy a new contract: the owner key deploys (and governs), naming the bridge and the first agent."""
        if self.owner is None or self.agent is None:
            raise ChainRejected(1003, "deploying needs the owner key and the agent key (one key per role)")
        if len({self.owner.address, self.bridge.address, self.agent.address}) != 3:
            raise ChainRejected(1003, "owner, bridge and agent must be three different keys")
        self._ensure_funded(self.owner.address)
        self._ensure_funded(self.agent.address)
        constructor_args = abi_encode(["address", "address", "uint256"],
                                      [self.bridge.address, self.agent.address, self.role_delay_s])
        data = self.compiled.bytecode + constructor_args
        with self._lock:
            tx_hash = self.send_signed(self._sign(self.owner, None, data, DEPLOY_GAS, "deploy"))
        receipt = self._receipt(tx_hash, self.receipt_timeout_s)
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise ChainRejected(CHAIN_REJECTED, "contract deployment failed", tx_hash)
        self.load(receipt["contractAddress"])
        deployment = Deployment(
            address=self.address,
            source_sha256=self.compiled.source_sha256,
            compiler_version=self.compiled.compiler_version,
            evm_version=self.compiled.evm_version,
            chain_id=self.chain.chain_id,
            deploy_tx=tx_hash,
            deploy_block=int(receipt["blockNumber"]),
            deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.deployment = deployment
        return deployment

    # --------------------------------- bridge operations (bridge key; unfreeze and forced transfer: agent key)
    def open_lot(
        self, op_id: bytes | str, lot_id: int, immobilized_kg: int, *, wait: bool = True
    ) -> TxResult:
        return self._bridge_call("open_lot", [_op_id_bytes(op_id), lot_id, immobilized_kg], wait)

    def increase_lot(self, op_id: bytes | str, lot_id: int, added_kg: int, *, wait: bool = True) -> TxResult:
        return self._bridge_call("increase_lot", [_op_id_bytes(op_id), lot_id, added_kg], wait)

    def mint(
        self, op_id: bytes | str, to: str, lot_id: int, amount_kg: int, *, wait: bool = True
    ) -> TxResult:
        args = [_op_id_bytes(op_id), to_checksum_address(to), lot_id, amount_kg]
        return self._bridge_call("mint", args, wait)

    def set_identity(
        self, op_id: bytes | str, holder: str, kyc_verified: bool, intermediary: str, *, wait: bool = True
    ) -> TxResult:
        args = [
            _op_id_bytes(op_id),
            to_checksum_address(holder),
            kyc_verified,
            to_checksum_address(intermediary),
        ]
        return self._bridge_call("set_identity", args, wait)

    def set_intermediary(
        self, op_id: bytes | str, intermediary: str, licensed: bool, *, wait: bool = True
    ) -> TxResult:
        args = [_op_id_bytes(op_id), to_checksum_address(intermediary), licensed]
        return self._bridge_call("set_intermediary", args, wait)

    def freeze_address(
        self, op_id: bytes | str, holder: str, *, by: LocalAccount | None = None, wait: bool = True
    ) -> TxResult:
        return self._call_as(by, "freeze_address", [_op_id_bytes(op_id), to_checksum_address(holder)], wait)

    def unfreeze_address(
        self, op_id: bytes | str, holder: str, *, by: LocalAccount | None = None, wait: bool = True
    ) -> TxResult:
        args = [_op_id_bytes(op_id), to_checksum_address(holder)]
        return self._call_as(by or self.agent, "unfreeze_address", args, wait)

    def freeze_lot(
        self, op_id: bytes | str, lot_id: int, *, by: LocalAccount | None = None, wait: bool = True
    ) -> TxResult:
        return self._call_as(by, "freeze_lot", [_op_id_bytes(op_id), lot_id], wait)

    def unfreeze_lot(
        self, op_id: bytes | str, lot_id: int, *, by: LocalAccount | None = None, wait: bool = True
    ) -> TxResult:
        return self._call_as(by or self.agent, "unfreeze_lot", [_op_id_bytes(op_id), lot_id], wait)

    def forced_transfer(
        self,
        op_id: bytes | str,
        from_holder: str,
        to: str,
        lot_id: int,
        amount_kg: int,
        *,
        by: LocalAccount | None = None,
        wait: bool = True,
    ) -> TxResult:
        """Agent/bridge/admin transfer without the holder's signature; same compliance checks."""
        args = [
            _op_id_bytes(op_id),
            to_checksum_address(from_holder),
            to_checksum_address(to),
            lot_id,
            amount_kg,
        ]
        return self._call_as(by or self.agent, "forced_transfer", args, wait)

    def complete_burn(self, op_id: bytes | str, kind: int, seq: int, *, wait: bool = True) -> TxResult:
        return self._bridge_call("complete_burn", [_op_id_bytes(op_id), kind, seq], wait)

    def return_burn(self, op_id: bytes | str, kind: int, seq: int, *, wait: bool = True) -> TxResult:
        return self._bridge_call("return_burn", [_op_id_bytes(op_id), kind, seq], wait)

    # ---------------------------------------------------------------------------------- governance (owner key)
    def propose_role(self, role: int, account: str, *, owner: LocalAccount | None = None) -> TxResult:
        """Step 1 of a role change (ROLE_OWNER / ROLE_BRIDGE / ROLE_AGENT); time-locked on chain."""
        return self._call_as(owner or self.owner, "propose_role", [role, to_checksum_address(account)], True)

    def accept_role(self, role: int, account: LocalAccount) -> TxResult:
        """Step 2: the proposed account accepts, after the contract's role delay."""
        return self._call_as(account, "accept_role", [role], True)

    def cancel_role(self, role: int, *, owner: LocalAccount | None = None) -> TxResult:
        return self._call_as(owner or self.owner, "cancel_role", [role], True)

    def revoke_agent(self, agent: str, *, owner: LocalAccount | None = None) -> TxResult:
        return self._call_as(owner or self.owner, "revoke_agent", [to_checksum_address(agent)], True)

    # ---------------------------------------------------------------- holder operations (the holder's own key)
    def transfer(
        self, holder: LocalAccount, to: str, lot_id: int, amount_kg: int, *, wait: bool = True
    ) -> TxResult:
        return self._call_as(holder, "transfer", [to_checksum_address(to), lot_id, amount_kg], wait)

    def safe_transfer_from(
        self,
        operator: LocalAccount,
        from_holder: str,
        to: str,
        lot_id: int,
        amount_kg: int,
        data: bytes = b"",
        *,
        wait: bool = True,
    ) -> TxResult:
        args = [to_checksum_address(from_holder), to_checksum_address(to), lot_id, amount_kg, data]
        return self._call_as(operator, "safeTransferFrom", args, wait)

    def set_approval_for_all(self, holder: LocalAccount, operator: str, approved: bool) -> TxResult:
        return self._call_as(holder, "setApprovalForAll", [to_checksum_address(operator), approved], True)

    def retire(
        self,
        holder: LocalAccount,
        lot_id: int,
        amount_kg: int,
        beneficiary: str | bytes,
        purpose: str | bytes,
        claim_year: int,
        *,
        wait: bool = True,
    ) -> TxResult:
        """Burn `amount_kg` for a claim. The `Retired` event carries the retirement seq. Text may be
        given as raw bytes (sent as they are: what a hostile wallet can do)."""
        if len(utf8(beneficiary)) > 128 or len(utf8(purpose)) > 32:
            raise ChainRejected(1003, "beneficiary max 128 bytes, purpose max 32 bytes")
        args = [lot_id, amount_kg, beneficiary, purpose, claim_year]
        return self._call_as(holder, "retire", args, wait)

    def redeem(
        self, holder: LocalAccount, lot_id: int, amount_kg: int, nr_account: str | bytes, *, wait: bool = True
    ) -> TxResult:
        """Burn `amount_kg` to take it back into the NR account `nr_account`."""
        if len(utf8(nr_account)) > 64:
            raise ChainRejected(1003, "nr_account max 64 bytes")
        return self._call_as(holder, "redeem", [lot_id, amount_kg, nr_account], wait)

    def pledge(
        self, holder: LocalAccount, lot_id: int, amount_kg: int, pledgee: str, *, wait: bool = True
    ) -> TxResult:
        return self._call_as(holder, "pledge", [lot_id, amount_kg, to_checksum_address(pledgee)], wait)

    def release_pledge(
        self, pledgee: LocalAccount, holder: str, lot_id: int, amount_kg: int, *, wait: bool = True
    ) -> TxResult:
        return self._call_as(
            pledgee, "release_pledge", [to_checksum_address(holder), lot_id, amount_kg], wait
        )

    def enforce_pledge(
        self, pledgee: LocalAccount, holder: str, lot_id: int, amount_kg: int, *, wait: bool = True
    ) -> TxResult:
        return self._call_as(
            pledgee, "enforce_pledge", [to_checksum_address(holder), lot_id, amount_kg], wait
        )

    # --------------------------------------------------------------------------------------------------- views
    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def balance_of(self, holder: str, lot_id: int) -> int:
        return int(self.call("balanceOf", [to_checksum_address(holder), lot_id])[0])

    def free_balance_of(self, holder: str, lot_id: int) -> int:
        return int(self.call("freeBalanceOf", [to_checksum_address(holder), lot_id])[0])

    def total_supply(self, lot_id: int) -> int:
        return int(self.call("totalSupply", [lot_id])[0])

    def retired_supply(self, lot_id: int) -> int:
        return int(self.call("retiredSupply", [lot_id])[0])

    def redeemed_supply(self, lot_id: int) -> int:
        return int(self.call("redeemedSupply", [lot_id])[0])

    def pledged(self, holder: str, lot_id: int, pledgee: str) -> int:
        return int(
            self.call("pledged", [to_checksum_address(holder), lot_id, to_checksum_address(pledgee)])[0]
        )

    def pledged_total(self, holder: str, lot_id: int) -> int:
        return int(self.call("pledgedTotal", [to_checksum_address(holder), lot_id])[0])

    def lot_info(self, lot_id: int) -> LotInfo:
        is_open, immobilized, supply, retired, redeemed, frozen = self.call("lotInfo", [lot_id])
        return LotInfo(
            lot_id, bool(is_open), int(immobilized), int(supply), int(retired), int(redeemed), bool(frozen)
        )

    def lot_figures(
        self, lot_ids: Sequence[int], block: int | str = "latest"
    ) -> list[tuple[int, int, int, bool, int, int]]:
        """(total supply, retired, redeemed, frozen, pending retire, pending redeem) of many lots at one
        block, in calls of up to 256 lots. Pending = locked by a burn request the registry has not settled."""
        out: list[tuple[int, int, int, bool, int, int]] = []
        for start in range(0, len(lot_ids), LOT_FIGURES_BATCH):
            (rows,) = self.call("lotFigures", [list(lot_ids[start:start + LOT_FIGURES_BATCH])], block)
            out.extend((int(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]), int(r[5])) for r in rows)
        return out

    def op_call(self, op_id: bytes | str, caller: str | None = None) -> str | None:
        """The hash of the call that used `op_id` (op ids are per caller, bridge by default), or None."""
        sender = to_checksum_address(caller) if caller else self.bridge.address
        value = bytes(self.call("opCall", [sender, _op_id_bytes(op_id)])[0])
        return None if value == b"\x00" * 32 else to_hex(value)

    def call_hash(self, function: str, args: Sequence[Any]) -> str:
        """keccak256 of the calldata of `function(args)`: what the contract binds an op id to."""
        fn = self._functions[function]
        return to_hex(keccak(call_data(fn, args)))

    def is_processed(self, op_id: bytes | str, caller: str | None = None) -> bool:
        """True if `caller` (the bridge by default) has used `op_id` for any call."""
        return self.op_call(op_id, caller) is not None

    def burn_request(self, kind: int, seq: int) -> tuple[str, int, int, int]:
        """(holder, lot id, amount, status 1 pending / 2 completed / 3 returned) of a burn request."""
        holder, lot_id, amount, status = self.call("burnRequests", [kind, seq])[0]
        return to_checksum_address(holder), int(lot_id), int(amount), int(status)

    def is_eligible(self, holder: str) -> bool:
        return bool(self.call("isEligible", [to_checksum_address(holder)])[0])

    def eligibility_code(self, holder: str) -> int:
        return int(self.call("eligibility", [to_checksum_address(holder)])[0])

    def is_frozen(self, holder: str) -> bool:
        return bool(self.call("frozen", [to_checksum_address(holder)])[0])

    def identity(self, holder: str) -> Identity:
        address = to_checksum_address(holder)
        intermediary = to_checksum_address(self.call("intermediaryOf", [address])[0])
        return Identity(
            holder=address,
            kyc_verified=bool(self.call("kycVerified", [address])[0]),
            intermediary=intermediary,
            intermediary_licensed=bool(self.call("licensed", [intermediary])[0]),
            frozen=self.is_frozen(address),
            eligibility_code=self.eligibility_code(address),
        )

    def call(self, function: str, args: Sequence[Any], block: int | str = "latest") -> tuple[Any, ...]:
        """eth_call a view of the contract; returns the decoded outputs."""
        return call_view(self.w3, self.address, self._functions[function], args, block)

    # --------------------------------------------------------------------------- events (chain.event_decoding)
    def get_events(
        self, from_block: int, to_block: int, names: Iterable[str] | None = None
    ) -> list[ChainEvent]:
        """Decoded events of the contract in [from_block, to_block] (clamped to the head),
        in chain order. `names` restricts to those event names."""
        return event_decoding.get_events(self.w3, self.address, self._events, from_block, to_block, names)

    def decode_log(self, log: Mapping[str, Any]) -> ChainEvent | None:
        """Decode one raw log of this contract; None for a log we have no ABI for."""
        return event_decoding.decode_log(self._events, self.address, log)

    # -------------------------------------------------------- calls of this contract: encode, sign, send, wait
    def sign_call(self, function: str, args: Sequence[Any], signer: LocalAccount | None = None) -> SignedCall:
        """Encode and sign a call (allocates the signer's next nonce). Send it with
        `send_signed`; a signed call that is never sent leaves a nonce gap until
        `resync_nonce` is called. Threads sharing a key hold `send_lock` across both steps."""
        fn = self._functions[function]
        # raw bytes for a `string` argument are sent as they are (same encoding): holders can send any bytes
        types = [wire_type(k) if isinstance(a, bytes) else k for k, a in zip(fn.input_types, args, strict=True)]
        data = fn.selector + abi_encode(types, list(args))
        gas = GAS_LIMITS.get(function, DEFAULT_GAS_LIMIT)
        return self._sign(signer or self.bridge, self.address, data, gas, function)

    def submit(self, function: str, args: Sequence[Any], signer: LocalAccount | None = None) -> str:
        """Sign and send a call without waiting; returns the transaction hash."""
        with self._lock:
            return self.send_signed(self.sign_call(function, args, signer))

    def wait_receipt(self, tx_hash: str, timeout_s: float | None = None) -> TxResult:
        """Wait until `tx_hash` is mined; raise `ChainRejected` if it reverted."""
        receipt = self._wait_ok(tx_hash, self.receipt_timeout_s if timeout_s is None else timeout_s)
        events = tuple(e for e in (self.decode_log(log) for log in receipt["logs"]) if e is not None)
        return TxResult(
            tx_hash=tx_hash,
            mined=True,
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=events,
        )

    def _bridge_call(self, function: str, args: Sequence[Any], wait: bool) -> TxResult:
        return self._call_as(self.bridge, function, args, wait)

    def _call_as(
        self, signer: LocalAccount | None, function: str, args: Sequence[Any], wait: bool
    ) -> TxResult:
        tx_hash = self.submit(function, args, signer)
        if not wait:
            return TxResult(tx_hash=tx_hash, mined=False)
        return self.wait_receipt(tx_hash)
