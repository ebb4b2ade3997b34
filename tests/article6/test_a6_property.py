"""Property: I6 (and every other invariant) holds after any sequence of authorize / attach / export /
use / transfer / revoke, whatever succeeds or is refused; no request ends in a 5xx."""

from __future__ import annotations

from typing import Any

from a6_world import export_body, loa_body, serial
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from world import Api

from sovcarbon.services import invariants

EVENTS = ["authorization", "issuance", "use_or_cancellation"]
KG = st.integers(min_value=1, max_value=400_000)
OPS = st.lists(st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(["ndc", "oimp", "both"]), st.sampled_from(EVENTS)),
    st.tuples(st.just("attach"), st.integers(0, 3), KG),
    st.tuples(st.just("export"), st.integers(0, 3), KG, st.sampled_from(["ndc", "oimp"]),
              st.sampled_from(["foundation_acc", "company_acc"])),
    st.tuples(st.just("use"), KG, st.sampled_from(["corsia", "oimp", "voluntary", "domestic_compliance"])),
    st.tuples(st.just("transfer"), KG),
    st.tuples(st.just("revoke"), st.integers(0, 3), st.integers(1, 9_000_000), KG),
), min_size=1, max_size=8)


def _step(api: Api, loas: list[str], op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "grant":
        purposes = {"ndc": ["ndc"], "oimp": ["oimp"], "both": ["ndc", "oimp"]}[op[1]]
        oimp = {"oimp": ["CORSIA"], "first_transfer_event": op[2]} if "oimp" in purposes else {
            "oimp": [], "first_transfer_event": None}
        resp = api.post("/v1/authorizations", "admin", loa_body(purposes=purposes, authorized_entities=[],
                                                                max_quantity_kg=1_000_000, **oimp))
        if resp.status_code == 201:
            loas.append(resp.json()["id"])
            return api.post(f"/v1/authorizations/{loas[-1]}/approval", "approver")
        return resp
    if not loas and kind in ("attach", "export", "revoke"):
        return None
    if kind == "attach":
        return api.post(f"/v1/authorizations/{loas[op[1] % len(loas)]}/units", "admin",
                        {"account_id": api.ids["foundation_acc"], "quantity_kg": op[2]})
    if kind == "export":
        who = "proponent" if op[4] == "foundation_acc" else "company"
        return api.post("/v1/exports", who, export_body(api, loas[op[1] % len(loas)], quantity_kg=op[2],
                                                         purpose=op[3], account=op[4]))
    if kind == "use":
        return api.post("/v1/retirements", "company", {
            "account_id": api.ids["company_acc"], "quantity_kg": op[1], "purpose": op[2], "claim_year": 2026,
            "beneficiary": {"name": "Company", "country": "TH"}})
    if kind == "transfer":
        return api.post("/v1/transfers", "proponent", {"from_account_id": api.ids["foundation_acc"],
                                                       "to_account_id": api.ids["company_acc"],
                                                       "quantity_kg": op[1]})
    loa_id = loas[op[1] % len(loas)]
    first = op[2]
    resp = api.post(f"/v1/authorizations/{loa_id}/revocation", "admin",
                    {"reason": "r", "serials": [serial(api, first, min(first + op[3], 9_000_000))]})
    if resp.status_code == 201:
        return api.post(f"/v1/authorizations/{loa_id}/approval", "approver")
    return resp


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ops=OPS)
@example(ops=[("grant", "both", "authorization"), ("attach", 0, 300_000), ("transfer", 100_000),
              ("export", 0, 50_000, "ndc", "company_acc"), ("use", 20_000, "corsia"),
              ("grant", "both", "use_or_cancellation"), ("attach", 1, 200_000), ("transfer", 250_000),
              ("use", 100_000, "corsia"), ("export", 1, 10_000, "ndc", "foundation_acc")])
def test_i6_holds_after_any_sequence(world: Api, ops: list[tuple[Any, ...]]) -> None:
    if "labelled" not in world.ids:
        world.ok("POST", "/v1/labels", "admin", {"serials": [serial(world, 1, 10_000_000)],
                                                 "label": "corsia_eligible", "reference": "attestation"})
        world.ids["labelled"] = "yes"
    loas: list[str] = []
    for op in ops:
        resp = _step(world, loas, op)
        if resp is not None:
            assert resp.status_code < 500, (op, resp.text)
        violations = invariants.check(world.reg)
        assert not violations, (op, violations)
    # The check is not vacuous: it sees the first transfers and adjustments written so far.
    with world.reg.store.read() as uow:
        facts = invariants.snapshot(uow).extra["article6"]
    assert sum(q for _, _, q, _ in facts.adjustments) == sum(last - first + 1 for _, first, last, *_ in
                                                            facts.first_transfers)
    if ops[0] == ("grant", "both", "authorization") and len(ops) == 10:  # the explicit example: all steps apply
        assert len(facts.adjustments) >= 2 and len(facts.first_transfers) >= 2
