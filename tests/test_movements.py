"""Transfer, retirement, cancellation and freezes: each rule and error code, and nothing written on failure."""

from __future__ import annotations

from typing import Any

import pytest
from world import Api, error_code, journal_seq, rejected, setup_world


def _transfer(api: Api, who: str = "proponent", **over: Any) -> Any:
    body = {"from_account_id": api.ids["foundation_acc"], "to_account_id": api.ids["company_acc"], "quantity_kg": 1000}
    body.update(over)
    return api.post("/v1/transfers", who, body)


def _retire(api: Api, who: str = "company", **over: Any) -> Any:
    body = {"account_id": api.ids["company_acc"], "quantity_kg": 1000,
            "beneficiary": {"name": "Co", "country": "TH"}, "purpose": "domestic_compliance", "claim_year": 2025}
    body.update(over)
    return api.post("/v1/retirements", who, body)


def serial(api: Api, first: int, last: int) -> str:
    return f"{api.ids['prefix']}-{first:012d}-{last:012d}"


@pytest.mark.parametrize(("over", "code"), [
    ({"quantity_kg": 0}, 2003), ({"quantity_kg": -5}, 2003), ({"quantity_kg": 1.5}, 2003),
    ({"quantity_kg": 9_000_001}, 4001), ({"quantity_kg": None}, 1003),
    ({"serials": ["garbage"], "quantity_kg": None}, 2002),
    ({"serials": ["TH-PTVER-00001-2025-001-000000000001-000000000010"]}, 1003),  # both given
    ({"to_account_id": "acc_unknown00"}, 1005), ({"from_account_id": "nonsense"}, 1003),
    ({"unexpected": True}, 1003),
])
def test_transfer_input_rules(world: Api, over: dict[str, Any], code: int) -> None:
    before = journal_seq(world)
    rejected(world, _transfer(world, **over), code, before)


def test_transfer_authorization_and_accounts(world: Api) -> None:
    before = journal_seq(world)
    rejected(world, _transfer(world, who="company"), 1002, before)  # not its account
    rejected(world, world.post("/v1/transfers", None, {}), 1001, before)
    resp = world.client.post("/v1/transfers", json={}, headers={"Authorization": "Bearer sk_wrong"})
    rejected(world, resp, 1001, before)
    rejected(world, _transfer(world, to_account_id=world.ids["foundation_acc"]), 3005, before)
    info = world.ok("GET", "/v1/registry", None)
    # An officer does not move units, not even the buffer pool's (1002: administrative transfers only);
    # a holder's transfer does not reach a retirement account (1003).
    retirement_acc = world.ok("POST", "/v1/accounts", "admin", {"participant_id": world.ids["company"],
                                                                "kind": "retirement"})["id"]
    before = journal_seq(world)
    rejected(world, _transfer(world, who="admin", from_account_id=info["buffer_account_id"],
                              to_account_id=world.ids["company_acc"]), 1002, before)
    rejected(world, _transfer(world, to_account_id=retirement_acc), 1003, before)


@pytest.mark.parametrize("status", ["suspended", "frozen", "closed"])
def test_inactive_accounts_are_3004(world: Api, status: str) -> None:
    world.ok("POST", f"/v1/accounts/{world.ids['other_acc']}/status", "admin", {"status": status, "reason": "test"})
    before = journal_seq(world)
    rejected(world, _transfer(world, to_account_id=world.ids["other_acc"]), 3004, before)
    world.ok("POST", f"/v1/accounts/{world.ids['company_acc']}/status", "admin", {"status": "suspended"})
    before = journal_seq(world)
    rejected(world, _retire(world), 3004, before)


def test_closing_an_account_with_units_is_refused(world: Api) -> None:
    before = journal_seq(world)
    resp = world.post(f"/v1/accounts/{world.ids['foundation_acc']}/status", "admin", {"status": "closed"})
    rejected(world, resp, 1003, before)


