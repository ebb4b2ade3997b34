"""Delivery versus payment: the registry's rules for DvP orders and for the escrow's events.

| rule | code |
|---|---|
| only a licensed intermediary (active, licence, on-chain address) orders a DvP | 1002 / 5005 |
| seller and buyer: KYC-verified, active, with a wallet | 5004 |
| seller and buyer differ | 3005 |
| quantity a positive integer kg; price a positive integer satang per tonne | 2003 |
| the total is a whole number of satang (kg x satang/t divisible by 1,000): no fraction of money | 1003 |
| the deadline is in the future (and within a year) | 1003 |
| the lot exists, is minted and not frozen | 7003 / 4006 |
| an escrow event moves an order only along ordered -> open -> settled / cancelled / expired | 1008 |
| a DvPCreated whose terms differ from the order is not taken as the order's (the order is rejected) | 1003 |
| an expired DvP refunds both legs and is recorded with 7005 | 7005 |
| an order never created on the escrow closes as expired once the consumed block's time reaches its deadline | 7005 |

Invariant ESCROW (``check_escrow``, in the shared checker): a final order holds no funded leg; only an open
order has funded legs; every order's chain evidence is an applied escrow event of that order; and, when the
escrow is attached, what it holds at the block the registry consumed equals the funded legs of the open
orders (per lot in kg, in total in satang): escrow conservation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.invariants import LedgerSnapshot, Violation

SATANG_PER_THB = 100
KG_PER_TONNE = 1000
MAX_DEADLINE_S = 365 * 24 * 3600
SETTLEMENT_EXPIRED = 7005

ORDERED, OPEN, SETTLED, CANCELLED, EXPIRED, REJECTED = "ordered", "open", "settled", "cancelled", "expired", "rejected"
FINAL = frozenset({SETTLED, CANCELLED, EXPIRED, REJECTED})
# escrow event -> (states it may arrive in, state after)
TRANSITIONS: Mapping[str, tuple[frozenset[str], str]] = {
    "DvpCreated": (frozenset({ORDERED}), OPEN),
    "DeliveryFunded": (frozenset({OPEN}), OPEN),
    "PaymentFunded": (frozenset({OPEN}), OPEN),
    "DvpSettled": (frozenset({OPEN}), SETTLED),
    "DvpCancelled": (frozenset({OPEN}), CANCELLED),
    "DvpExpired": (frozenset({OPEN}), EXPIRED),
}


def total_satang(quantity_kg: int, price_satang_per_t: int) -> int:
    """The payment leg: integer satang, exactly (no rounding, ever)."""
    if isinstance(quantity_kg, bool) or not isinstance(quantity_kg, int) or quantity_kg <= 0:
        raise RegistryError(2003, "quantity_kg must be a positive integer", quantity_kg=quantity_kg)
    if isinstance(price_satang_per_t, bool) or not isinstance(price_satang_per_t, int) or price_satang_per_t <= 0:
        raise RegistryError(2003, "price_satang_per_t must be a positive integer", price=price_satang_per_t)
    amount = quantity_kg * price_satang_per_t
    if amount % KG_PER_TONNE:
        raise RegistryError(1003, f"{quantity_kg} kg at {price_satang_per_t} satang/t is not a whole number of "
                                  "satang", quantity_kg=quantity_kg, price_satang_per_t=price_satang_per_t)
    return amount // KG_PER_TONNE


def check_order(seller_id: str, buyer_id: str, deadline_s: int, now_s: int) -> None:
    if seller_id == buyer_id:
        raise RegistryError(3005, "seller and buyer are the same participant", participant_id=seller_id)
    if deadline_s <= now_s:
        raise RegistryError(1003, "the deadline must be in the future", deadline_s=deadline_s, now_s=now_s)
    if deadline_s - now_s > MAX_DEADLINE_S:
        raise RegistryError(1003, "the deadline is more than a year away", deadline_s=deadline_s)


def next_state(status: str, event_name: str) -> str:
    """The order's state after an escrow event; 1008 if the event cannot happen in this state."""
    allowed = TRANSITIONS.get(event_name)
    if allowed is None:
        raise RegistryError(1003, f"unknown escrow event {event_name}")
    sources, target = allowed
    if status not in sources:
        raise RegistryError(1008, f"escrow event {event_name} for an order that is {status}", status=status)
    return target


