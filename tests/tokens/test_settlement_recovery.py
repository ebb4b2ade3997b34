"""DvP leftovers (settlement issue #12 items 2, 3, 5): the CLI order (`sovcarbon dvp create`), the buyer's
fund-and-settle in one transaction recorded by the registry, and a crash at each bridge step that touches a
DvP (the escrow consumer's read, each event applied inside its transaction, the cursor's commit; the carbon
token consumer's mirror of the delivery): after the restart I1-I4 and escrow conservation hold and nothing is
applied or settled twice. Real contracts, real worker processes killed by SOVCARBON_FAULT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from token_world import ChainBackend, TokenWorld, give_wallet, open_bridge

from sovcarbon.bridge.faults import CRASH_EXIT_CODE
from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.chain import ChainRejected, make_op_id
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain, set_next_block_timestamp
from sovcarbon.services import invariants
from sovcarbon.store import settlement_tables as st
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

PRICE_SATANG_PER_T = 25_000


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
    return lot, platform, SettlementConsumer(tw.api.reg, escrow, cash, token.block_number()), issuer


def _cli_env(tw: TokenWorld, api_key: str | None) -> dict[str, str]:
    settings = tw.api.reg.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env.update(SOVCARBON_DATA_DIR=str(settings.data_dir), SOVCARBON_DATABASE_URL=settings.database_url,
               SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1")
    if api_key is not None:
        env["SOVCARBON_API_KEY"] = api_key
    return env


def _cli(tw: TokenWorld, api_key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sovcarbon.cli", "dvp", "create", *args],
                          env=_cli_env(tw, api_key), capture_output=True, text=True, timeout=120)


def _head(tw: TokenWorld) -> int:
    seq: int = tw.api.ok("GET", "/v1/journal/head", None)["seq"]
    return seq


def _journal_kinds(tw: TokenWorld) -> list[str]:
    with tw.api.reg.store.read() as uow:
        return [str(k) for k in uow.conn.execute(select(t.journal.c.kind).order_by(t.journal.c.seq)).scalars()
                if str(k).startswith("dvp_")]


def test_cli_orders_a_dvp_and_the_buyer_funds_and_settles_in_one_transaction(tw: TokenWorld) -> None:
    lot, platform, consumer, issuer = _setup(tw, 4_000)
    escrow, token, cash = consumer.escrow, consumer.escrow.token, consumer.cash
    deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 3600
    terms = ["--seller", tw.ids["foundation"], "--buyer", tw.ids["company"], "--lot", lot["id"], "--kg", "4000",
             "--price-satang-per-t", str(PRICE_SATANG_PER_T),
             "--deadline", datetime.fromtimestamp(deadline_s, UTC).isoformat()]
    before = _head(tw)
    no_key = _cli(tw, None, *terms)
    assert no_key.returncode == 2 and "SOVCARBON_API_KEY" in no_key.stderr, no_key.stderr
    holder = _cli(tw, tw.api.keys["company"], *terms)  # a holder is not an intermediary
    assert holder.returncode == 1 and json.loads(holder.stderr)["code"] == 1002, holder.stderr
    unknown = _cli(tw, "sk_not_a_key", *terms)
    assert unknown.returncode == 1 and json.loads(unknown.stderr)["code"] == 1001, unknown.stderr
    fraction = _cli(tw, tw.api.keys["platform"], *terms[:-5], "--price-satang-per-t", "25.5",
                    "--deadline", terms[-1])
    assert fraction.returncode == 2, fraction.stderr  # integer satang only
    naive = _cli(tw, tw.api.keys["platform"], *terms[:-1], "2026-06-16T12:00:00")  # no UTC offset
    assert naive.returncode == 2 and "1003" in naive.stderr, naive.stderr
    past = _cli(tw, tw.api.keys["platform"], *terms[:-1], "2020-01-01T00:00:00+00:00")
    assert past.returncode == 1, past.stderr
    assert _head(tw) == before  # every refusal wrote nothing
    made = _cli(tw, tw.api.keys["platform"], *terms, "--idempotency-key", "cli-dvp-1")
    assert made.returncode == 0, made.stderr
    order = json.loads(made.stdout)
    assert order["status"] == "ordered" and order["total_satang"] == 100_000 and order["chain_dvp_id"].startswith("0x")
    replay = _cli(tw, tw.api.keys["platform"], *terms, "--idempotency-key", "cli-dvp-1")
    assert replay.returncode == 0 and json.loads(replay.stdout)["id"] == order["id"]
    assert tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")["operator_id"] == tw.ids["platform"]

    # the chain side with the CLI's terms; the buyer's last leg settles in the same transaction
    dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
    seller, buyer = tw.wallets["foundation"], tw.wallets["company"]
    escrow.create(platform, dvp_id, seller.address, buyer.address, order["chain_lot_id"], order["quantity_kg"],
                  order["total_satang"], order["deadline_s"])
    token.pledge(seller, order["chain_lot_id"], 4_000, escrow.address)
    escrow.fund_delivery(seller, dvp_id)
    cash.mint(issuer, make_op_id(uuid.uuid4().hex), buyer.address, order["total_satang"])
    cash.lock(buyer, order["total_satang"], escrow.address)
    settled = escrow.fund_payment_and_settle(buyer, dvp_id)
    assert consumer.run_until_idle() == 4  # created, delivery funded, payment funded + settled (one tx)
    final = tw.api.ok("GET", f"/v1/dvp-orders/{order['id']}", "regulator")
    assert final["status"] == "settled" and final["evidence"]["tx_hash"] == settled.tx_hash
    assert not final["delivery_funded"] and not final["payment_funded"]
    assert _journal_kinds(tw) == ["dvp_ordered", "dvp_opened", "dvp_leg_funded", "dvp_leg_funded", "dvp_settled"]
    assert consumer.conservation() == []
    tw.settle()
    assert token.balance_of(buyer.address, order["chain_lot_id"]) == 4_000


# (fault, how the DvP ends): every bridge step a DvP passes through, each killed once
CRASH_POINTS = [
    ("after_escrow_events_read", "settle"),
    ("after_escrow_event_applied:DvpCreated", "settle"),
    ("after_escrow_event_applied:DeliveryFunded", "settle"),
    ("after_escrow_event_applied:PaymentFunded", "settle"),
    ("after_escrow_event_applied:DvpSettled", "settle"),
    ("after_escrow_cursor_saved", "settle"),
    ("after_events_read", "settle"),  # the carbon token consumer, the delivery's TransferSingle in range
    ("after_event_applied:TransferSingle", "settle"),
    ("after_cursor_saved", "settle"),
    ("after_escrow_event_applied:DvpCancelled", "cancel"),
    ("after_escrow_event_applied:DvpExpired", "expire"),
]


@pytest.mark.parametrize("fault, ending", CRASH_POINTS, ids=[f"{f}-{e}" for f, e in CRASH_POINTS])
def test_a_crash_at_each_dvp_bridge_step_recovers_without_settling_twice(
        tw: TokenWorld, chain_backend: ChainBackend, contract_cache_dir: Path, fault: str, ending: str) -> None:
    lot, platform, consumer, issuer = _setup(tw, 2_000)
    reg, escrow, token, cash = tw.api.reg, consumer.escrow, consumer.escrow.token, consumer.cash
    deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 3600
    body = {"seller_id": tw.ids["foundation"], "buyer_id": tw.ids["company"], "lot_id": lot["id"],
            "quantity_kg": 2_000, "price_satang_per_t": PRICE_SATANG_PER_T,
            "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()}
    order = tw.api.ok("POST", "/v1/dvp-orders", "platform", body)
    dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
    seller, buyer = tw.wallets["foundation"], tw.wallets["company"]
    chain_lot = order["chain_lot_id"]
    escrow.create(platform, dvp_id, seller.address, buyer.address, chain_lot, 2_000, order["total_satang"],
                  deadline_s)
    token.pledge(seller, chain_lot, 2_000, escrow.address)
    escrow.fund_delivery(seller, dvp_id)
    cash.mint(issuer, make_op_id(uuid.uuid4().hex), buyer.address, order["total_satang"])
    cash.lock(buyer, order["total_satang"], escrow.address)
    if ending == "settle":
        escrow.fund_payment_and_settle(buyer, dvp_id)
    else:
        escrow.fund_payment(buyer, dvp_id)
        if ending == "cancel":
            escrow.cancel(platform, dvp_id)
        else:
            set_next_block_timestamp(token, deadline_s)
            escrow.expire(platform, dvp_id)
    assert tw.bridge is not None
    tw.bridge.close()  # the worker processes own the chain from here on; nothing of the DvP consumed yet
    worker = Path(__file__).with_name("settlement_crash_worker.py")
    argv = [sys.executable, str(worker), str(reg.settings.data_dir), reg.settings.database_url,
            str(contract_cache_dir), escrow.address, cash.address, str(consumer.start_block)]

    def run(with_fault: str | None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **chain_backend.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
        env.pop("SOVCARBON_FAULT", None)
        if with_fault:
            env["SOVCARBON_FAULT"] = with_fault
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)

    crashed = run(fault)
    assert crashed.returncode == CRASH_EXIT_CODE, (fault, crashed.returncode, crashed.stderr[-3000:])
    assert f"injected crash at {fault.split(':')[0]}" in crashed.stderr
    # between the crash and the restart the registry alone is consistent (I1-I3, its side of I4 and ESCROW)
    assert not invariants.check(reg), (fault, invariants.check(reg))
    recovered = run(None)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    again = run(None)  # a second restart over the same chain applies nothing
    assert again.returncode == 0, again.stderr[-3000:]
    assert not any(json.loads(again.stdout.strip().splitlines()[-1]).values()), again.stdout

    end_kind = {"settle": "dvp_settled", "cancel": "dvp_cancelled", "expire": "dvp_expired"}[ending]
    assert _journal_kinds(tw) == ["dvp_ordered", "dvp_opened", "dvp_leg_funded", "dvp_leg_funded", end_kind]
    with reg.store.read() as uow:
        applied = uow.conn.execute(select(func.count()).select_from(st.dvp_events)).scalar()
        final = uow.conn.execute(select(st.dvp_orders).where(st.dvp_orders.c.id == order["id"])).mappings().one()
        c = tt.token_balances.c
        held = {str(a): int(kg) for a, kg in uow.conn.execute(
            select(c.address, c.balance_kg).where(c.chain_lot_id == chain_lot))}
    assert applied == 4, applied  # created, two legs, the end: each (tx hash, log index) once
    assert final["status"] == {"settle": "settled", "cancel": "cancelled", "expire": "expired"}[ending]
    assert not final["delivery_funded"] and not final["payment_funded"]
    delivered = 2_000 if ending == "settle" else 0
    assert held.get(buyer.address.lower(), 0) == delivered, held  # the delivery mirrored once
    assert held.get(seller.address.lower(), 0) == 2_000 - delivered, held

    bridge = open_bridge(reg, chain_backend, contract_cache_dir)  # the chain again, in this process
    try:
        escrow_again = DvpEscrowChain(bridge.token, cache_dir=contract_cache_dir)
        escrow_again.load(escrow.address)
        cash_again = CashTokenChain(bridge.token, cache_dir=contract_cache_dir)
        cash_again.load(cash.address)
        attached = SettlementConsumer(reg, escrow_again, cash_again, consumer.start_block)
        bridge.attach_settlement(attached)
        assert not any(bridge.run_until_idle().values()), "the restarted workers left work undone"
        assert not invariants.check(reg), invariants.check(reg)  # I1-I4 and ESCROW, chain attached
        assert attached.conservation() == []
        assert bridge.token.balance_of(buyer.address, chain_lot) == delivered
        assert cash_again.balance_of(seller.address) == (order["total_satang"] if ending == "settle" else 0)
        assert escrow_again.state(dvp_id).status in (2, 3, 4)
    finally:
        bridge.close()


def test_an_order_never_created_on_the_escrow_lapses_at_its_deadline(tw: TokenWorld) -> None:
    """The escrow refuses to create a DvP at or after its deadline (7005) and block times never go back: once
    the block the registry consumed is at the deadline, an order with no DvpCreated closes as expired (7005,
    journal dvp_lapsed, the block as evidence); an order created on the escrow waits for the chain's expiry."""
    lot, platform, consumer, issuer = _setup(tw, 3_000)
    escrow, token = consumer.escrow, consumer.escrow.token
    deadline_s = int(token.w3.eth.get_block("latest")["timestamp"]) + 120
    body = {"seller_id": tw.ids["foundation"], "buyer_id": tw.ids["company"], "lot_id": lot["id"],
            "quantity_kg": 1_000, "price_satang_per_t": PRICE_SATANG_PER_T,
            "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()}
    never = tw.api.ok("POST", "/v1/dvp-orders", "platform", body)
    created = tw.api.ok("POST", "/v1/dvp-orders", "platform", body)
    seller, buyer = tw.wallets["foundation"], tw.wallets["company"]
    escrow.create(platform, bytes.fromhex(created["chain_dvp_id"][2:]), seller.address, buyer.address,
                  created["chain_lot_id"], 1_000, created["total_satang"], deadline_s)
    set_next_block_timestamp(token, deadline_s - 1)
    token.fund_gas(platform.address)  # a block one second before the deadline: nothing lapses
    assert int(token.w3.eth.get_block("latest")["timestamp"]) == deadline_s - 1
    consumer.run_until_idle()
    assert tw.api.ok("GET", f"/v1/dvp-orders/{never['id']}", "regulator")["status"] == "ordered"
    set_next_block_timestamp(token, deadline_s)
    with pytest.raises(ChainRejected) as refused:
        escrow.create(platform, bytes.fromhex(never["chain_dvp_id"][2:]), seller.address, buyer.address,
                      never["chain_lot_id"], 1_000, never["total_satang"], deadline_s)
    assert refused.value.code == 7005  # the intermediary's create at the deadline: refused by the escrow
    assert consumer.run_until_idle() == 1  # the lapse
    lapsed = tw.api.ok("GET", f"/v1/dvp-orders/{never['id']}", "regulator")
    assert lapsed["status"] == "expired" and lapsed["code"] == 7005 and lapsed["evidence"] is None
    assert lapsed["detail"]["lapsed"]["block_time_s"] >= deadline_s
    assert tw.api.ok("GET", f"/v1/dvp-orders/{created['id']}", "regulator")["status"] == "open"
    assert _journal_kinds(tw).count("dvp_lapsed") == 1
    token.fund_gas(platform.address)
    assert consumer.run_until_idle() == 0  # once
    with tw.api.reg.store.read() as uow:
        assert uow.conn.execute(select(func.count()).select_from(st.dvp_orders)
                                .where(st.dvp_orders.c.status == "expired")).scalar() == 1
    assert invariants.check(tw.api.reg) == [] and consumer.conservation() == []