def test_serial_transfer_rules(world: Api) -> None:
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "serials": [serial(world, 101, 200)]})
    before = journal_seq(world)
    # Units now held by company: not held by the foundation (4002), including a range straddling both.
    rejected(world, _transfer(world, quantity_kg=None, serials=[serial(world, 150, 160)]), 4002, before)
    rejected(world, _transfer(world, quantity_kg=None, serials=[serial(world, 50, 150)]), 4002, before)
    # Past the end of the issuance; an unknown issuance; overlapping ranges.
    rejected(world, _transfer(world, quantity_kg=None, serials=[serial(world, 9_999_999, 10_000_001)]), 2002, before)
    rejected(world, _transfer(world, quantity_kg=None,
                              serials=["TH-PTVER-00099-2025-001-000000000001-000000000010"]), 4002, before)
    rejected(world, _transfer(world, quantity_kg=None, serials=[serial(world, 1, 10), serial(world, 5, 20)]), 2002,
             before)
    # Retired units are final; frozen units cannot move.
    world.ok("POST", "/v1/retirements", "company", {"account_id": world.ids["company_acc"],
                                                    "serials": [serial(world, 101, 110)],
                                                    "beneficiary": {"name": "Co", "country": "TH"},
                                                    "purpose": "voluntary", "claim_year": 2025})
    before = journal_seq(world)
    rejected(world, world.post("/v1/transfers", "company", {"from_account_id": world.ids["company_acc"],
                                                           "to_account_id": world.ids["other_acc"],
                                                           "serials": [serial(world, 105, 120)]}), 4004, before)
    world.ok("POST", "/v1/freezes", "admin", {"serials": [serial(world, 150, 160)], "reason": "discrepancy"})
    before = journal_seq(world)
    rejected(world, world.post("/v1/transfers", "company", {"from_account_id": world.ids["company_acc"],
                                                           "to_account_id": world.ids["other_acc"],
                                                           "serials": [serial(world, 140, 155)]}), 4006, before)
    # Frozen units are not in the free balance: a quantity skips them, lowest free serials first.
    txn = world.ok("POST", "/v1/transfers", "company", {"from_account_id": world.ids["company_acc"],
                                                        "to_account_id": world.ids["other_acc"], "quantity_kg": 50})
    assert [b["serial"] for b in txn["blocks"]] == [serial(world, 111, 149), serial(world, 161, 171)]
    world.ok("POST", "/v1/freezes", "admin", {"serials": [serial(world, 150, 160)], "reason": "resolved",
                                              "frozen": False})
    rejected(world, world.post("/v1/freezes", "company", {"serials": [serial(world, 1, 2)], "reason": "x"}), 1002,
             journal_seq(world))


def test_split_to_the_kilogram_and_lineage(world: Api) -> None:
    txn = world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                          "to_account_id": world.ids["company_acc"],
                                                          "serials": [serial(world, 5, 5)]})
    assert txn["quantity_kg"] == 1
    look = world.ok("GET", f"/v1/serials/{serial(world, 5, 5)}", None)
    assert look["account_id"] == world.ids["company_acc"] and look["state"] == "held"
    assert look["lineage"][-1]["parent_id"] is None and look["lineage"][-1]["serial"] == serial(world, 1, 9_000_000)
    left = world.ok("GET", f"/v1/serials/{serial(world, 4, 4)}", None)
    right = world.ok("GET", f"/v1/serials/{serial(world, 6, 6)}", None)
    assert left["block"]["serial"] == serial(world, 1, 4) and right["block"]["serial"] == serial(world, 6, 9_000_000)
    assert error_code(world.get("/v1/serials/not-a-serial")) == 2002
    assert error_code(world.get("/v1/serials/TH-PTVER-00077-2025-001-000000000001-000000000001")) == 1005


