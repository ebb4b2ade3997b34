"""Transactions on our chain, signed locally: keys (one per role, loaded or created 0600), the nonce book
shared by every contract client on one chain, fee fields, sending with one re-sign after a nonce or fee
conflict, receipts with a deadline, gas money for the role keys, and the revert reason of a failed
transaction (replayed as ``eth_call``)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3.exceptions import TransactionNotFound

from sovcarbon.chain.abi import CHAIN_REJECTED, ChainRejected, parse_revert, to_hex
from sovcarbon.chain.event_decoding import ChainEvent
from sovcarbon.chain.node import Chain

DEFAULT_RECEIPT_TIMEOUT_S: float = 60.0
DEFAULT_PRIORITY_FEE_WEI: int = 10**9
MIN_GAS_BALANCE_WEI: int = 10**18  # top-up threshold for accounts funded by `fund_gas`
_NONCE_ERROR = re.compile(r"nonce", re.IGNORECASE)
_FEE_ERROR = re.compile(r"underpriced|fee cap|max fee per gas less than|base ?fee", re.IGNORECASE)


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


def as_account(key: str | LocalAccount) -> LocalAccount:
    if isinstance(key, LocalAccount):
        return key
    loaded: LocalAccount = Account.from_key(key)
    return loaded


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


class SigningClient:
    """Signs and sends transactions on one chain with the registry's role keys (bridge; agent and owner when
    configured) and any holder key passed in. Thread-safe: signing + sending is serialized per chain
    (``chain.send_lock``, nonces); reads go straight to the node."""

    def __init__(
        self,
        chain: Chain,
        bridge_key: str | LocalAccount,
        *,
        agent_key: str | LocalAccount | None = None,
        owner_key: str | LocalAccount | None = None,
        priority_fee_wei: int = DEFAULT_PRIORITY_FEE_WEI,
        receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S,
    ) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.bridge: LocalAccount = as_account(bridge_key)
        # the enforcement agent (unfreeze, forced transfer) and the governance owner (deploy, role changes):
        # separate keys; the owner's is needed only to deploy and to govern, never by a running bridge
        self.agent: LocalAccount | None = None if agent_key is None else as_account(agent_key)
        self.owner: LocalAccount | None = None if owner_key is None else as_account(owner_key)
        self._nonces: dict[str, int] = {}
        # accounts that signed through us, so a nonce conflict can be re-signed
        self._signers: dict[str, LocalAccount] = {}
        self._lock: threading.RLock = chain.send_lock
        self._priority_fee_wei = priority_fee_wei
        self._fees: dict[str, int] | None = None
        self.receipt_timeout_s = receipt_timeout_s

    @property
    def send_lock(self) -> threading.RLock:
        """Lock that orders signing and sending on this chain (re-entrant)."""
        return self._lock

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

    def resync_nonce(self, address: str | None = None) -> None:
        """Forget cached nonces (all, or one address's); the next send reads the node's."""
        with self._lock:
            if address is None:
                self._nonces.clear()
            else:
                self._nonces.pop(to_checksum_address(address), None)

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
            tx_hash=to_hex(signed.hash),
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
        call: dict[str, Any] = {"from": tx["from"], "data": to_hex(bytes(tx["input"])), "gas": int(tx["gas"])}
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