def created_mismatches(order: Mapping[str, Any], args: Mapping[str, Any]) -> list[str]:
    """Every term of an on-chain DvpCreated that differs from the registry's order."""
    expected = {"seller": order["seller_address"], "buyer": order["buyer_address"],
                "operator": order["operator_address"], "lot_id": int(order["chain_lot_id"]),
                "amount_kg": int(order["quantity_kg"]), "price_satang": int(order["total_satang"]),
                "deadline": int(order["deadline_s"])}
    out: list[str] = []
    for name, want in expected.items():
        got = args.get(name)
        same = str(got).lower() == str(want).lower() if isinstance(want, str) else got == want
        if not same:
            out.append(f"{name}: chain {got}, order {want}")
    return out


ORDERS_KEY = "dvp_orders"  # LedgerSnapshot.extra: order facts (services.settlement.load_snapshot)
EVENTS_KEY = "dvp_events"  # {(tx_hash, log_index): order id}
ESCROW_KEY = "escrow_chain"  # (escrowed kg per chain lot, escrowed satang) at the consumed block, when attached


def escrow_conservation(orders: list[Mapping[str, Any]], escrowed_kg_by_lot: Mapping[int, int],
                        escrowed_satang: int) -> list[str]:
    """What the escrow holds vs the funded legs of the open orders; the differences, in words."""
    want_kg: dict[int, int] = {}
    want_satang = 0
    for o in orders:
        if o["status"] != OPEN:
            continue
        if o["delivery_funded"]:
            want_kg[int(o["chain_lot_id"])] = want_kg.get(int(o["chain_lot_id"]), 0) + int(o["quantity_kg"])
        if o["payment_funded"]:
            want_satang += int(o["total_satang"])
    out = [f"chain lot {lot}: escrow holds {escrowed_kg_by_lot.get(lot, 0)} kg, open funded legs {kg} kg"
           for lot, kg in sorted(want_kg.items()) if escrowed_kg_by_lot.get(lot, 0) != kg]
    out += [f"chain lot {lot}: escrow holds {kg} kg, no open funded leg"
            for lot, kg in sorted(escrowed_kg_by_lot.items()) if kg and lot not in want_kg]
    if want_satang != escrowed_satang:
        out.append(f"escrow holds {escrowed_satang} satang, open funded legs {want_satang} satang")
    return out


def check_escrow(snapshot: LedgerSnapshot) -> list[Violation]:
    orders: list[Mapping[str, Any]] = snapshot.extra.get(ORDERS_KEY, [])
    events: Mapping[tuple[str, int], str | None] = snapshot.extra.get(EVENTS_KEY, {})
    out: list[Violation] = []
    for o in orders:
        funded = bool(o["delivery_funded"]) or bool(o["payment_funded"])
        if funded and o["status"] != OPEN:
            out.append(Violation("ESCROW", f"DvP order {o['id']} is {o['status']} but holds a funded leg"))
        if o["tx_hash"] is not None and events.get((str(o["tx_hash"]), int(o["log_index"]))) != o["id"]:
            out.append(Violation("ESCROW", f"DvP order {o['id']}: its evidence {o['tx_hash']}#{o['log_index']} "
                                           "is no applied escrow event of this order"))
    chain = snapshot.extra.get(ESCROW_KEY)
    if chain is not None:
        escrowed_kg, escrowed_satang = chain
        out += [Violation("ESCROW", f"escrow conservation: {p}")
                for p in escrow_conservation(orders, escrowed_kg, escrowed_satang)]
    return out
