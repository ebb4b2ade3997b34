"""Reconciliation (I4) and dead letters: a supply mismatch freezes the lot in the NR and on chain and is
reported with 7001, never corrected; an event the NR cannot apply is parked, listed, retried, never
skipped."""

from __future__ import annotations

import pytest
from token_world import TokenWorld, leaves
from world import error_code

from sovcarbon.chain import ChainRejected, make_op_id
from sovcarbon.services import invariants

pytestmark = pytest.mark.chain


def _resume(tw: TokenWorld) -> None:
    """Officers look at what the audit reported and resume the bridge: four-eyes."""
    api = tw.api
    action = api.ok("POST", "/v1/bridge/actions", "admin",
                    {"kind": "resume_bridge", "target": "bridge", "reason": "minting key rotated, incident 9"})
    assert error_code(api.post(f"/v1/bridge/actions/{action['id']}/approval", "admin")) == 3003
    api.ok("POST", f"/v1/bridge/actions/{action['id']}/approval", "approver")


@pytest.mark.supply_mismatch
def test_a_mint_nobody_ordered_halts_the_bridge_freezes_the_lot_and_reports_7001(tw: TokenWorld) -> None:
    """A leaked minting key raises a real lot's capacity and mints: the audit sees both acts before anything
    of their blocks is applied, halts the bridge (no mint, no burn applied), freezes the lot, reports 7001."""
    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    good = tw.tokenize(1_000_000)
    bad = tw.tokenize(2_000_000)
    tw.settle()
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "ok" and report["lots_checked"] == 2 and report["mismatches"] == []
    chain_lot = bad["chain_lot_id"]
    token.increase_lot(make_op_id("rogue-increase"), chain_lot, 1_000)
    token.mint(make_op_id("rogue-mint"), tw.address("foundation"), chain_lot, 1_000)
    # ... and tries to turn the counterfeit tokens into real serials
    token.redeem(tw.wallets["foundation"], chain_lot, 1_500, tw.ids["foundation_acc"])
    seq_before = api.ok("GET", "/v1/journal/head", None)["seq"]
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "mismatch" and report["code"] == 7001
    halted = report["halted"]
    assert sorted(f["event"] for f in halted["findings"]) == ["LotIncreased", "Minted"]
    assert halted["frozen_lots"] == [bad["id"]]
    status = api.ok("GET", "/v1/bridge", "admin")
    assert status["halted"]["code"] == 7001
    # nothing of those blocks was applied: the redemption took no serial
    assert tw.lot(bad["id"])["redeemed_kg"] == 0
    lot = tw.lot(bad["id"])
    assert lot["frozen"] and lot["chain"]["frozen"] and not tw.lot(good["id"])["frozen"]
    kinds = [e["kind"] for e in api.get("/v1/journal", "admin", after_seq=seq_before).json()["data"]]
    assert "bridge_halted" in kinds and "lot_frozen" in kinds
    with pytest.raises(ChainRejected) as refused:
        token.transfer(tw.wallets["foundation"], tw.address("company"), chain_lot, 1)
    assert refused.value.code == 4006
    # while halted, the bridge mints nothing new
    third = tw.tokenize(10)
    tw.settle()
    assert tw.lot(third["id"])["status"] == "minting"
    _resume(tw)
    tw.settle()
    assert api.ok("GET", "/v1/bridge", "admin")["halted"] is None and tw.lot(third["id"])["status"] == "active"
    # resumed: the redemption request on the frozen lot is refused (tokens returned, no serial taken) and
    # reconciliation reports the counterfeit supply, never correcting it
    assert tw.lot(bad["id"])["redeemed_kg"] == 0
    assert token.balance_of(tw.address("foundation"), chain_lot) == 2_001_000
    report = api.ok("POST", "/v1/reconciliation", "admin")
    assert report["status"] == "mismatch" and [m["lot_id"] for m in report["mismatches"]] == [bad["id"]]
    violations = invariants.check(api.reg)
    assert violations and all(v.invariant == "I4" and bad["id"] in v.message for v in violations)
    assert error_code(api.post("/v1/reconciliation", "regulator")) == 1002


def test_a_failed_event_is_parked_listed_retried_and_resolved_only_under_four_eyes(tw: TokenWorld) -> None:
    """A log the NR cannot store (a lot id beyond 64 bits, opened by someone holding the bridge key) is parked,
    listed and retried; later events still apply; an officer closes it only with another person's approval."""
    assert tw.bridge is not None
    api, token, reg = tw.api, tw.bridge.token, tw.api.reg
    lot = tw.tokenize(1_000_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    rogue_lot = 2**64 + 5
    token.open_lot(make_op_id("rogue-open"), rogue_lot, 1_000)
    token.mint(make_op_id("rogue-mint"), tw.address("foundation"), rogue_lot, 10)
    token.retire(tw.wallets["foundation"], chain_lot, 5_000, "Foundation", "voluntary", 2025)
    tw.settle()
    # a lot the registry never opened, minted by the bridge key: the audit halts the bridge first
    findings = api.ok("GET", "/v1/bridge", "admin")["halted"]["findings"]
    assert sorted(f["event"] for f in findings) == ["LotOpened", "Minted"]
    assert tw.lot(lot["id"])["retired_kg"] == 0
    _resume(tw)
    tw.settle()
    dead = api.ok("GET", "/v1/bridge/dead-letters", "regulator")["data"]
    assert len(dead) == 1 and dead[0]["name"] == "TransferSingle" and dead[0]["status"] == "open"
    assert dead[0]["attempts"] >= 1 and dead[0]["event"]["lot_id"] == rogue_lot
    # the cursor moved on: the retirement after it was applied
    assert tw.lot(lot["id"])["retired_kg"] == 5_000
    assert api.ok("GET", "/v1/bridge", "admin")["consumer"]["lag_blocks"] == 0
    retried = api.ok("POST", f"/v1/bridge/dead-letters/{dead[0]['id']}/retry", "admin")
    assert retried["status"] == "open" and retried["attempts"] == dead[0]["attempts"] + 1
    assert error_code(api.post(f"/v1/bridge/dead-letters/{dead[0]['id']}/retry", "company")) == 1002
    body = {"kind": "resolve_dead_letter", "target": dead[0]["id"], "reason": "rogue lot, see incident 7"}
    action = api.ok("POST", "/v1/bridge/actions", "admin", body)
    assert api.ok("GET", "/v1/bridge/dead-letters", "admin")["data"][0]["status"] == "open"
    assert error_code(api.post(f"/v1/bridge/actions/{action['id']}/approval", "admin")) == 3003
    api.ok("POST", f"/v1/bridge/actions/{action['id']}/approval", "approver")
    closed = api.ok("GET", "/v1/bridge/dead-letters", "admin")["data"][0]
    assert closed["status"] == "resolved" and "incident 7" in closed["last_error"]
    assert error_code(api.post("/v1/bridge/actions", "admin", body)) == 1008  # nothing left to resolve
    tw.settle()
    assert not invariants.check(reg)
    assert leaves(reg, state="retired", lot_id=lot["id"])
