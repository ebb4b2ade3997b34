"""Typed client of the carbon token contract: what the bridge, the demo and the tests call.

This module owns: deploying or loading the contract (with the runtime-bytecode check),
encoding calls, signing them locally (bridge key or a holder's key), nonce management,
explicit gas limits, waiting for receipts, mapping reverts to `ChainRejected(code, reason)`,
reading views, and decoding events into `ChainEvent` records.

Quantities are integer kilograms (1 token = 1 kgCO2e). Every bridge-initiated change takes a
32-byte `op_id` that the contract accepts once (`make_op_id` derives one from an outbox key).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import TransactionNotFound

from sovcarbon.chain.compiler import (
    BytecodeMismatch,
    CompiledContract,
    compile_contract,
    verify_runtime_code,
)
from sovcarbon.chain.node import Chain

CHAIN_REJECTED: int = 7002
DEFAULT_RECEIPT_TIMEOUT_S: float = 60.0
DEFAULT_PRIORITY_FEE_WEI: int = 10**9
MIN_GAS_BALANCE_WEI: int = 10**18  # top-up threshold for accounts funded by `fund_gas`
DEPLOY_GAS: int = 6_000_000
DEFAULT_ROLE_DELAY_S: int = 2 * 24 * 3600  # a role change waits two days on chain before it can be accepted
ROLE_OWNER, ROLE_BRIDGE, ROLE_AGENT = 1, 2, 3
# Explicit gas limits (estimating on every call costs ~4x the throughput). Each is about
# twice the worst case measured in tests/chain; unused gas is not charged.
GAS_LIMITS: Mapping[str, int] = {
    "open_lot": 150_000,
    "increase_lot": 120_000,
    "mint": 250_000,
    "set_identity": 150_000,
    "set_intermediary": 120_000,
    "freeze_address": 120_000,
    "unfreeze_address": 120_000,
    "freeze_lot": 120_000,
    "unfreeze_lot": 120_000,
    "forced_transfer": 250_000,
    "transfer": 200_000,
    "safeTransferFrom": 250_000,
    "setApprovalForAll": 100_000,
    "retire": 450_000,
    "redeem": 350_000,
    "complete_burn": 150_000,
    "return_burn": 150_000,
    "pledge": 200_000,
    "release_pledge": 120_000,
    "enforce_pledge": 250_000,
    "propose_role": 120_000,
    "accept_role": 120_000,
    "cancel_role": 80_000,
    "revoke_agent": 80_000,
}
DEFAULT_GAS_LIMIT: int = 300_000
MAX_LOG_RANGE_BLOCKS: int = 5_000
LOT_FIGURES_BATCH = 256  # the contract's lotFigures bound
_REVERT_CODE = re.compile(r"(?<!\d)(\d{4}):\s*([^'\"\n]*)")
_NONCE_ERROR = re.compile(r"nonce", re.IGNORECASE)
_FEE_ERROR = re.compile(r"underpriced|fee cap|max fee per gas less than|base ?fee", re.IGNORECASE)


class ChainRejected(Exception):
    """The chain refused a transaction. `code` is the RULES.md code from the revert string
    (7002 CHAIN_REJECTED when the revert carried none)."""

    def __init__(self, code: int, reason: str, tx_hash: str | None = None) -> None:
        super().__init__(f"{code}:{reason}")
        self.code = code
        self.reason = reason
        self.tx_hash = tx_hash


def parse_revert(message: str) -> tuple[int, str]:
    """(code, reason) from any node's revert message; code 7002 if it carries none."""
    match = _REVERT_CODE.search(message)
    if match is None:
        return CHAIN_REJECTED, message.strip() or "reverted"
    return int(match.group(1)), match.group(2).strip()


