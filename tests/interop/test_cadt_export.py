"""CAD Trust v2.0.2 export of the registry's projects, issuances, units and labels (real app, both stores)."""

from __future__ import annotations

from decimal import Decimal

from test_peer_messages import FOREIGN_PREFIX, FakePeer, propose_body, register
from world import Api

from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.ids import new_id


def test_cadt_export_covers_every_kg_in_the_cadt_layout(world: Api) -> None:
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"], "quantity_kg": 2_500})
    world.ok("POST", "/v1/retirements", "company", {"account_id": world.ids["company_acc"], "quantity_kg": 1_000,
                                                    "purpose": "voluntary", "claim_year": 2026,
                                                    "beneficiary": {"name": "Company", "country": "TH"}})
    # units received from a peer are that registry's to export: not here
    peer = FakePeer()
    register(world, peer)
    key = world.ok("GET", "/v1/peer/identity", None)["public_key"]
    tid = new_id("peer")
    peer.exchange(world, key, peer.message(pp.MessageType.PROPOSE, tid, propose_body(world.ids["company_acc"])))
    peer.exchange(world, key, peer.message(pp.MessageType.COMMIT, tid, {}))
    assert world.get("/v1/reports/cadt", "company").status_code == 403
    resp = world.get("/v1/reports/cadt", "regulator", base_url="https://registry.example")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    tables = doc["tables"]
    assert doc["schema"] == "CAD Trust Data Schema v2.0.2" and doc["insert_order"][0] == "program"
    assert [p["projectName"] for p in tables["project"]] == ["Forest project"]
    project = tables["project"][0]
    assert project["projectStatus"] == "Registered" and project["projectUnitMetric"] == "tCO2e"
    assert project["projectLink"].startswith("https://registry.example/explorer/projects/")
    assert tables["location"][0]["locationCountry"] == "Thailand"
    assert [i["issuanceId"] for i in tables["issuance"]] == [world.ids["prefix"]]  # not the mirrored one
    units = tables["unit"]
    assert all(u["cadTrustIssuanceId"] == tables["issuance"][0]["cadTrustIssuanceId"] for u in units)
    assert sum(Decimal(u["unitCount"]) for u in units) == Decimal("10000.000")  # every kg, once, in tCO2e
    by_status: dict[str, Decimal] = {}
    for u in units:
        by_status[u["unitStatus"]] = by_status.get(u["unitStatus"], Decimal(0)) + Decimal(u["unitCount"])
    assert by_status == {"Held": Decimal("8999.000"), "Buffer": Decimal("1000.000"), "Retired": Decimal("1.000")}
    retired = next(u for u in units if u["unitStatus"] == "Retired")
    assert retired["unitRetirementBeneficiary"] == "Company"
    assert retired["unitSerialId"].startswith(world.ids["prefix"])
    assert "projectSector" in doc["unfilled_required"]["project"]
    assert FOREIGN_PREFIX not in str(tables)
