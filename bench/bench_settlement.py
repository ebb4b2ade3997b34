"""Settlement benchmarks (settlement issue), on the embedded chain and a SQLite registry, in one run:

1. DvP end-to-end latency, order -> settled in the registry: the order (registry), the escrow's create,
   the seller's pledge + funding, the buyer's lock, the buyer's funding and settlement in one transaction
   (``fund_payment_and_settle``), and the registry consuming the escrow's events until the order reads
   "settled". p50 and p99. Goal: p50 < 1 s.
2. Settlements per second beside raw token transfers per second on the same chain: whole DvPs with a pledge
   and a lock per DvP (five transactions: create, pledge, fund_delivery, lock, fund_payment_and_settle),
   whole DvPs from a standing pledge and lock to the escrow (three: create, fund_delivery,
   fund_payment_and_settle; the seller pledged its inventory and the buyer locked its cash once, before),
   and the settle step alone (one transaction + its registry record), against one holder-signed token
   transfer (measured before and after the DvPs; the baseline is their mean). Goal: settlements/s >= 0.5 x
   transfers/s.

Usage: python -m bench.bench_settlement [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bench.bench_bridge import _world
from bench.bench_core import build_registry, run_cmd
from sovcarbon.bootstrap import start_bridge
from sovcarbon.bridge import Bridge
from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.chain import make_op_id
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import participants, settlement, token_identity, tokenization
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.requests import ParticipantIn, ParticipantUpdate
from sovcarbon.services.token_requests import TokenHolderIn, TokenizationIn

GOAL_P50_S = 1.0
STEPS = ("order (registry)", "create tx", "fund_delivery tx", "fund_payment_and_settle tx",
         "registry records the 4 events")
PRICE_SATANG_PER_T = 25_000
TRADE_KG = 1_000


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _setup(reg: Any, bridge: Bridge, samples: int) -> dict[str, Any]:
    platform_actor, holder_actor, holder_acc, _custody, seller = _world(reg, bridge)
    platform_key: LocalAccount = Account.create()
    run_cmd(reg, lambda uow: participants.update_participant(reg, uow, SYSTEM_ACTOR, platform_actor.participant_id,
                                                             ParticipantUpdate(wallet_address=platform_key.address)))
    buyer_key: LocalAccount = Account.create()
    buyer = run_cmd(reg, lambda uow: participants.create_participant(reg, uow, SYSTEM_ACTOR, ParticipantIn(
        name="bench buyer", kind="company", country="TH", kyc_status="verified", wallet_address=buyer_key.address)))
    buyer_actor = Actor("key_bench_buyer", Role.HOLDER, buyer["id"], "bench buyer")
    run_cmd(reg, lambda uow: token_identity.onboard_holder(reg, uow, buyer_actor, TokenHolderIn(
        participant_id=buyer["id"], intermediary_id=platform_actor.participant_id)))
    lot = run_cmd(reg, lambda uow: tokenization.tokenize(reg, uow, holder_actor, TokenizationIn(
        holder_account_id=holder_acc, quantity_kg=(4 * samples + 10) * TRADE_KG)))
    bridge.run_until_idle()
    token = bridge.token
    for key in (platform_key, buyer_key, seller):
        token.fund_gas(key.address, 10**18)
    issuer: LocalAccount = Account.create()
    cash = CashTokenChain(token)
    cash.deploy_cash(issuer)
    escrow = DvpEscrowChain(token)
    escrow.deploy_escrow(issuer, cash.address)
    cash.mint(issuer, make_op_id(uuid.uuid4().hex), buyer_key.address, 10**12)
    consumer = SettlementConsumer(reg, escrow, cash, token.block_number())
    return {"platform": platform_actor, "platform_key": platform_key, "seller": seller, "seller_id":
            holder_actor.participant_id, "buyer": buyer_key, "buyer_id": buyer["id"], "lot": lot,
            "consumer": consumer, "token": token, "escrow": escrow, "cash": cash}


def _order(reg: Any, w: dict[str, Any]) -> dict[str, Any]:
    deadline_s = int(w["token"].w3.eth.get_block("latest")["timestamp"]) + 3600
    req = settlement.DvpOrderIn(seller_id=w["seller_id"], buyer_id=w["buyer_id"], lot_id=w["lot"]["id"],
                                quantity_kg=TRADE_KG, price_satang_per_t=PRICE_SATANG_PER_T,
                                deadline_at=datetime.fromtimestamp(deadline_s, UTC))
    return run_cmd(reg, lambda uow: settlement.create_order(uow, w["platform"], req))


def _fund(w: dict[str, Any], order: dict[str, Any], *, settle: bool = False, standing: bool = False) -> bytes:
    """Create the DvP and fund both legs (``settle``: the buyer's funding settles in the same transaction;
    ``standing``: the seller's pledge and the buyer's lock to the escrow were made before, for many DvPs)."""
    escrow, token, cash = w["escrow"], w["token"], w["cash"]
    dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
    escrow.create(w["platform_key"], dvp_id, w["seller"].address, w["buyer"].address, order["chain_lot_id"],
                  TRADE_KG, order["total_satang"], order["deadline_s"])
    if not standing:
        token.pledge(w["seller"], order["chain_lot_id"], TRADE_KG, escrow.address)
    escrow.fund_delivery(w["seller"], dvp_id)
    if not standing:
        cash.lock(w["buyer"], order["total_satang"], escrow.address)
    if settle:
        escrow.fund_payment_and_settle(w["buyer"], dvp_id)
    else:
        escrow.fund_payment(w["buyer"], dvp_id)
    return dvp_id


def _transfers_per_s(w: dict[str, Any], samples: int) -> float:
    """Raw token transfers on the same chain, holder-signed, one receipt each."""
    token, chain_lot = w["token"], w["lot"]["chain_lot_id"]
    t0 = time.perf_counter()
    for _ in range(samples):
        token.transfer(w["seller"], w["buyer"].address, chain_lot, 1)
    return samples / (time.perf_counter() - t0)


def _settled(reg: Any, w: dict[str, Any], order_id: str) -> None:
    while True:
        w["consumer"].consume()
        with reg.store.read() as uow:
            if settlement.get_order(uow, SYSTEM_ACTOR, order_id)["status"] == "settled":
                return


def run(quick: bool = False) -> list[dict[str, Any]]:
    samples = 10 if quick else 50
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "settlement"
        reg = build_registry(f"sqlite:///{data_dir / 'bench.sqlite'}", data_dir)
        bridge = start_bridge(reg, chain_url="", cache_dir=Path(tmp) / "contracts-cache")
        try:
            w = _setup(reg, bridge, samples)
            transfers_before = _transfers_per_s(w, samples)
            latency_s: list[float] = []
            start_all = time.perf_counter()
            for _ in range(samples):
                t0 = time.perf_counter()
                order = _order(reg, w)
                _fund(w, order, settle=True)
                _settled(reg, w, order["id"])
                latency_s.append(time.perf_counter() - t0)
            dvps_per_s = samples / (time.perf_counter() - start_all)
            # standing pledge and lock (untimed, once), then three transactions per DvP
            w["token"].pledge(w["seller"], w["lot"]["chain_lot_id"], samples * TRADE_KG, w["escrow"].address)
            w["cash"].lock(w["buyer"], samples * TRADE_KG * PRICE_SATANG_PER_T // 1000, w["escrow"].address)
            steps: dict[str, list[float]] = {k: [] for k in STEPS}
            start_all = time.perf_counter()
            for _ in range(samples):
                marks = [time.perf_counter()]
                order = _order(reg, w)
                marks.append(time.perf_counter())
                dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
                w["escrow"].create(w["platform_key"], dvp_id, w["seller"].address, w["buyer"].address,
                                   order["chain_lot_id"], TRADE_KG, order["total_satang"], order["deadline_s"])
                marks.append(time.perf_counter())
                w["escrow"].fund_delivery(w["seller"], dvp_id)
                marks.append(time.perf_counter())
                w["escrow"].fund_payment_and_settle(w["buyer"], dvp_id)
                marks.append(time.perf_counter())
                _settled(reg, w, order["id"])
                marks.append(time.perf_counter())
                for name, t_start, t_end in zip(STEPS, marks, marks[1:], strict=False):
                    steps[name].append(t_end - t_start)
            standing_per_s = samples / (time.perf_counter() - start_all)
            one_transfer = []
            for _ in range(samples):
                t0 = time.perf_counter()
                w["token"].transfer(w["seller"], w["buyer"].address, w["lot"]["chain_lot_id"], 1)
                one_transfer.append(time.perf_counter() - t0)
            # the settle step alone: funded DvPs prepared first, then settled and recorded one by one
            funded = []
            for _ in range(samples):
                order = _order(reg, w)
                funded.append((order["id"], _fund(w, order)))
            w["consumer"].consume()
            t0 = time.perf_counter()
            for order_id, dvp_id in funded:
                w["escrow"].settle(w["platform_key"], dvp_id)
                _settled(reg, w, order_id)
            settles_per_s = samples / (time.perf_counter() - t0)
            transfers_after = _transfers_per_s(w, samples)
            transfers_per_s = (transfers_before + transfers_after) / 2
            problems = w["consumer"].conservation()
        finally:
            bridge.close()
            reg.store.dispose()
    p50, p99 = statistics.median(latency_s), _p(latency_s, 0.99)
    rows.append({"benchmark": "DvP order -> settled in the registry, p50 (embedded, SQLite)",
                 "figure": round(p50 * 1000, 1), "unit": "ms", "baseline": f"p99 {p99 * 1000:.1f} ms",
                 "ratio": "", "goal": f"p50 < {GOAL_P50_S * 1000:.0f} ms; {samples} samples"})
    raw = f"raw token transfers {transfers_per_s:.1f}/s (before {transfers_before:.1f}, after {transfers_after:.1f})"
    rows.append({"benchmark": "whole DvPs per second, pledge + lock per DvP (5 tx + registry record each)",
                 "figure": round(dvps_per_s, 2), "unit": "/s", "baseline": raw,
                 "ratio": round(dvps_per_s / transfers_per_s, 2), "goal": ">= 0.5 x transfers/s"})
    rows.append({"benchmark": "whole DvPs per second, standing pledge + lock (3 tx + registry record each)",
                 "figure": round(standing_per_s, 2), "unit": "/s", "baseline": raw,
                 "ratio": round(standing_per_s / transfers_per_s, 2), "goal": ">= 0.5 x transfers/s"})
    where = ", ".join(f"{name} {statistics.median(v) * 1000:.0f} ms" for name, v in steps.items())
    rows.append({"benchmark": "where a standing-pledge DvP's time goes (medians)", "figure": round(
        sum(statistics.median(v) for v in steps.values()) * 1000, 1), "unit": "ms",
        "baseline": f"one raw transfer {statistics.median(one_transfer) * 1000:.0f} ms", "ratio": "",
        "goal": where})
    rows.append({"benchmark": "settle step per second (settle tx + registry record)", "figure": round(settles_per_s, 1),
                 "unit": "/s", "baseline": raw,
                 "ratio": round(settles_per_s / transfers_per_s, 2),
                 "goal": f">= 0.5 x transfers/s; escrow conservation {problems if problems else 'OK'}"})
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
