"""Test world for the chain tests: which backends to run, the bridge key for each, and a
deployed token with helpers that make isolated holders, lots and op_ids."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from sovcarbon.chain import CarbonTokenChain, Chain, make_op_id
from sovcarbon.chain.token import ROLE_AGENT

CHAIN_URL_ENV = "SOVCARBON_TEST_CHAIN_URL"
CHAIN_KEY_ENV = "SOVCARBON_TEST_CHAIN_KEY"
# Hardhat's well-known dev account #0 (public test key, funded on every Hardhat node).
HARDHAT_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HOLDER_GAS_WEI = 10**17
ROLE_DELAY_S = 1  # the test contracts' time lock on role changes (production: two days)

EXTERNAL_CONFIGURED = bool(os.environ.get(CHAIN_URL_ENV))


def backend_args(backend: str) -> tuple[str | None, str]:
    """(chain_url, bridge private key) for a backend name."""
    if backend == "external":
        return os.environ[CHAIN_URL_ENV], os.environ.get(CHAIN_KEY_ENV, HARDHAT_DEV_KEY)
    return None, Account.from_key(make_op_id("sovcarbon-test-bridge")).key.hex()


@dataclass
class TokenWorld:
    """A deployed token plus helpers to make isolated holders, lots and op_ids."""

    backend: str
    chain: Chain
    token: CarbonTokenChain
    data_dir: Path
    intermediary: str
    unlicensed_intermediary: str
    _lots: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def op(self) -> bytes:
        return make_op_id(uuid.uuid4().hex)

    def new_account(self, gas: bool = True) -> LocalAccount:
        account: LocalAccount = Account.create()
        if gas:
            self.token.fund_gas(account.address, HOLDER_GAS_WEI)
        return account

    def new_holder(self, kyc: bool = True, licensed: bool = True, gas: bool = True) -> LocalAccount:
        holder = self.new_account(gas)
        intermediary = self.intermediary if licensed else self.unlicensed_intermediary
        self.token.set_identity(self.op(), holder.address, kyc, intermediary)
        return holder

    def add_agent(self) -> LocalAccount:
        """A new enforcement agent, through the owner's two-step, time-locked role change."""
        agent = self.new_account()
        self.token.propose_role(ROLE_AGENT, agent.address)
        time.sleep(ROLE_DELAY_S + 0.2)
        self.token.accept_role(ROLE_AGENT, agent)
        return agent

    def new_lot(self, immobilized_kg: int) -> int:
        lot_id = 1_000_000 + next(self._lots) + (uuid.uuid4().int % 10**9) * 1000
        self.token.open_lot(self.op(), lot_id, immobilized_kg)
        return lot_id

    def funded_holder(self, lot_id: int, amount_kg: int) -> LocalAccount:
        holder = self.new_holder()
        self.token.mint(self.op(), holder.address, lot_id, amount_kg)
        return holder
