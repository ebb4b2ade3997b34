"""Test world for tokenization: chain backends, a licensed tokenization platform with a custody account,
holders with their own keys (kept by the test, as a wallet would), and helpers to settle the bridge."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from world import Api

from sovcarbon.bootstrap import start_bridge
from sovcarbon.bridge import Bridge
from sovcarbon.domain.model import Role
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t

CHAIN_URL_ENV = "SOVCARBON_TEST_CHAIN_URL"
CHAIN_KEY_ENV = "SOVCARBON_TEST_CHAIN_KEY"
# Hardhat's well-known dev account #0 (a public test key, funded on every Hardhat node).
HARDHAT_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
EXTERNAL_URL = os.environ.get(CHAIN_URL_ENV)


@dataclass(frozen=True)
class ChainBackend:
    name: str
    url: str | None
    bridge_key: str | None

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that must use the same chain."""
        out = {"SOVCARBON_CHAIN_URL": self.url or ""}
        if self.bridge_key:
            out["SOVCARBON_BRIDGE_KEY"] = self.bridge_key
        return out


CHAIN_BACKENDS = [
    pytest.param(ChainBackend("embedded", None, None), id="embedded"),
    pytest.param(ChainBackend("external", EXTERNAL_URL, os.environ.get(CHAIN_KEY_ENV, HARDHAT_DEV_KEY)),
                 id="external", marks=pytest.mark.skipif(not EXTERNAL_URL, reason=f"{CHAIN_URL_ENV} not set")),
]


def open_bridge(reg: Registry, backend: ChainBackend, cache_dir: Path) -> Bridge:
    """A bridge on a fresh contract (the deployment record lives in this test's data dir)."""
    return start_bridge(reg, chain_url=backend.url or "", bridge_key=backend.bridge_key, cache_dir=cache_dir)


@dataclass
class TokenWorld:
    api: Api
    bridge: Bridge | None
    wallets: dict[str, LocalAccount] = field(default_factory=dict)

    @property
    def ids(self) -> dict[str, str]:
        return self.api.ids

    def settle(self) -> dict[str, int]:
        assert self.bridge is not None
        return self.bridge.run_until_idle()

    def tokenize(self, quantity_kg: int, holder: str = "foundation", **extra: Any) -> dict[str, Any]:
        """The holder's own request, with its own key (an intermediary cannot tokenize a holder's units)."""
        body = {"holder_account_id": self.ids[f"{holder}_acc"], "quantity_kg": quantity_kg, **extra}
        return self.api.ok("POST", "/v1/tokenizations", HOLDER_KEYS[holder], body)

    def lot(self, lot_id: str) -> dict[str, Any]:
        return self.api.ok("GET", f"/v1/lots/{lot_id}", "admin")

    def address(self, who: str) -> str:
        return self.wallets[who].address


def setup_platform(api: Api, *, licensed: bool = True) -> Api:
    """A tokenization platform (intermediary) with a custody account; holders get wallets and are onboarded."""
    body: dict[str, Any] = {"name": "Tokenization platform", "kind": "intermediary", "country": "TH",
                            "kyc_status": "verified", "wallet_address": Account.create().address}
    if licensed:
        body["license"] = {"kind": "platform", "number": "SEC-DA-2025-001"}
    api.ids["platform"] = api.ok("POST", "/v1/participants", "admin", body)["id"]
    api.ids["custody_acc"] = api.ok("POST", "/v1/accounts", "admin",
                                    {"participant_id": api.ids["platform"], "kind": "custody"})["id"]
    api.key("platform", Role.INTERMEDIARY, api.ids["platform"])
    return api


# The API key each world holder acts with (tests/world.py: the foundation's key is the proponent's).
HOLDER_KEYS = {"foundation": "proponent", "company": "company", "other": "other"}


def onboard_holder(api: Api, who: str) -> dict[str, Any]:
    """The holder's own act: its key names the platform that serves it."""
    return api.ok("POST", "/v1/token-holders", HOLDER_KEYS[who],
                  {"participant_id": api.ids[who], "intermediary_id": api.ids["platform"]})


def give_wallet(api: Api, who: str) -> LocalAccount:
    account: LocalAccount = Account.create()
    resp = api.client.patch(f"/v1/participants/{api.ids[who]}", json={"wallet_address": account.address},
                            headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    return account


def make_token_world(api: Api, bridge: Bridge | None, *, onboard: tuple[str, ...] = ("foundation", "company"),
                     licensed: bool = True) -> TokenWorld:
    setup_platform(api, licensed=licensed)
    tw = TokenWorld(api, bridge)
    for who in ("foundation", "company", "other"):
        tw.wallets[who] = give_wallet(api, who)
    for who in onboard:
        onboard_holder(api, who)
    if bridge is not None:
        tw.settle()
    return tw


def leaves(reg: Registry, **where: Any) -> list[dict[str, Any]]:
    c = t.blocks.c
    conds = [c.is_leaf.is_(True)] + [getattr(c, k) == v for k, v in where.items()]
    with reg.store.read() as uow:
        return [dict(r) for r in uow.conn.execute(select(t.blocks).where(*conds)
                                                   .order_by(c.serial_prefix, c.first_kg)).mappings()]


def frozen_lots(reg: Registry) -> list[dict[str, Any]]:
    from sovcarbon.store import token_tables as tt

    with reg.store.read() as uow:
        return [dict(r) for r in uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.frozen.is_(True)))
                .mappings()]
