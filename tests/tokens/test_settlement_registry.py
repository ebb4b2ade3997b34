"""The registry side of DvP (settlement issue, item 2-3): orders over HTTP by licensed intermediaries, the
escrow's events consumed exactly once, settlement / cancellation / expiry (7005) recorded with chain evidence
(tx hash, log index) and a journal entry, visible to the regulator, and escrow conservation (what the escrow
holds = the funded legs of the open DvPs the registry recorded). Real contracts on the test's chain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from token_world import TokenWorld, give_wallet
from world import error_code

from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.chain import make_op_id
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain, set_next_block_timestamp
from sovcarbon.store import settlement_tables as st
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

PRICE_SATANG_PER_T = 25_000  # 250 THB per tonne


def _setup(tw: TokenWorld, kg: int) -> tuple[dict[str, Any], LocalAccount, SettlementConsumer, LocalAccount]:
    assert tw.bridge is not None
    token = tw.bridge.token
    platform = give_wallet(tw.api, "platform")  # the intermediary signs its own escrow calls
    tw.wallets["platform"] = platform
    lot = tw.tokenize(kg)
    tw.settle()
    token.fund_gas(platform.address)
    issuer: LocalAccount = Account.create()
    cash = CashTokenChain(token)
    cash.deploy_cash(issuer)
    escrow = DvpEscrowChain(token)
    escrow.deploy_escrow(issuer, cash.address)
    consumer = SettlementConsumer(tw.api.reg, escrow, cash, token.block_number())
    return lot, platform, consumer, issuer


def _order(tw: TokenWorld, lot: dict[str, Any], kg: int, deadline_s: int, who: str = "platform",
           price_satang_per_t: int = PRICE_SATANG_PER_T) -> Any:
    body = {"seller_id": tw.ids["foundation"], "buyer_id": tw.ids["company"], "lot_id": lot["id"],
            "quantity_kg": kg, "price_satang_per_t": price_satang_per_t,
            "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()}
    return tw.api.post("/v1/dvp-orders", who, body)


def _fund(tw: TokenWorld, consumer: SettlementConsumer, issuer: LocalAccount, order: dict[str, Any],
          platform: LocalAccount) -> bytes:
    escrow, cash, token = consumer.escrow, consumer.cash, consumer.escrow.token
    dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
    seller, buyer = tw.wallets["foundation"], tw.wallets["company"]
    escrow.create(platform, dvp_id, seller.address, buyer.address, order["chain_lot_id"], order["quantity_kg"],
                  order["total_satang"], order["deadline_s"])
    token.pledge(seller, order["chain_lot_id"], order["quantity_kg"], escrow.address)
    escrow.fund_delivery(seller, dvp_id)
    cash.mint(issuer, make_op_id(uuid.uuid4().hex), buyer.address, order["total_satang"])
    cash.lock(buyer, order["total_satang"], escrow.address)
    escrow.fund_payment(buyer, dvp_id)
    return dvp_id


def _journal_kinds(tw: TokenWorld) -> list[str]:
    with tw.api.reg.store.read() as uow:
        return [str(k) for k in uow.conn.execute(select(t.journal.c.kind).order_by(t.journal.c.seq)).scalars()
                if str(k).startswith("dvp_")]


def test_dvp_order_settles_and_is_recorded_once_with_chain_evidence(tw: TokenWorld) -> None:
    lot, platform, consumer, issuer = _setup(tw, 10_000)
    api, token, escrow = tw.api, consumer.escrow.token, consumer.escrow
    deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 3600
    assert error_code(_order(tw, lot, 10_000, deadline_s, who="company")) == 1002  # a holder cannot order
    # 1 kg x 25,001 satang/t = 25.001 satang: no fraction of money, ever
    assert error_code(_order(tw, lot, 1, deadline_s, price_satang_per_t=25_001)) == 1003
    resp = _order(tw, lot, 10_000, deadline_s)
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "ordered" and order["total_satang"] == 250_000
    dvp_id = _fund(tw, consumer, issuer, order, platform)
    assert consumer.run_until_idle() == 3  # created, delivery funded, payment funded
    seen = api.ok("GET", f"/v1/dvp-orders/{order['id']}", "platform")
    assert seen["status"] == "open" and seen["delivery_funded"] and seen["payment_funded"]
    assert consumer.conservation() == []
    settled = escrow.settle(platform, dvp_id)
    assert consumer.consume() == 1
    assert consumer.consume() == 0  # exactly once: a second read applies nothing
    # the same events once more (a crash after the commit re-reading the range): nothing applied twice
    with api.reg.store.write() as uow:
        uow.repo.update(tt.token_event_cursor, [tt.token_event_cursor.c.contract_address == escrow.address],
                        next_block=consumer.start_block, updated_at=uow.now)
    assert consumer.run_until_idle() == 0
    final = api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")  # the regulator sees it
    assert final["status"] == "settled" and final["evidence"]["tx_hash"] == settled.tx_hash
    assert final["evidence"]["block_number"] == settled.block_number and final["evidence"]["log_index"] >= 0
    assert not final["delivery_funded"] and not final["payment_funded"]
    assert _journal_kinds(tw) == ["dvp_ordered", "dvp_opened", "dvp_leg_funded", "dvp_leg_funded", "dvp_settled"]
    assert token.balance_of(tw.address("company"), lot["chain_lot_id"]) == 10_000
    assert consumer.cash.balance_of(tw.address("foundation")) == 250_000
    tw.settle()  # the carbon token's TransferSingle (seller -> buyer) reaches the NR's token balances
    with api.reg.store.read() as uow:
        c = tt.token_balances.c
        held = uow.conn.execute(select(c.balance_kg).where(c.chain_lot_id == lot["chain_lot_id"],
                                                           c.address == tw.address("company").lower())).scalar()
    assert held == 10_000
    assert consumer.conservation() == []
    other = api.get(f"/v1/dvp-orders/{order['id']}", "other")
    assert other.status_code == 404 and error_code(other) == 1005  # not a party: not visible


def test_expired_dvp_is_recorded_with_7005_and_both_legs_refunded(tw: TokenWorld) -> None:
    lot, platform, consumer, issuer = _setup(tw, 2_000)
    token, escrow = consumer.escrow.token, consumer.escrow
    deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 120
    order = _order(tw, lot, 2_000, deadline_s).json()
    dvp_id = _fund(tw, consumer, issuer, order, platform)
    consumer.run_until_idle()
    set_next_block_timestamp(token, deadline_s)  # at the deadline: settlement is refused, expiry allowed
    expired = escrow.expire(platform, dvp_id)
    assert consumer.run_until_idle() == 1
    final = tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")
    assert final["status"] == "expired" and final["code"] == 7005
    assert final["evidence"]["tx_hash"] == expired.tx_hash
    assert token.balance_of(tw.address("foundation"), lot["chain_lot_id"]) == 2_000
    assert token.pledged_total(tw.address("foundation"), lot["chain_lot_id"]) == 0
    assert consumer.cash.free_balance_of(tw.address("company")) == order["total_satang"]
    assert consumer.conservation() == []
    assert _journal_kinds(tw)[-1] == "dvp_expired"
    # the CLI on the registry host shows it too
    import json
    import os
    import subprocess
    import sys

    settings = tw.api.reg.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env.update(SOVCARBON_DATA_DIR=str(settings.data_dir), SOVCARBON_DATABASE_URL=settings.database_url,
               SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1")
    listed = subprocess.run([sys.executable, "-m", "sovcarbon.cli", "dvp", "list", "--status", "expired"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [(o["id"], o["code"]) for o in json.loads(listed.stdout)] == [(order["id"], 7005)]


def test_the_bridge_consumes_the_escrow_in_its_cycles(tw: TokenWorld) -> None:
    lot, platform, consumer, issuer = _setup(tw, 1_000)
    assert tw.bridge is not None
    tw.bridge.attach_settlement(consumer)
    deadline_s = int(consumer.escrow.token.w3.eth.get_block("latest")["timestamp"]) + 3600
    order = _order(tw, lot, 1_000, deadline_s).json()
    dvp_id = _fund(tw, consumer, issuer, order, platform)
    consumer.escrow.settle(platform, dvp_id)
    tw.settle()  # the bridge's own cycle, no explicit consume
    assert tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")["status"] == "settled"
    assert consumer.conservation() == []


def test_killed_while_applying_escrow_events_a_restart_applies_each_once(
        tw: TokenWorld, chain_backend: Any, contract_cache_dir: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sovcarbon.bridge.faults import CRASH_EXIT_CODE

    lot, platform, consumer, issuer = _setup(tw, 1_000)
    reg = tw.api.reg
    deadline_s = int(consumer.escrow.token.w3.eth.get_block("latest")["timestamp"]) + 3600
    order = _order(tw, lot, 1_000, deadline_s).json()
    dvp_id = _fund(tw, consumer, issuer, order, platform)
    consumer.escrow.settle(platform, dvp_id)
    assert tw.bridge is not None
    tw.bridge.run_until_idle()
    tw.bridge.close()  # the worker processes own the chain from here on
    worker = Path(__file__).with_name("settlement_crash_worker.py")
    argv = [sys.executable, str(worker), str(reg.settings.data_dir), reg.settings.database_url,
            str(contract_cache_dir), consumer.escrow.address, consumer.cash.address, str(consumer.start_block)]

    def run(fault: str | None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **chain_backend.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
        env.pop("SOVCARBON_FAULT", None)
        if fault:
            env["SOVCARBON_FAULT"] = fault
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, check=False)

    def status() -> str:
        with reg.store.read() as uow:
            return str(uow.conn.execute(select(st.dvp_orders.c.status)
                                        .where(st.dvp_orders.c.id == order["id"])).scalar())

    crashed = run("after_escrow_event_applied:DvpSettled")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-3000:]
    assert status() == "ordered" and _journal_kinds(tw) == ["dvp_ordered"]  # nothing of the range committed
    crashed = run("after_escrow_cursor_saved")
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-3000:]
    assert status() == "settled"
    recovered = run(None)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    assert _journal_kinds(tw) == ["dvp_ordered", "dvp_opened", "dvp_leg_funded", "dvp_leg_funded", "dvp_settled"]
    with reg.store.read() as uow:
        assert len(list(uow.conn.execute(select(st.dvp_events.c.name)))) == 4


@pytest.mark.tampers
def test_the_shared_checker_holds_escrow_conservation(tw: TokenWorld) -> None:
    """ESCROW in the shared checker: with the escrow attached, what it holds at the consumed block equals the
    funded legs of the open orders; a final order holds no leg; evidence is an applied event of the order."""
    from sovcarbon.services import invariants

    lot, platform, consumer, issuer = _setup(tw, 1_000)
    assert tw.bridge is not None
    reg = tw.api.reg
    tw.bridge.attach_settlement(consumer)
    deadline_s = int(consumer.escrow.token.w3.eth.get_block("latest")["timestamp"]) + 3600
    order = _order(tw, lot, 1_000, deadline_s).json()
    dvp_id = _fund(tw, consumer, issuer, order, platform)
    tw.settle()
    assert invariants.check(reg) == []  # open, both legs funded: the escrow holds exactly them
    where = [st.dvp_orders.c.id == order["id"]]
    with reg.store.write() as uow:  # the registry loses the delivery leg
        uow.repo.update(st.dvp_orders, where, delivery_funded=0)
    messages = [v.message for v in invariants.check(reg) if v.invariant == "ESCROW"]
    assert messages == [f"escrow conservation: chain lot {lot['chain_lot_id']}: escrow holds 1000 kg, "
                        "no open funded leg"], messages
    with reg.store.write() as uow:
        uow.repo.update(st.dvp_orders, where, delivery_funded=1)
    consumer.escrow.settle(platform, dvp_id)
    tw.settle()
    assert invariants.check(reg) == []
    with reg.store.write() as uow:  # a settled order that still claims a funded leg
        uow.repo.update(st.dvp_orders, where, payment_funded=1)
    messages = [v.message for v in invariants.check(reg) if v.invariant == "ESCROW"]
    assert f"DvP order {order['id']} is settled but holds a funded leg" in messages, messages
    tw.bridge.close()
