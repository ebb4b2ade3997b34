"""The settlement contracts on chain: the cash token (``CashToken.vy``, THB in satang) and the DvP escrow
(``DvpEscrow.vy``), driven through the carbon token client's signing machinery (``chain.transactions``: one
nonce book and one send lock per chain). Integer satang and kg only: no floats anywhere in money.

| contract | who may | what |
|---|---|---|
| CashToken | the cash issuer (bank or central bank, named at deployment) | mint, burn (own float) |
| CashToken | an eligible holder (the carbon token's identity registry) | transfer, lock for the escrow |
| DvpEscrow | a licensed intermediary | create a DvP order |
| DvpEscrow | the seller / the buyer | fund the delivery / payment leg (from a pledge / lock) |
| DvpEscrow | anyone | settle (strictly before the deadline), expire (at or after it) |
| DvpEscrow | the buyer | fund the payment leg and settle in one transaction (delivery funded before) |
| DvpEscrow | the operator or a party | cancel (before the deadline) |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from sovcarbon.chain.abi import (
    CHAIN_REJECTED,
    DEPLOY_GAS,
    ChainRejected,
    call_data,
    call_view,
    index_abi,
    normalize,
    parse_revert,
    to_hex,
)
from sovcarbon.chain.compiler import CompiledContract, compile_contract, verify_runtime_code
from sovcarbon.chain.token import CarbonTokenChain
from sovcarbon.chain.transactions import TxResult

CASH_CONTRACT = "CashToken"
ESCROW_CONTRACT = "DvpEscrow"
SETTLEMENT_GAS = 400_000  # settle / cancel / expire: two nested token calls
DVP_OPEN, DVP_SETTLED, DVP_CANCELLED, DVP_EXPIRED = 1, 2, 3, 4
DVP_STATUS_NAMES = {0: "none", DVP_OPEN: "open", DVP_SETTLED: "settled", DVP_CANCELLED: "cancelled",
                    DVP_EXPIRED: "expired"}


@dataclass(frozen=True)
class ContractEvent:
    name: str
    block_number: int
    tx_hash: str
    log_index: int
    args: Mapping[str, Any]


class ContractClient:
    """One of our contracts at an address, signing through the carbon token client (shared nonces)."""

    def __init__(self, token: CarbonTokenChain, name: str, *, cache_dir: Path | None = None) -> None:
        self.token = token
        self.w3 = token.w3
        self.compiled: CompiledContract = compile_contract(
            cache_dir if cache_dir is not None else token.chain.data_dir / "contracts-cache", name)
        self._functions, self._events = index_abi(self.compiled.abi)
        self._address: str | None = None

    @property
    def address(self) -> str:
        if self._address is None:
            raise RuntimeError(f"{self.compiled.name} not deployed or loaded")
        return self._address

    def deploy(self, deployer: LocalAccount, constructor_types: Sequence[str], constructor_args: Sequence[Any]) -> str:
        data = self.compiled.bytecode + abi_encode(list(constructor_types), list(constructor_args))
        with self.token.send_lock:
            tx_hash = self.token.send_signed(self.token._sign(deployer, None, data, DEPLOY_GAS, "deploy"))
        receipt = self.token._receipt(tx_hash, self.token.receipt_timeout_s)
        if int(receipt["status"]) != 1 or not receipt.get("contractAddress"):
            raise ChainRejected(CHAIN_REJECTED, f"{self.compiled.name} deployment failed", tx_hash)
        self.load(str(receipt["contractAddress"]))
        return self.address

    def load(self, address: str) -> None:
        checksum = to_checksum_address(address)
        verify_runtime_code(self.compiled, checksum, bytes(self.w3.eth.get_code(checksum)))
        self._address = checksum

    def call(self, function: str, args: Sequence[Any], block: int | str = "latest") -> tuple[Any, ...]:
        return call_view(self.w3, self.address, self._functions[function], args, block)

    def send(self, signer: LocalAccount, function: str, args: Sequence[Any], *, gas: int = SETTLEMENT_GAS,
             wait: bool = True) -> TxResult:
        fn = self._functions[function]
        data = call_data(fn, args)
        with self.token.send_lock:
            tx_hash = self.token.send_signed(self.token._sign(signer, self.address, data, gas, function))
        if not wait:
            return TxResult(tx_hash=tx_hash, mined=False)
        receipt = self.token._receipt(tx_hash, self.token.receipt_timeout_s)
        if int(receipt["status"]) != 1:
            raise ChainRejected(*self._revert_reason(signer, data, int(receipt["blockNumber"])), tx_hash)
        return TxResult(tx_hash=tx_hash, mined=True, block_number=int(receipt["blockNumber"]),
                        gas_used=int(receipt["gasUsed"]))

    def _revert_reason(self, signer: LocalAccount, data: bytes, block_number: int) -> tuple[int, str]:
        """Replay a reverted call on the state its block left (a revert changed nothing there) and with that
        block's successor's time: deadline checks fail the same way, which a replay on the state BEFORE the
        block (an earlier timestamp) would not show."""
        try:
            self.w3.eth.call(cast(Any, {"from": signer.address, "to": self.address, "data": to_hex(data),
                                        "gas": SETTLEMENT_GAS}), cast(Any, block_number))
        except Exception as exc:  # node-specific revert exception types
            return parse_revert(str(exc))
        return CHAIN_REJECTED, "reverted (reason unavailable)"

    def events(self, from_block: int, to_block: int, names: Sequence[str] | None = None) -> list[ContractEvent]:
        """Decoded events of this contract in [from_block, to_block], chain order."""
        to_block = min(to_block, int(self.w3.eth.block_number))
        if to_block < from_block:
            return []
        out: list[ContractEvent] = []
        for log in self.w3.eth.get_logs(cast(Any, {"address": self.address, "fromBlock": from_block,
                                                   "toBlock": to_block})):
            topics = [bytes(t) for t in log["topics"]]
            event = self._events.get(topics[0]) if topics else None
            if event is None or (names is not None and event.name not in names):
                continue
            args: dict[str, Any] = {}
            for (name, kind), topic in zip(event.indexed, topics[1:], strict=True):
                args[name] = normalize(kind, abi_decode([kind], topic)[0])
            values = abi_decode([k for _, k in event.data], bytes(log["data"])) if event.data else ()
            for (name, kind), value in zip(event.data, values, strict=True):
                args[name] = normalize(kind, value)
            out.append(ContractEvent(event.name, int(log["blockNumber"]), to_hex(log["transactionHash"]),
                                     int(log["logIndex"]), args))
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out


class CashTokenChain(ContractClient):
    """THB cash token in satang; the issuer is the only minter and burner."""

    def __init__(self, token: CarbonTokenChain, *, cache_dir: Path | None = None) -> None:
        super().__init__(token, CASH_CONTRACT, cache_dir=cache_dir)

    def deploy_cash(self, issuer: LocalAccount, name: str = "Tokenized THB", symbol: str = "THBT") -> str:
        self.token._ensure_funded(issuer.address)
        return self.deploy(issuer, ["address", "address", "string", "string"],
                           [issuer.address, self.token.address, name, symbol])

    def mint(self, issuer: LocalAccount, op_id: bytes, receiver: str, amount_satang: int) -> TxResult:
        return self.send(issuer, "mint", [op_id, to_checksum_address(receiver), amount_satang])

    def burn(self, issuer: LocalAccount, op_id: bytes, amount_satang: int) -> TxResult:
        return self.send(issuer, "burn", [op_id, amount_satang])

    def transfer(self, holder: LocalAccount, receiver: str, amount_satang: int) -> TxResult:
        return self.send(holder, "transfer", [to_checksum_address(receiver), amount_satang])

    def lock(self, holder: LocalAccount, amount_satang: int, locker: str) -> TxResult:
        return self.send(holder, "lock", [amount_satang, to_checksum_address(locker)])

    def balance_of(self, holder: str) -> int:
        return int(self.call("balanceOf", [to_checksum_address(holder)])[0])

    def free_balance_of(self, holder: str) -> int:
        return int(self.call("freeBalanceOf", [to_checksum_address(holder)])[0])

    def locked(self, holder: str, locker: str) -> int:
        return int(self.call("locked", [to_checksum_address(holder), to_checksum_address(locker)])[0])

    def total_supply(self) -> int:
        return int(self.call("totalSupply", [])[0])


@dataclass(frozen=True)
class DvpState:
    status: int
    delivery_funded: bool
    payment_funded: bool
    deadline: int

    @property
    def status_name(self) -> str:
        return DVP_STATUS_NAMES.get(self.status, str(self.status))


class DvpEscrowChain(ContractClient):
    """The DvP escrow over one carbon token and one cash token."""

    def __init__(self, token: CarbonTokenChain, *, cache_dir: Path | None = None) -> None:
        super().__init__(token, ESCROW_CONTRACT, cache_dir=cache_dir)

    def deploy_escrow(self, deployer: LocalAccount, cash_address: str) -> str:
        self.token._ensure_funded(deployer.address)
        return self.deploy(deployer, ["address", "address"], [self.token.address, to_checksum_address(cash_address)])

    def create(self, operator: LocalAccount, dvp_id: bytes, seller: str, buyer: str, lot_id: int, amount_kg: int,
               price_satang: int, deadline: int) -> TxResult:
        return self.send(operator, "create", [dvp_id, to_checksum_address(seller), to_checksum_address(buyer),
                                              lot_id, amount_kg, price_satang, deadline])

    def fund_delivery(self, seller: LocalAccount, dvp_id: bytes) -> TxResult:
        return self.send(seller, "fund_delivery", [dvp_id])

    def fund_payment(self, buyer: LocalAccount, dvp_id: bytes) -> TxResult:
        return self.send(buyer, "fund_payment", [dvp_id])

    def settle(self, caller: LocalAccount, dvp_id: bytes) -> TxResult:
        return self.send(caller, "settle", [dvp_id])

    def fund_payment_and_settle(self, buyer: LocalAccount, dvp_id: bytes) -> TxResult:
        """The buyer funds the payment leg and settles in one transaction (the delivery leg funded before)."""
        return self.send(buyer, "fund_payment_and_settle", [dvp_id])

    def cancel(self, caller: LocalAccount, dvp_id: bytes) -> TxResult:
        return self.send(caller, "cancel", [dvp_id])

    def expire(self, caller: LocalAccount, dvp_id: bytes) -> TxResult:
        return self.send(caller, "expire", [dvp_id])

    def withdraw_unassigned(self, holder: LocalAccount, lot_id: int) -> TxResult:
        return self.send(holder, "withdraw_unassigned", [lot_id])

    def state(self, dvp_id: bytes) -> DvpState:
        status, delivery, payment, deadline = self.call("dvpState", [dvp_id])
        return DvpState(int(status), bool(delivery), bool(payment), int(deadline))

    def escrowed_kg(self, lot_id: int) -> int:
        return int(self.call("escrowedKg", [lot_id])[0])

    def escrowed_satang(self) -> int:
        return int(self.call("escrowedSatang", [])[0])


def set_next_block_timestamp(token: CarbonTokenChain, timestamp_s: int) -> None:
    """Tests and demos: the next block is mined at ``timestamp_s`` (Hardhat: evm_setNextBlockTimestamp;
    embedded py-evm: eth-tester's time travel mines a blank block just before, the next one is at it)."""
    if token.chain.kind == "external":
        token.w3.provider.make_request(cast(Any, "evm_setNextBlockTimestamp"), [timestamp_s])
        return
    tester = token.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    tester.time_travel(timestamp_s)
