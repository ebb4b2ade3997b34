"""Use for OIMP inside the country (e.g. a CORSIA claim), first transfer at use when the LoA says so,
labels, and the guard against counting first-transferred units again at home."""

from __future__ import annotations

from typing import Any

from a6_world import attach, grant, journal, payload, serial
from world import Api, error_code


def _retire(api: Api, who: str, account: str, purpose: str, **sel: Any) -> Any:
    return api.post("/v1/retirements", who, {"account_id": api.ids[account], "purpose": purpose, "claim_year": 2026,
                                             "beneficiary": {"name": "Thai Sky Airways", "country": "TH"}, **sel})


def _label_corsia(api: Api, *serials: str) -> None:
    api.ok("POST", "/v1/labels", "admin", {"serials": list(serials), "label": "corsia_eligible",
                                           "reference": "TH host attestation 2026/7",
                                           "detail": {"compliance_period": "2024-2026"}})


def _to_company(api: Api, *serials: str) -> None:
    api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": api.ids["foundation_acc"],
                                                  "to_account_id": api.ids["company_acc"], "serials": list(serials)})


def test_corsia_use_is_the_first_transfer_when_the_loa_says_so(world: Api) -> None:
    loa_id = grant(world, authorized_entities=[{"name": "Company", "party": "THA",
                                                "participant_id": world.ids["company"],
                                                "identification_number": "0105500000001", "country": "THA"}])
    attach(world, loa_id, 1_000_000)
    units = serial(world, 1, 200_000)
    _label_corsia(world, units)
    _to_company(world, units)
    labels = world.get("/v1/labels", serial=units).json()["data"]
    assert labels[0]["label"] == "corsia_eligible" and labels[0]["reference"] == "TH host attestation 2026/7"
    resp = _retire(world, "company", "company_acc", "corsia", quantity_kg=150_000)
    assert resp.status_code == 201, resp.text
    ret = resp.json()
    entry = journal(world)[ret["journal_seq"]]
    a6 = payload(entry)["article6"]
    [ft] = a6["first_transfers"]
    assert ft["event"] == "use" and ft["first_transfers"][0]["serial"] == serial(world, 1, 150_000)
    assert ft["corresponding_adjustments"][0]["quantity_kg"] == 150_000
    assert a6["actions"] == [{"type": "use", "serials": [serial(world, 1, 150_000)]}]
    loa = world.ok("GET", f"/v1/authorizations/{loa_id}", None)
    assert loa["first_transferred_kg"] == 150_000


def test_use_for_oimp_needs_the_authorization_the_label_and_the_entity(world: Api) -> None:
    units = serial(world, 1, 100_000)
    _to_company(world, units)
    # No LoA covers them.
    assert error_code(_retire(world, "company", "company_acc", "oimp", quantity_kg=1000)) == 6001
    loa_id = grant(world, oimp=["other purposes"], authorized_entities=[])
    world.ok("POST", f"/v1/authorizations/{loa_id}/units", "admin", {"serials": [units]})
    # The LoA names OIMP but not CORSIA.
    assert error_code(_retire(world, "company", "company_acc", "corsia", quantity_kg=1000)) == 6003
    assert _retire(world, "company", "company_acc", "oimp", quantity_kg=1000).status_code == 201
    corsia = grant(world, reference="R-corsia", authorized_entities=[])
    more = serial(world, 100_001, 200_000)
    _to_company(world, more)
    world.ok("POST", f"/v1/authorizations/{corsia}/units", "admin", {"serials": [more]})
    # CORSIA named, but the units carry no CORSIA-eligible label.
    assert error_code(_retire(world, "company", "company_acc", "corsia", serials=[more])) == 5001
    _label_corsia(world, more)
    # An LoA naming entities lets only them use the units.
    named = grant(world, reference="R-named", authorized_entities=[{"name": "Other Co", "party": "THA",
                                                                    "identification_number": "X-1", "country": "THA"}])
    third = serial(world, 200_001, 210_000)
    _to_company(world, third)
    world.ok("POST", f"/v1/authorizations/{named}/units", "admin", {"serials": [third]})
    _label_corsia(world, third)
    assert error_code(_retire(world, "company", "company_acc", "corsia", serials=[third])) == 6004
    assert _retire(world, "company", "company_acc", "corsia", serials=[more]).status_code == 201
    # An NDC-only LoA does not authorize use for OIMP.
    ndc = grant(world, reference="R-ndc", purposes=["ndc"], oimp=[], first_transfer_event=None)
    fourth = serial(world, 210_001, 220_000)
    _to_company(world, fourth)
    world.ok("POST", f"/v1/authorizations/{ndc}/units", "admin", {"serials": [fourth]})
    assert error_code(_retire(world, "company", "company_acc", "oimp", serials=[fourth])) == 6003


def test_first_transferred_units_cannot_serve_a_domestic_claim(world: Api) -> None:
    loa_id = grant(world, first_transfer_event="authorization")
    attach(world, loa_id, 100_000)
    units = serial(world, 1, 100_000)
    _to_company(world, units)
    assert error_code(_retire(world, "company", "company_acc", "domestic_compliance", serials=[units])) == 6003
    assert error_code(_retire(world, "company", "company_acc", "ndc", serials=[units])) == 6003
    resp = _retire(world, "company", "company_acc", "voluntary", serials=[serial(world, 1, 40_000)])
    assert resp.status_code == 201
    a6 = payload(journal(world)[resp.json()["journal_seq"]])["article6"]
    assert a6 == {"first_transfers": [], "actions": [{"type": "voluntary_cancellation",
                                                      "serials": [serial(world, 1, 40_000)]}]}
    # Authorized but not first-transferred units never leave the report silently: refused (6007) until the
    # coverage is released; units outside any LoA retire as usual.
    other = grant(world, reference="R-2")
    attach(world, other, 10_000)
    assert error_code(_retire(world, "proponent", "foundation_acc", "domestic_compliance", quantity_kg=10_000)) == 6007
    assert _retire(world, "proponent", "foundation_acc", "domestic_compliance",
                   serials=[serial(world, 110_001, 120_000)]).status_code == 201
