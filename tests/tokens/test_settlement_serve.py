"""Settlement wired into a served registry (settlement issue, serve wiring): ``Bridge.open(settlement=True)``, as
``serve`` and the ``serve --workers`` leader call it, deploys the cash token and the DvP escrow once (issuer key
from ``cash_issuer_key_file``), records them (deployment file, NR setting, journal), attaches them on every
later start, consumes the escrow's events in the bridge's own cycles, and ``check`` reads the escrow.
Before, a served registry had no escrow: nothing settled against cash outside the tests' own setups."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select
from token_world import ChainBackend, TokenWorld, give_wallet

from sovcarbon.bootstrap import start_bridge
from sovcarbon.bridge import Bridge
from sovcarbon.bridge.chain_check import check_chain
from sovcarbon.bridge.settlement_setup import SETTLEMENT_SETTING, deployment_file
from sovcarbon.chain import BytecodeMismatch, make_op_id
from sovcarbon.config import ConfigError, describe, load_settings
from sovcarbon.services import invariants
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt


def _open(tw: TokenWorld, backend: ChainBackend, cache: Path) -> Bridge:
    return start_bridge(tw.api.reg, chain_url=backend.url or "", bridge_key=backend.bridge_key, cache_dir=cache,
                        settlement=True)


def _kinds(tw: TokenWorld, kind: str) -> int:
    with tw.api.reg.store.read() as uow:
        return len(uow.conn.execute(select(t.journal.c.seq).where(t.journal.c.kind == kind)).all())


def test_a_served_registry_deploys_once_settles_in_its_cycles_and_check_reads_the_escrow(
        tw: TokenWorld, chain_backend: ChainBackend, contract_cache_dir: Path, tmp_path: Path) -> None:
    assert tw.bridge is not None
    reg = tw.api.reg
    issuer = Account.create()
    key_file = tmp_path / "keys" / "issuer.hex"
    key_file.parent.mkdir()
    key_file.write_text(issuer.key.hex() + "\n", encoding="ascii")
    reg.settings = dataclasses.replace(reg.settings, cash_issuer_key_file=key_file)  # SOVCARBON_CASH_ISSUER_KEY_FILE
    tw.bridge.close()
    bridge = _open(tw, chain_backend, contract_cache_dir)
    tw.bridge = bridge
    try:
        consumer = bridge.settlement
        assert consumer is not None and bridge.cash_issuer is not None
        assert bridge.cash_issuer.address == issuer.address
        record = json.loads(deployment_file(reg.settings.data_dir, bridge.chain.chain_id).read_text())
        assert (record["cash_address"], record["escrow_address"]) == (consumer.cash.address, consumer.escrow.address)
        assert bridge.status()["settlement"]["escrow"] == consumer.escrow.address
        assert _kinds(tw, "settlement_contracts_attached") == 1
        token, cash, escrow = bridge.token, consumer.cash, consumer.escrow
        platform = give_wallet(tw.api, "platform")
        tw.wallets["platform"] = platform
        lot = tw.tokenize(3_000)
        tw.settle()
        token.fund_gas(platform.address)
        deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 3600
        from datetime import UTC, datetime

        order = tw.api.ok("POST", "/v1/dvp-orders", "platform", {
            "seller_id": tw.ids["foundation"], "buyer_id": tw.ids["company"], "lot_id": lot["id"],
            "quantity_kg": 3_000, "price_satang_per_t": 30_000,
            "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()})
        dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
        seller, buyer = tw.wallets["foundation"], tw.wallets["company"]
        escrow.create(platform, dvp_id, seller.address, buyer.address, order["chain_lot_id"], 3_000,
                      order["total_satang"], order["deadline_s"])
        token.pledge(seller, order["chain_lot_id"], 3_000, escrow.address)
        escrow.fund_delivery(seller, dvp_id)
        cash.mint(bridge.cash_issuer, make_op_id(uuid.uuid4().hex), buyer.address, order["total_satang"])
        cash.lock(buyer, order["total_satang"], escrow.address)
        escrow.fund_payment(buyer, dvp_id)
        tw.settle()  # the served bridge's own cycles consume the escrow
        assert tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")["status"] == "open"
        assert not invariants.check(reg)  # escrow conservation with the escrow attached: both legs held
    finally:
        bridge.close()
    # check, with the bridge closed: the escrow holds the open DvP's legs
    clean = check_chain(reg, chain_url=chain_backend.url or "", cache_dir=contract_cache_dir)
    assert clean is not None and clean.ok, clean
    assert any(line.startswith(f"OK escrow {escrow.address}") and "90000 satang" in line
               for line in clean.lines), clean.lines

    # a restart attaches the same contracts (no second deployment, no second journal entry), the cursor goes on
    bridge = _open(tw, chain_backend, contract_cache_dir)
    tw.bridge = bridge
    try:
        assert bridge.settlement is not None and bridge.settlement.escrow.address == escrow.address
        assert _kinds(tw, "settlement_contracts_attached") == 1
        token = bridge.token
        settled = bridge.settlement.escrow.settle(platform, dvp_id)
        tw.settle()
        final = tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")
        assert final["status"] == "settled" and final["evidence"]["tx_hash"] == settled.tx_hash
        assert bridge.settlement.cash.balance_of(seller.address) == 90_000
        assert not invariants.check(reg)
        # behind the NR's back: a new DvP funded on chain whose events the NR skips (its cursor moved past them)
        lot2 = tw.tokenize(1_000)
        tw.settle()
        other_id = make_op_id("unrecorded-dvp")
        bridge.settlement.escrow.create(platform, other_id, seller.address, buyer.address, lot2["chain_lot_id"],
                                        1_000, 30_000, deadline_s)
        token.pledge(seller, lot2["chain_lot_id"], 1_000, escrow.address)
        bridge.settlement.escrow.fund_delivery(seller, other_id)
        head = token.block_number()
        tw.settle()  # the bridge consumes the escrow up to its head: the NR has no order for those 1,000 kg
        found = [v.message for v in invariants.check(reg) if v.invariant == "ESCROW"]
        assert any(f"chain lot {lot2['chain_lot_id']}: escrow holds 1000 kg, no open funded leg" in m
                   for m in found), found
    finally:
        bridge.close()
    c = tt.token_event_cursor.c
    with reg.store.write() as uow:
        uow.repo.update(tt.token_event_cursor, [c.contract_address == escrow.address], next_block=head + 1,
                        updated_at=uow.now)
    bad = check_chain(reg, chain_url=chain_backend.url or "", cache_dir=contract_cache_dir)
    assert bad is not None and not bad.ok
    assert any(p.startswith("ESCROW conservation") and f"chain lot {lot2['chain_lot_id']}: escrow holds 1000 kg"
               in p for p in bad.problems), bad.problems
    settings = reg.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env.update(SOVCARBON_DATA_DIR=str(settings.data_dir), SOVCARBON_DATABASE_URL=settings.database_url,
               SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1", SOVCARBON_CASH_ISSUER_KEY_FILE=str(key_file),
               **chain_backend.env())
    failed = subprocess.run([sys.executable, "-m", "sovcarbon.cli", "check"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "ESCROW conservation" in failed.stdout
    with reg.store.read() as uow:
        assert uow.repo.setting(SETTLEMENT_SETTING) == f"{bridge.chain.chain_id}:{cash.address}:{escrow.address}"
    tw.bridge = None


def test_another_issuer_key_is_refused_on_a_recorded_deployment(
        tw: TokenWorld, chain_backend: ChainBackend, contract_cache_dir: Path, tmp_path: Path) -> None:
    assert tw.bridge is not None
    tw.bridge.close()
    bridge = _open(tw, chain_backend, contract_cache_dir)  # demo/tests: the issuer key generated in the data dir
    assert bridge.settlement is not None
    bridge.close()
    other = tmp_path / "other_issuer.hex"
    other.write_text(Account.create().key.hex(), encoding="ascii")
    tw.api.reg.settings = dataclasses.replace(tw.api.reg.settings, cash_issuer_key_file=other)
    with pytest.raises(BytecodeMismatch, match="is not the issuer of cash token"):
        _open(tw, chain_backend, contract_cache_dir)
    tw.bridge = None


def test_the_issuer_key_file_is_validated_and_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOVCARBON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOVCARBON_CASH_ISSUER_KEY_FILE", str(tmp_path / "missing.hex"))
    with pytest.raises(ConfigError, match="SOVCARBON_CASH_ISSUER_KEY_FILE names .* not an existing file"):
        load_settings()
    bad = tmp_path / "bad.hex"
    bad.write_text("not-a-key-but-a-secret\n", encoding="ascii")
    monkeypatch.setenv("SOVCARBON_CASH_ISSUER_KEY_FILE", str(bad))
    with pytest.raises(ConfigError, match="64 hex digits") as refused:
        load_settings()
    assert "not-a-key-but-a-secret" not in str(refused.value)
    good = tmp_path / "issuer.hex"
    key = Account.create().key.hex()
    good.write_text(key + "\n", encoding="ascii")
    monkeypatch.setenv("SOVCARBON_CASH_ISSUER_KEY_FILE", str(good))
    settings = load_settings()
    assert settings.cash_issuer_key_file == good.resolve()
    shown = describe(settings)
    assert shown["cash_issuer_key_file"] == f"{good.resolve()} (key not shown)"
    assert all(key.removeprefix("0x") not in v for v in shown.values())
