"""The registry of record end to end through the HTTP API: issue, transfer, retire, cancel, look up."""

from __future__ import annotations

from world import Api, error_code


def test_issue_transfer_retire_lookup(world: Api) -> None:
    ids = world.ids
    iss = world.ok("GET", f"/v1/issuances/{ids['issuance']}", None)
    assert iss["status"] == "issued"
    assert [b["quantity_kg"] for b in iss["blocks"]] == [9_000_000, 1_000_000]
    assert iss["blocks"][0]["serial"].startswith("TH-PTVER-00001-2025-001-000000000001-000009000000")

    txn = world.ok("POST", "/v1/transfers", "proponent", {
        "from_account_id": ids["foundation_acc"], "to_account_id": ids["company_acc"], "quantity_kg": 2_000_000})
    assert txn["quantity_kg"] == 2_000_000
    assert txn["blocks"][0]["serial"].endswith("000000000001-000002000000")

    ret = world.ok("POST", "/v1/retirements", "company", {
        "account_id": ids["company_acc"], "quantity_kg": 1_234_567, "beneficiary": {"name": "Co", "country": "TH"},
        "purpose": "domestic_compliance", "claim_year": 2025})
    assert ret["quantity_kg"] == 1_234_567
    assert ret["serials"] == ["TH-PTVER-00001-2025-001-000000000001-000001234567"]

    lookup = world.ok("GET", f"/v1/serials/{ret['serials'][0]}", None)
    assert lookup["state"] == "retired"
    assert [b["state"] for b in lookup["lineage"]] == ["retired", "held", "held"]

    supply = world.ok("GET", "/v1/supply", None)
    assert supply["issued_kg"] == 10_000_000
    assert supply["by_state_kg"]["retired"] == 1_234_567
    assert supply["balanced"]

    # Retired units are final.
    resp = world.post("/v1/transfers", "company", {"from_account_id": ids["company_acc"],
                                                   "to_account_id": ids["other_acc"], "serials": ret["serials"]})
    assert error_code(resp) == 4004