def make_op_id(key: str | bytes) -> bytes:
    """A 32-byte op_id from an outbox/idempotency key (SHA-256; same key, same op_id)."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    return hashlib.sha256(b"sovcarbon-op:" + raw).digest()


def _op_id_bytes(op_id: bytes | str) -> bytes:
    value = bytes.fromhex(op_id.removeprefix("0x")) if isinstance(op_id, str) else bytes(op_id)
    if len(value) != 32 or value == b"\x00" * 32:
        raise ValueError("op_id must be 32 non-zero bytes (use make_op_id)")
    return value


def load_or_create_key(path: Path) -> LocalAccount:
    """Load a hex private key from `path`, creating it (mode 0600) if absent."""
    if path.exists():
        loaded: LocalAccount = Account.from_key(path.read_text(encoding="ascii").strip())
        return loaded
    path.parent.mkdir(parents=True, exist_ok=True)
    account: LocalAccount = Account.create()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(account.key.hex() + "\n")
    return account


def _account(key: str | LocalAccount) -> LocalAccount:
    if isinstance(key, LocalAccount):
        return key
    loaded: LocalAccount = Account.from_key(key)
    return loaded


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


# ===================================================================== records
@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract event. Fields that an event does not carry are None.

    `(tx_hash, log_index)` identifies the event on one chain; `Retired` and `Redeemed`
    also carry a contract-wide sequence number (`seq`).
    """

    name: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    lot_id: int | None = None
    amount_kg: int | None = None
    operator: str | None = None
    sender: str | None = None
    receiver: str | None = None
    holder: str | None = None
    pledgee: str | None = None
    intermediary: str | None = None
    beneficiary: str | None = None
    purpose: str | None = None
    claim_year: int | None = None
    nr_account: str | None = None
    seq: int | None = None
    op_id: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TxResult:
    """Outcome of a sent transaction. `mined` is False when sent with `wait=False`."""

    tx_hash: str
    mined: bool
    block_number: int | None = None
    gas_used: int | None = None
    events: tuple[ChainEvent, ...] = ()


@dataclass(frozen=True)
class SignedCall:
    """A signed, not yet sent contract call. `tx_hash` is final unless `send_signed`
    must re-sign after a nonce conflict (it then returns the new hash)."""

    tx_hash: str
    raw: bytes
    function: str
    sender: str
    nonce: int
    tx: Mapping[str, Any]


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


# ===================================================================== ABI plumbing
def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]


@dataclass(frozen=True)
class _Event:
    name: str
    topic0: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def _index_abi(abi: Sequence[Mapping[str, Any]]) -> tuple[dict[str, _Function], dict[bytes, _Event]]:
    functions: dict[str, _Function] = {}
    events: dict[bytes, _Event] = {}
    for item in abi:
        if item.get("type") == "function":
            inputs = tuple(_canonical_type(p) for p in item["inputs"])
            signature = f"{item['name']}({','.join(inputs)})"
            functions[item["name"]] = _Function(
                name=item["name"],
                selector=keccak(text=signature)[:4],
                input_types=inputs,
                output_types=tuple(_canonical_type(p) for p in item.get("outputs", [])),
            )
        elif item.get("type") == "event":
            types = [_canonical_type(p) for p in item["inputs"]]
            topic0 = keccak(text=f"{item['name']}({','.join(types)})")
            events[topic0] = _Event(
                name=item["name"],
                topic0=topic0,
                indexed=tuple((p["name"], _canonical_type(p)) for p in item["inputs"] if p["indexed"]),
                data=tuple((p["name"], _canonical_type(p)) for p in item["inputs"] if not p["indexed"]),
            )
    return functions, events