def test_retirement_rules(world: Api) -> None:
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"], "quantity_kg": 5000})
    before = journal_seq(world)
    rejected(world, _retire(world, who="other"), 1002, before)
    rejected(world, _retire(world, purpose="bragging"), 1003, before)
    rejected(world, _retire(world, claim_year=1800), 1003, before)
    rejected(world, _retire(world, beneficiary={"name": "", "country": "TH"}), 1003, before)
    rejected(world, _retire(world, beneficiary={"name": "x", "country": "Thailand"}), 1003, before)
    rejected(world, _retire(world, quantity_kg=5001), 4001, before)
    rejected(world, _retire(world, purpose="corsia"), 6001, before)  # no authorization covers these units
    ret = world.ok("POST", "/v1/retirements", "company", {
        "account_id": world.ids["company_acc"], "quantity_kg": 5000, "beneficiary": {"name": "Co", "country": "TH"},
        "purpose": "voluntary", "claim_year": 2025, "note": "all of it"})
    assert ret["certificate_id"].startswith("cert_")
    cert = world.ok("GET", f"/v1/certificates/{ret['certificate_id']}", None)
    assert cert["certificate"]["serials"] == ret["serials"]
    check = world.ok("POST", "/v1/certificates/verify", None, cert)
    assert check["valid"] and check["issued_by_this_registry"]
    cert["certificate"]["quantity_kg"] += 1
    assert world.ok("POST", "/v1/certificates/verify", None, cert)["valid"] is False


def test_vcs_units_serve_voluntary_claims_only(api: Api) -> None:
    setup_world(api, standard="VCS")
    api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": api.ids["foundation_acc"],
                                                  "to_account_id": api.ids["company_acc"], "quantity_kg": 3000})
    before = journal_seq(api)
    for purpose in ("domestic_compliance", "ndc", "corsia"):
        rejected(api, _retire(api, purpose=purpose), 5001, before)
    assert api.ok("POST", "/v1/retirements", "company", {
        "account_id": api.ids["company_acc"], "quantity_kg": 1000, "beneficiary": {"name": "Co", "country": "TH"},
        "purpose": "voluntary", "claim_year": 2025})["quantity_kg"] == 1000


def test_cancellation_is_four_eyes_and_final(world: Api) -> None:
    req = world.ok("POST", "/v1/cancellations", "admin", {"account_id": world.ids["foundation_acc"],
                                                          "quantity_kg": 2000, "reason": "reversal"})
    assert req["status"] == "pending_approval"
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/cancellations/{req['id']}/approval", "admin"), 3003, before)
    rejected(world, world.post(f"/v1/cancellations/{req['id']}/approval", "company"), 1002, before)
    done = world.ok("POST", f"/v1/cancellations/{req['id']}/approval", "approver")
    assert done["status"] == "cancelled" and done["blocks"][0]["serial"] == serial(world, 1, 2000)
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/cancellations/{req['id']}/approval", "approver"), 3002, before)
    rejected(world, _transfer(world, quantity_kg=None, serials=[serial(world, 1, 1)]), 4004, before)
    # A holder may ask for voluntary cancellation of its own units; never of others'.
    rejected(world, world.post("/v1/cancellations", "company", {"account_id": world.ids["foundation_acc"],
                                                               "quantity_kg": 1000, "reason": "x"}), 1002, before)
    # Approval re-checks: units moved away after the request make the approval fail with nothing written.
    req2 = world.ok("POST", "/v1/cancellations", "proponent", {"account_id": world.ids["foundation_acc"],
                                                               "serials": [serial(world, 3001, 4000)],
                                                               "reason": "voluntary"})
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "serials": [serial(world, 3001, 3001)]})
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/cancellations/{req2['id']}/approval", "approver"), 4002, before)
    world.ok("POST", f"/v1/cancellations/{req2['id']}/rejection", "approver", {"reason": "moved"})
    supply = world.ok("GET", "/v1/supply", None)
    assert supply["by_state_kg"]["cancelled"] == 2000 and supply["balanced"]


def test_holdings_visibility(world: Api) -> None:
    assert world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")["free_kg"] == 9_000_000
    assert error_code(world.get(f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "company")) == 1005
    assert error_code(world.get(f"/v1/accounts/{world.ids['foundation_acc']}/holdings")) == 1001
    assert world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "regulator")["free_kg"] == 9_000_000


def test_two_ranges_inside_one_block_in_one_request(world: Api) -> None:
    txn = world.ok("POST", "/v1/transfers", "proponent", {
        "from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
        "serials": [serial(world, 500, 599), serial(world, 100, 199)]})
    assert txn["quantity_kg"] == 200
    assert sorted(b["serial"] for b in txn["blocks"]) == [serial(world, 100, 199), serial(world, 500, 599)]
    assert world.ok("GET", f"/v1/serials/{serial(world, 300, 300)}", None)["account_id"] == world.ids["foundation_acc"]
