"""A hostile holder against the bridge (issue: the chain bridge under attack). After each attack the event
consumer is not behind, I4 holds (checked at teardown, with the chain) or exactly the offending part is
frozen, and nobody else is harmed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from token_world import TokenWorld, frozen_lots
from world import error_code

from sovcarbon.chain import ChainRejected, make_op_id
from sovcarbon.services import invariants

pytestmark = pytest.mark.chain

HOSTILE_TEXTS: list[bytes] = [
    b"\xff\xfe\xfd",                      # invalid UTF-8
    b"Acme\x00Corp",                      # NUL: PostgreSQL refuses it in text
    b"\xc3",                              # truncated multi-byte sequence
    b"\x00" * 32,
    bytes(range(1, 32)),                  # control characters
    "ผู้รับ 🌏".encode(),                  # valid, non-ASCII: accepted
]
UNKNOWN_ACCOUNT = "acc_" + "0" * 32  # well-formed, but no such NR account


def _consumer(tw: TokenWorld) -> dict[str, Any]:
    consumer: dict[str, Any] = tw.api.ok("GET", "/v1/bridge", "admin")["consumer"]
    return consumer


def _sent(call: Callable[[], object]) -> bool:
    """True if the chain accepted the burn request, False if the contract refused it (harmless: nothing moved)."""
    try:
        call()
    except ChainRejected as exc:
        assert exc.code in (1003, 4001, 7004), exc
        return False
    return True


def _dead_letters(tw: TokenWorld) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = tw.api.get("/v1/bridge/dead-letters", "admin", limit=200).json()["data"]
    return data


def _assert_caught_up(tw: TokenWorld) -> None:
    consumer = _consumer(tw)
    assert consumer["lag_blocks"] == 0 and consumer["alarm"] is False and consumer["last_error"] is None, consumer
    assert _dead_letters(tw) == []
    assert not invariants.check(tw.api.reg)


def test_random_bytes_in_every_string_field_never_stall_the_consumer(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(1_000_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    hostile = tw.wallets["foundation"]
    rng = random.Random(7)
    texts = HOSTILE_TEXTS + [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))) for _ in range(6)]
    sent = 0
    for text in texts:
        sent += _sent(lambda t=text: token.retire(hostile, chain_lot, 1, t, "voluntary", 2025))
        sent += _sent(lambda t=text: token.retire(hostile, chain_lot, 1, "Foundation", t[:32], 2025))
        sent += _sent(lambda t=text: token.redeem(hostile, chain_lot, 1, t[:64]))
    assert sent >= 1  # the valid non-ASCII beneficiary
    # an honest retirement after all of them, by someone else, is applied
    token.transfer(hostile, tw.address("company"), chain_lot, 10_000)
    token.retire(tw.wallets["company"], chain_lot, 5_000, "Company", "voluntary", 2025)
    tw.settle()
    _assert_caught_up(tw)
    view = tw.lot(lot["id"])
    assert view["retired_kg"] == 5_000 + sent and not view["frozen"]
    assert any(r["quantity_kg"] == 5_000 for r in view["retirements"])
    assert token.balance_of(hostile.address, chain_lot) == 1_000_000 - 10_000 - sent
    report = tw.api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "ok", report


def test_refused_burns_on_a_lot_with_innocent_holders_return_the_tokens_and_freeze_nobody(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    lot = tw.tokenize(1_000_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    hostile, innocent = tw.wallets["foundation"], tw.wallets["company"]
    token.transfer(hostile, innocent.address, chain_lot, 100_000)
    seq_before = api.ok("GET", "/v1/journal/head", None)["seq"]
    # what only the registry can decide: each is a valid request on chain that the NR refuses
    token.redeem(hostile, chain_lot, 7, UNKNOWN_ACCOUNT)                   # no such account
    token.redeem(hostile, chain_lot, 8, tw.ids["company_acc"])           # someone else's account
    token.retire(hostile, chain_lot, 9, "Airline", "corsia", 2026)        # CORSIA without an authorization
    assert token.balance_of(hostile.address, chain_lot) == 900_000 - 24
    tw.settle()
    # the tokens are back with the requester, nothing was applied, the refusals are journaled
    assert token.balance_of(hostile.address, chain_lot) == 900_000
    view = tw.lot(lot["id"])
    assert (view["retired_kg"], view["redeemed_kg"], view["frozen"]) == (0, 0, False)
    entries = api.get("/v1/journal", "admin", after_seq=seq_before).json()["data"]
    refusals = [e for e in entries if e["kind"] == "chain_burn_refused"]
    assert len(refusals) == 3
    _assert_caught_up(tw)
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "ok" and frozen_lots(api.reg) == []
    # the innocent holder is not harmed: it moves and retires as before
    token.transfer(innocent, hostile.address, chain_lot, 1)
    token.retire(innocent, chain_lot, 1_000, "Company", "voluntary", 2025)
    tw.settle()
    assert tw.lot(lot["id"])["retired_kg"] == 1_000
    _assert_caught_up(tw)


def test_a_flood_of_small_refused_burns_is_absorbed(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(10_000)
    tw.settle()
    hostile = tw.wallets["foundation"]
    for _ in range(25):
        token.redeem(hostile, lot["chain_lot_id"], 1, UNKNOWN_ACCOUNT, wait=False)
    token.retire(hostile, lot["chain_lot_id"], 1, "Foundation", "voluntary", 2025)
    tw.settle()
    assert token.balance_of(hostile.address, lot["chain_lot_id"]) == 10_000 - 1
    assert tw.lot(lot["id"])["retired_kg"] == 1
    _assert_caught_up(tw)


def test_the_bridge_shows_the_consumer_lag_and_raises_its_alarm(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(10_000)
    tw.settle()
    tw.bridge.max_lag_blocks = 2
    for _ in range(4):
        token.transfer(tw.wallets["foundation"], tw.address("company"), lot["chain_lot_id"], 1)
    consumer = _consumer(tw)
    assert consumer["lag_blocks"] >= 4 and consumer["alarm"] is True
    tw.settle()
    consumer = _consumer(tw)
    assert consumer["lag_blocks"] == 0 and consumer["alarm"] is False


@pytest.mark.supply_mismatch
def test_unfreezing_a_lot_is_an_officer_action_under_four_eyes(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    lot = tw.tokenize(100_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    token.increase_lot(make_op_id("rogue-increase"), chain_lot, 1_000)  # a mint nobody ordered
    token.mint(make_op_id("rogue-mint"), tw.address("foundation"), chain_lot, 1_000)
    tw.settle()  # the audit halts the bridge and freezes the lot; officers resume it (four-eyes)
    resume = api.ok("POST", "/v1/bridge/actions", "admin", {"kind": "resume_bridge", "target": "bridge",
                                                             "reason": "key rotated"})
    api.ok("POST", f"/v1/bridge/actions/{resume['id']}/approval", "approver")
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert [m["lot_id"] for m in report["mismatches"]] == [lot["id"]] and tw.lot(lot["id"])["frozen"]
    body = {"kind": "unfreeze_lot", "target": lot["id"], "reason": "investigated: ticket 42"}
    for who in ("approver", "regulator", "company"):
        assert error_code(api.post("/v1/bridge/actions", who, body)) == 1002
    action = api.ok("POST", "/v1/bridge/actions", "admin", body)
    assert action["status"] == "requested" and tw.lot(lot["id"])["frozen"]  # nothing changes before approval
    assert error_code(api.post(f"/v1/bridge/actions/{action['id']}/approval", "admin")) == 3003
    assert error_code(api.post(f"/v1/bridge/actions/{action['id']}/approval", "regulator")) == 1002
    approved = api.ok("POST", f"/v1/bridge/actions/{action['id']}/approval", "approver")
    assert approved["status"] == "approved"
    assert error_code(api.post(f"/v1/bridge/actions/{action['id']}/approval", "approver")) == 3002  # decided
    tw.settle()
    assert not tw.lot(lot["id"])["frozen"] and not token.lot_info(chain_lot).frozen
    kinds = [e["kind"] for e in api.get("/v1/journal", "admin", after_seq=0, limit=1000).json()["data"]]
    assert "bridge_action_requested" in kinds and "bridge_action_approved" in kinds
    assert action["id"] in [a["id"] for a in api.ok("GET", "/v1/bridge/actions", "regulator")["data"]]
    # still mismatched: the next reconciliation freezes it again (an unfreeze corrects nothing)
    assert api.ok("POST", "/v1/reconciliation", "admin")["status"] == "mismatch"
    assert tw.lot(lot["id"])["frozen"]


def test_a_leaked_minting_key_cannot_steal_govern_or_hide(tw: TokenWorld) -> None:
    """With only the bridge key: forced moves, unfreezes and role grabs revert on chain; what the key can do
    (whitelist itself, open a counterfeit lot) is caught by the audit before any of it is applied."""
    from eth_account import Account

    from sovcarbon.chain.token import ROLE_BRIDGE, ROLE_OWNER

    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    lot = tw.tokenize(50_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    thief = Account.create()
    token.fund_gas(thief.address)
    key = token.bridge  # what leaked
    for attempt in (
        lambda: token.forced_transfer(make_op_id("steal"), tw.address("foundation"), thief.address, chain_lot,
                                      1_000, by=key),
        lambda: token.unfreeze_lot(make_op_id("thaw"), chain_lot, by=key),
        lambda: token.propose_role(ROLE_OWNER, thief.address, owner=key),
        lambda: token.propose_role(ROLE_BRIDGE, thief.address, owner=key),
    ):
        with pytest.raises(ChainRejected) as refused:
            attempt()
        assert refused.value.code == 1002
    token.set_identity(make_op_id("whitelist-thief"), thief.address, True, tw.address("foundation"))
    token.open_lot(make_op_id("counterfeit-lot"), 777_777, 5_000)
    tw.settle()
    halted = api.ok("GET", "/v1/bridge", "admin")["halted"]
    assert sorted(f["event"] for f in halted["findings"]) == ["IdentitySet", "LotOpened"]
    assert token.balance_of(tw.address("foundation"), chain_lot) == 50_000  # nobody harmed
    assert not tw.lot(lot["id"])["frozen"]


def test_identities_and_freezes_are_reconciled_both_ways(tw: TokenWorld) -> None:
    """The chain's identity registry and lot freezes follow the NR even after a change made behind its back."""
    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    lot = tw.tokenize(10_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    foundation = tw.address("foundation")
    assert token.is_eligible(foundation)
    # the bridge key de-lists a holder outside the registry: halted, then resumed by officers
    token.set_identity(make_op_id("delist"), foundation, False, foundation)
    tw.settle()
    assert api.ok("GET", "/v1/bridge", "admin")["halted"] is not None
    action = api.ok("POST", "/v1/bridge/actions", "admin", {"kind": "resume_bridge", "target": "bridge",
                                                             "reason": "reviewed"})
    api.ok("POST", f"/v1/bridge/actions/{action['id']}/approval", "approver")
    # an agent freezes the lot on chain outside the registry (a freeze is not an audited act)
    token.freeze_lot(make_op_id("outside-freeze"), chain_lot, by=token.agent)
    tw.settle()
    assert not token.is_eligible(foundation) and token.lot_info(chain_lot).frozen
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert sorted(d["kind"] for d in report["state_drift"]) == ["identity", "lot_freeze"]
    tw.settle()
    # the NR's state was pushed again: eligible, not frozen
    assert token.is_eligible(foundation) and not token.lot_info(chain_lot).frozen
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "ok" and report["state_drift"] == []


def test_the_running_bridge_rechecks_freezes_without_a_reconciliation(tw: TokenWorld) -> None:
    """Continuously: the bridge's own cycles compare lot freezes (and identities) with the chain."""
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = tw.tokenize(1_000)
    tw.settle()
    token.freeze_lot(make_op_id("outside-freeze-2"), lot["chain_lot_id"], by=token.agent)
    tw.bridge.state_check_interval_s = 0.0  # every cycle (production: every minute)
    tw.settle()
    tw.settle()
    assert not token.lot_info(lot["chain_lot_id"]).frozen and not tw.lot(lot["id"])["frozen"]
    kinds = [e["kind"] for e in tw.api.get("/v1/journal", "admin", after_seq=0, limit=1000).json()["data"]]
    assert "chain_state_repushed" in kinds