def _normalize(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        return _hex(value)
    return value


def lenient_text(raw: bytes) -> str:
    """Text a holder put on chain, safe for any store: invalid UTF-8 and NUL/control characters become
    U+FFFD (PostgreSQL refuses NUL in text; a decoder must never raise on what a holder sent)."""
    text = bytes(raw).decode("utf-8", errors="replace")
    return "".join("\ufffd" if (ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 else ch for ch in text)


def _utf8(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _wire_type(kind: str) -> str:
    # `string` and `bytes` have the same ABI encoding: decode strings as bytes, then leniently
    return "bytes" if kind == "string" else kind


# field of ChainEvent <- event argument name
_FIELD_ALIASES: Mapping[str, str] = {
    "id": "lot_id",
    "lot_id": "lot_id",
    "amount": "amount_kg",
    "immobilized_kg": "amount_kg",
    "added_kg": "amount_kg",
    "operator": "operator",
    "sender": "sender",
    "receiver": "receiver",
    "holder": "holder",
    "pledgee": "pledgee",
    "intermediary": "intermediary",
    "beneficiary": "beneficiary",
    "purpose": "purpose",
    "claim_year": "claim_year",
    "nr_account": "nr_account",
    "retirement_seq": "seq",
    "redemption_seq": "seq",
    "seq": "seq",
    "op_id": "op_id",
}


class CarbonTokenChain:
    """The carbon token contract on one chain, driven by the registry's bridge key.

    Thread-safe: signing + sending is serialized per chain (nonces), reads go straight to
    the node (the embedded provider serializes them itself).
    """

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
        self.chain = chain
        self.w3 = chain.w3
        self.bridge: LocalAccount = _account(bridge_key)
        # the enforcement agent (unfreeze, forced transfer) and the governance owner (deploy, role changes):
        # separate keys; the owner's is needed only to deploy and to govern, never by a running bridge
        self.agent: LocalAccount | None = None if agent_key is None else _account(agent_key)
        self.owner: LocalAccount | None = None if owner_key is None else _account(owner_key)
        self.role_delay_s = role_delay_s
        self.compiled: CompiledContract = compile_contract(
            cache_dir if cache_dir is not None else chain.data_dir / "contracts-cache"
        )
        self._functions, self._events = _index_abi(self.compiled.abi)
        self._address: str | None = None
        self._nonces: dict[str, int] = {}
        # accounts that signed through us, so a nonce conflict can be re-signed
        self._signers: dict[str, LocalAccount] = {}
        self._lock: threading.RLock = chain.send_lock
        self._priority_fee_wei = priority_fee_wei
        self._fees: dict[str, int] | None = None
        self.receipt_timeout_s = receipt_timeout_s
        self.deployment: Deployment | None = None

    # ----------------------------------------------------------------- deployment
    @property
    def address(self) -> str:
        if self._address is None:
            raise RuntimeError("contract not deployed or loaded: call deploy_or_load() first")
        return self._address

    @property
    def send_lock(self) -> threading.RLock:
        """Lock that orders signing and sending on this chain (re-entrant)."""
        return self._lock

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

    # ----------------------------------------------------------------- gas money
    def fund_gas(self, address: str, amount_wei: int = MIN_GAS_BALANCE_WEI) -> None:
        """Send ether for gas to `address` (holders need it to sign their own transactions).
        Paid by the embedded faucet, or by the bridge account on an external node."""
        payer = self.chain.faucet or self.bridge
        with self._lock:
            signed = self._sign(
                payer, to_checksum_address(address), b"", 21_000, "fund", value_wei=amount_wei
            )
            tx_hash = self.send_signed(signed)
        self._wait_ok(tx_hash, self.receipt_timeout_s)

    def _ensure_bridge_funded(self) -> None:
        faucet = self.chain.faucet
        if faucet is None or faucet.address == self.bridge.address:
            return
        if int(self.w3.eth.get_balance(self.bridge.address)) < MIN_GAS_BALANCE_WEI:
            self.fund_gas(self.bridge.address, 1000 * MIN_GAS_BALANCE_WEI)

    def _ensure_funded(self, address: str) -> None:
        """Gas for the owner and agent keys (embedded: the faucet; external: the bridge account pays)."""
        if int(self.w3.eth.get_balance(to_checksum_address(address))) < MIN_GAS_BALANCE_WEI:
            self.fund_gas(address, 10 * MIN_GAS_BALANCE_WEI)

    # ----------------------------------------------------------------- bridge operations
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

    # ----------------------------------------------------------------- governance (owner key)
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

    # ----------------------------------------------------------------- holder operations
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
        if len(_utf8(beneficiary)) > 128 or len(_utf8(purpose)) > 32:
            raise ChainRejected(1003, "beneficiary max 128 bytes, purpose max 32 bytes")
        args = [lot_id, amount_kg, beneficiary, purpose, claim_year]
        return self._call_as(holder, "retire", args, wait)

    def redeem(
        self, holder: LocalAccount, lot_id: int, amount_kg: int, nr_account: str | bytes, *, wait: bool = True
    ) -> TxResult:
        """Burn `amount_kg` to take it back into the NR account `nr_account`."""
        if len(_utf8(nr_account)) > 64:
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

    # ----------------------------------------------------------------- views
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
        return None if value == b"\x00" * 32 else _hex(value)

    def call_hash(self, function: str, args: Sequence[Any]) -> str:
        """keccak256 of the calldata of `function(args)`: what the contract binds an op id to."""
        fn = self._functions[function]
        return _hex(keccak(fn.selector + abi_encode(list(fn.input_types), list(args))))

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
        fn = self._functions[function]
        data = fn.selector + abi_encode(list(fn.input_types), list(args))
        try:
            raw = self.w3.eth.call(cast(Any, {"to": self.address, "data": _hex(data)}), cast(Any, block))
        except Exception as exc:  # node-specific revert exception types
            code, reason = parse_revert(str(exc))
            raise ChainRejected(code, reason) from exc
        return tuple(abi_decode(list(fn.output_types), bytes(raw)))

    # ----------------------------------------------------------------- events
    def get_events(
        self, from_block: int, to_block: int, names: Iterable[str] | None = None
    ) -> list[ChainEvent]:
        """Decoded events of the contract in [from_block, to_block] (clamped to the head),
        in chain order. `names` restricts to those event names."""
        to_block = min(to_block, self.block_number())
        if to_block < from_block:
            return []
        topics: list[Any] = []
        if names is not None:
            wanted = {e.topic0 for e in self._events.values() if e.name in set(names)}
            topics = [[_hex(t) for t in wanted]]
        events: list[ChainEvent] = []
        start = from_block
        while start <= to_block:
            end = min(to_block, start + MAX_LOG_RANGE_BLOCKS - 1)
            params: dict[str, Any] = {"address": self.address, "fromBlock": start, "toBlock": end}
            if topics:
                params["topics"] = topics
            for log in self.w3.eth.get_logs(params):  # type: ignore[arg-type]
                decoded = self.decode_log(log)
                if decoded is not None:
                    events.append(decoded)
            start = end + 1
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    def decode_log(self, log: Mapping[str, Any]) -> ChainEvent | None:
        """Decode one raw log of this contract; None for a log we have no ABI for."""
        topics = [bytes(t) for t in log["topics"]]
        if not topics or to_checksum_address(log["address"]) != self.address:
            return None
        event = self._events.get(topics[0])
        if event is None:
            return None
        args: dict[str, Any] = {}
        try:
            for (name, kind), topic in zip(event.indexed, topics[1:], strict=True):
                args[name] = _normalize(kind, abi_decode([kind], topic)[0])
            if event.data:
                values = abi_decode([_wire_type(k) for _, k in event.data], bytes(log["data"]))
                for (name, kind), value in zip(event.data, values, strict=True):
                    if kind == "string":
                        args[name] = lenient_text(value)
                        args[f"{name}_hex"] = _hex(value)  # the exact bytes the holder sent
                    else:
                        args[name] = _normalize(kind, value)
        except Exception as exc:  # noqa: BLE001 - a log we cannot decode is reported, never raised
            args["decode_error"] = lenient_text(repr(exc).encode())[:500]
            args["data_hex"] = _hex(bytes(log["data"]))[:20_000]
        fields = {_FIELD_ALIASES[k]: v for k, v in args.items() if k in _FIELD_ALIASES}
        return ChainEvent(
            name=event.name,
            block_number=int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            tx_hash=_hex(log["transactionHash"]),
            log_index=int(log["logIndex"]),
            args=args,
            **fields,
        )

    # ----------------------------------------------------------------- sending
    def sign_call(self, function: str, args: Sequence[Any], signer: LocalAccount | None = None) -> SignedCall:
        """Encode and sign a call (allocates the signer's next nonce). Send it with
        `send_signed`; a signed call that is never sent leaves a nonce gap until
        `resync_nonce` is called. Threads sharing a key hold `send_lock` across both steps."""
        fn = self._functions[function]
        # raw bytes for a `string` argument are sent as they are (same encoding): holders can send any bytes
        types = [_wire_type(k) if isinstance(a, bytes) else k for k, a in zip(fn.input_types, args, strict=True)]
        data = fn.selector + abi_encode(types, list(args))
        gas = GAS_LIMITS.get(function, DEFAULT_GAS_LIMIT)
        return self._sign(signer or self.bridge, self.address, data, gas, function)

    def send_signed(self, signed: SignedCall) -> str:
        """Send a signed call without waiting; returns the hash of the transaction sent
        (a new one if the nonce or fee had to be refreshed and the call re-signed)."""
        with self._lock:  # sends leave in nonce order: py-evm has no mempool to reorder them
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                return signed.tx_hash
            except Exception as exc:  # transport or node rejection; classified by message
                message = str(exc)
                self._nonces.pop(signed.sender, None)
                fee_error = _FEE_ERROR.search(message) is not None
                if fee_error:
                    self._fees = None
                if not fee_error and _NONCE_ERROR.search(message) is None:
                    code, reason = parse_revert(message)
                    raise ChainRejected(code, reason, signed.tx_hash) from exc
            # nonce or fee conflict (another client used the key, the base fee rose): re-sign once
            tx = dict(signed.tx)
            fresh = self._sign(
                self._account_for(signed.sender),
                tx.get("to"),
                bytes(tx["data"]),
                int(tx["gas"]),
                signed.function,
                value_wei=int(tx.get("value", 0)),
            )
            try:
                self.w3.eth.send_raw_transaction(fresh.raw)
            except Exception as exc:  # a second failure is final
                self._nonces.pop(fresh.sender, None)
                code, reason = parse_revert(str(exc))
                raise ChainRejected(code, reason, fresh.tx_hash) from exc
            return fresh.tx_hash

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

    def resync_nonce(self, address: str | None = None) -> None:
        """Forget cached nonces (all, or one address's); the next send reads the node's."""
        with self._lock:
            if address is None:
                self._nonces.clear()
            else:
                self._nonces.pop(to_checksum_address(address), None)

    # ----------------------------------------------------------------- internals
    def _bridge_call(self, function: str, args: Sequence[Any], wait: bool) -> TxResult:
        return self._call_as(self.bridge, function, args, wait)

    def _call_as(
        self, signer: LocalAccount | None, function: str, args: Sequence[Any], wait: bool
    ) -> TxResult:
        tx_hash = self.submit(function, args, signer)
        if not wait:
            return TxResult(tx_hash=tx_hash, mined=False)
        return self.wait_receipt(tx_hash)

    def _account_for(self, address: str) -> LocalAccount:
        known: dict[str, LocalAccount] = {self.bridge.address: self.bridge}
        for extra in (self.agent, self.owner):
            if extra is not None:
                known[extra.address] = extra
        if self.chain.faucet is not None:
            known[self.chain.faucet.address] = self.chain.faucet
        known.update(self._signers)
        return known[address]

    def _fee_fields(self) -> dict[str, int]:
        if self._fees is None:
            latest = self.w3.eth.get_block("latest")
            base_fee = latest.get("baseFeePerGas")
            if base_fee is None:
                self._fees = {"gasPrice": int(self.w3.eth.gas_price)}
            else:
                # room for the base fee to double before a resend is needed
                self._fees = {
                    "maxFeePerGas": 2 * int(base_fee) + self._priority_fee_wei,
                    "maxPriorityFeePerGas": self._priority_fee_wei,
                }
        return self._fees

    def _sign(
        self,
        account: LocalAccount,
        to: str | None,
        data: bytes,
        gas: int,
        function: str,
        *,
        value_wei: int = 0,
    ) -> SignedCall:
        with self._lock:
            self._signers[account.address] = account
            nonce = self._nonces.get(account.address)
            if nonce is None:
                nonce = int(self.w3.eth.get_transaction_count(account.address, "pending"))
            tx: dict[str, Any] = {
                "chainId": self.chain.chain_id,
                "nonce": nonce,
                "gas": gas,
                "value": value_wei,
                "data": data,
                **self._fee_fields(),
            }
            if "maxFeePerGas" in tx:
                tx["type"] = 2
            if to is not None:
                tx["to"] = to
            signed = account.sign_transaction(tx)
            self._nonces[account.address] = nonce + 1
        return SignedCall(
            tx_hash=_hex(signed.hash),
            raw=bytes(signed.raw_transaction),
            function=function,
            sender=account.address,
            nonce=nonce,
            tx=tx,
        )

    def _receipt(self, tx_hash: str, timeout_s: float) -> Mapping[str, Any]:
        deadline = time.monotonic() + timeout_s
        pause_s = 0.002
        while True:
            try:
                receipt: Mapping[str, Any] = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                return receipt
            except TransactionNotFound:
                pass
            if time.monotonic() >= deadline:
                raise ChainRejected(CHAIN_REJECTED, f"no receipt after {timeout_s:.0f} s", tx_hash)
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 0.25)

    def _wait_ok(self, tx_hash: str, timeout_s: float) -> Mapping[str, Any]:
        receipt = self._receipt(tx_hash, timeout_s)
        if int(receipt["status"]) == 1:
            return receipt
        code, reason = self._revert_reason(tx_hash, receipt)
        raise ChainRejected(code, reason, tx_hash)

    def _revert_reason(self, tx_hash: str, receipt: Mapping[str, Any]) -> tuple[int, str]:
        """Replay a failed transaction as eth_call on the state before its block."""
        tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        call: dict[str, Any] = {"from": tx["from"], "data": _hex(bytes(tx["input"])), "gas": int(tx["gas"])}
        if tx.get("to"):
            call["to"] = tx["to"]
        if int(tx.get("value", 0)):
            call["value"] = int(tx["value"])
        if int(receipt["gasUsed"]) >= int(tx["gas"]):
            return CHAIN_REJECTED, f"out of gas (limit {int(tx['gas'])})"
        try:
            self.w3.eth.call(call, max(int(receipt["blockNumber"]) - 1, 0))  # type: ignore[arg-type]
        except Exception as exc:  # node-specific revert exception types
            return parse_revert(str(exc))
        return CHAIN_REJECTED, "reverted (reason unavailable)"
