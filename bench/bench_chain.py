"""Benchmark of the chain layer: token transfers per second through `CarbonTokenChain`
against raw web3.py transfers of the same contract on the same backend, in the same run.

Backends: the embedded persistent py-evm chain always; an external node (e.g. Hardhat from
tools/hardhat/start.sh) when SOVCARBON_TEST_CHAIN_URL is set (bridge key from
SOVCARBON_TEST_CHAIN_KEY, default Hardhat's public dev account #0).

Goal: adapter throughput >= 0.7x raw web3 throughput.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from sovcarbon.chain import CarbonTokenChain, make_op_id, open_chain

HARDHAT_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
GOAL_RATIO = 0.7
ROUNDS = 3  # alternate raw / adapter rounds; report the median of each
LOT_ID = 1


def _setup(token: CarbonTokenChain, transfers: int) -> tuple[LocalAccount, LocalAccount]:
    run = uuid.uuid4().hex
    sender: LocalAccount = Account.create()
    receiver: LocalAccount = Account.create()
    intermediary = Account.create().address
    token.fund_gas(sender.address, 10**18)
    token.set_intermediary(make_op_id(f"{run}-int"), intermediary, True)
    for who in (sender, receiver):
        token.set_identity(make_op_id(f"{run}-{who.address}"), who.address, True, intermediary)
    if not token.lot_info(LOT_ID).open:
        token.open_lot(make_op_id(f"{run}-lot"), LOT_ID, 10**15)
    token.mint(make_op_id(f"{run}-mint"), sender.address, LOT_ID, 10 * transfers * ROUNDS)
    return sender, receiver


def _adapter_round(token: CarbonTokenChain, sender: LocalAccount, to: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        token.transfer(sender, to, LOT_ID, 1)
    return count / (time.perf_counter() - started)


def _raw_round(token: CarbonTokenChain, sender: LocalAccount, to: str, count: int) -> float:
    """What a caller would write with web3.py alone: build, sign, send, wait for the receipt."""
    w3 = token.w3
    contract = w3.eth.contract(address=token.address, abi=token.abi)  # type: ignore[call-overload]
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    nonce = int(w3.eth.get_transaction_count(sender.address, "pending"))
    chain_id = int(w3.eth.chain_id)
    started = time.perf_counter()
    for i in range(count):
        tx = contract.functions.transfer(to, LOT_ID, 1).build_transaction(
            {
                "from": sender.address,
                "chainId": chain_id,
                "nonce": nonce + i,
                "gas": 200_000,  # explicit, as the adapter does (no estimate per call)
                "maxFeePerGas": 2 * base_fee + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.002)
        assert receipt["status"] == 1
    rate = count / (time.perf_counter() - started)
    token.resync_nonce(sender.address)  # the key was used outside the adapter
    return rate


def _measure(label: str, chain_url: str | None, bridge_key: str, transfers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        chain = open_chain(chain_url, Path(tmp))
        try:
            # one key per role: a throwaway owner deploys, naming this bridge key and a throwaway agent
            token = CarbonTokenChain(chain, bridge_key, agent_key=Account.create().key.hex(),
                                     owner_key=Account.create().key.hex())
            token.deploy_or_load(Path(tmp) / "deployment.json")
            sender, receiver = _setup(token, transfers)
            _adapter_round(token, sender, receiver.address, 5)  # warm caches on both paths
            _raw_round(token, sender, receiver.address, 5)
            raw_rates: list[float] = []
            adapter_rates: list[float] = []
            for _ in range(ROUNDS):
                raw_rates.append(_raw_round(token, sender, receiver.address, transfers))
                adapter_rates.append(_adapter_round(token, sender, receiver.address, transfers))
            expected = 10 * transfers * ROUNDS - 10 - 2 * transfers * ROUNDS
            assert token.balance_of(sender.address, LOT_ID) == expected
        finally:
            chain.close()
    adapter = statistics.median(adapter_rates)
    raw = statistics.median(raw_rates)
    return {
        "benchmark": f"token transfer via CarbonTokenChain, {label} ({transfers} tx x {ROUNDS} rounds)",
        "figure": round(adapter, 1),
        "unit": "tx/s",
        "baseline": round(raw, 1),
        "ratio": round(adapter / raw, 2),
        "goal": f">= {GOAL_RATIO}x raw web3.py transfers of the same contract on the same backend",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    transfers = 40 if quick else 200
    results = [_measure("embedded py-evm (SQLite-persisted)", None, Account.create().key.hex(), transfers)]
    chain_url = os.environ.get("SOVCARBON_TEST_CHAIN_URL")
    if chain_url:
        key = os.environ.get("SOVCARBON_TEST_CHAIN_KEY", HARDHAT_DEV_KEY)
        results.append(_measure(f"external node {chain_url}", chain_url, key, transfers))
    return results


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(
            f"{row['benchmark']}: {row['figure']} {row['unit']} "
            f"(baseline {row['baseline']} {row['unit']}, ratio {row['ratio']}, goal {row['goal']})"
        )
