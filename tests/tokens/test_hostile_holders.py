"""A hostile holder against the bridge: whatever a burn carries, the event consumer never stalls, the
bridge shows its lag, and nobody else is harmed (issue: the chain bridge under attack)."""

from __future__ import annotations

import random

import pytest
from token_world import TokenWorld

from sovcarbon.chain import ChainRejected

pytestmark = pytest.mark.chain

HOSTILE_TEXTS: list[bytes] = [
    b"\xff\xfe\xfd",                      # invalid UTF-8
    b"Acme\x00Corp",                      # NUL: PostgreSQL refuses it in text
    b"\xc3",                              # truncated multi-byte sequence
    b"\x00" * 32,
    bytes(range(1, 32)),                  # control characters
    "ผู้รับ 🌏".encode(),                  # valid, non-ASCII
]


def _consumer(tw: TokenWorld) -> dict[str, object]:
    status = tw.api.ok("GET", "/v1/bridge", "admin")
    consumer: dict[str, object] = status["consumer"]
    return consumer


def _burn_or_refused(call: object) -> bool:
    """True if the chain accepted the burn, False if the contract refused it (equally harmless)."""
    try:
        call()  # type: ignore[operator]
    except ChainRejected:
        return False
    return True


@pytest.mark.supply_mismatch  # the refused burns leave the lot short until resolved (frozen by reconciliation)
def test_random_bytes_in_every_string_field_never_stall_the_consumer(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(1_000_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    hostile = tw.wallets["foundation"]
    rng = random.Random(7)
    texts = HOSTILE_TEXTS + [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))) for _ in range(4)]
    accepted = 0
    for text in texts:
        accepted += _burn_or_refused(lambda t=text: token.retire(hostile, chain_lot, 1, t, "voluntary", 2025))
        accepted += _burn_or_refused(lambda t=text: token.retire(hostile, chain_lot, 1, "Foundation", t[:32], 2025))
        accepted += _burn_or_refused(lambda t=text: token.redeem(hostile, chain_lot, 1, t))
    assert accepted >= len(texts), "the hostile burns must reach the chain for this test to mean anything"
    # an honest retirement after all of them, by someone else, is applied
    token.transfer(hostile, tw.address("company"), chain_lot, 10_000)
    token.retire(tw.wallets["company"], chain_lot, 5_000, "Company", "voluntary", 2025)
    tw.settle()
    consumer = _consumer(tw)
    assert consumer["lag_blocks"] == 0 and consumer["alarm"] is False and consumer["last_error"] is None
    view = tw.lot(lot["id"])
    assert view["retired_kg"] >= 5_000
    assert any(r["quantity_kg"] == 5_000 for r in view["retirements"])
    # every hostile burn is accounted for: applied, or parked as a dead letter with its raw bytes kept
    dead = tw.api.get("/v1/bridge/dead-letters", "admin", limit=200).json()["data"]
    applied_kg = view["retired_kg"] - 5_000 + view["redeemed_kg"]
    assert applied_kg + len(dead) == accepted
    for letter in dead:
        args = letter["event"]["args"]
        assert any(k.endswith("_hex") for k in args), args
    # reconciliation answers (it used to be a 500 once the consumer was stuck)
    report = tw.api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] in ("ok", "mismatch")
    _settle_leftovers(tw)


def _settle_leftovers(tw: TokenWorld) -> None:
    """Hostile burns the NR refused leave an I4 gap until an officer resolves them: resolved here when the
    feature exists, else the lot is expected frozen (see the marker on the caller)."""
    resolve = getattr(tw, "resolve_dead_letters", None)
    if resolve is not None:
        resolve()


def test_the_bridge_shows_the_consumer_lag_and_raises_its_alarm(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(10_000)
    tw.settle()
    tw.bridge.max_lag_blocks = 2
    for _ in range(4):
        token.transfer(tw.wallets["foundation"], tw.address("company"), lot["chain_lot_id"], 1)
    consumer = _consumer(tw)
    assert int(consumer["lag_blocks"]) >= 4 and consumer["alarm"] is True  # type: ignore[call-overload]
    tw.settle()
    consumer = _consumer(tw)
    assert consumer["lag_blocks"] == 0 and consumer["alarm"] is False
