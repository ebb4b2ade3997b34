"""Export to a foreign registry under an LoA: exported state, first transfer with its corresponding
adjustment in the same step (NDC), purposes, Parties and entities, ITMO identifiers."""

from __future__ import annotations

from a6_world import attach, export_body, grant, journal, ndc_only, payload, serial
from world import Api, error_code


def test_ndc_export_is_the_first_transfer_with_its_adjustment(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 1_000_000)
    exp = world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=600_000))
    assert (exp["quantity_kg"], exp["first_transferred_kg"], exp["purpose"]) == (600_000, 600_000, "ndc")
    assert exp["serials"] == [serial(world, 1, 600_000)]
    assert [b["state"] for b in exp["blocks"]] == ["exported"]
    # One ITMO per tonne: CA, Party ITMO registry, first transferring Party, project|issuance|tonne, vintage.
    assert exp["blocks"][0]["itmo_first_id"] == "CA0007-THA01-THA-1001000000001-2025"
    assert exp["blocks"][0]["itmo_last_id"] == "CA0007-THA01-THA-1001000000600-2025"
    [ca] = exp["corresponding_adjustments"]
    assert (ca["vintage"], ca["quantity_kg"], ca["party_code"], ca["method"]) == (
        2025, 600_000, "THA", "indicative_multi_year_trajectory")
    # One journal entry: the movement, the first transfer and the adjustment together.
    entry = journal(world)[exp["journal_seq"]]
    assert entry["kind"] == "export"
    a6 = payload(entry)["article6"]
    assert [f["serial"] for f in a6["first_transfers"]] == [serial(world, 1, 600_000)]
    assert a6["corresponding_adjustments"][0]["quantity_kg"] == 600_000
    supply = world.ok("GET", "/v1/supply", None)
    assert supply["by_state_kg"]["exported"] == 600_000 and supply["balanced"]
    # Exported units cannot be used here any more.
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, serials=exp["serials"]))
    assert error_code(resp) == 4005
    resp = world.post("/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                     "to_account_id": world.ids["company_acc"],
                                                     "serials": exp["serials"]})
    assert error_code(resp) == 4005
    # The ITMO id resolves back to its serial: stable and reversible.
    itmo = world.ok("GET", f"/v1/itmos/{exp['blocks'][0]['itmo_last_id']}", None)
    assert (itmo["serial"], itmo["tonne"]) == (serial(world, 599_001, 600_000), 600)
    assert itmo["states"] == ["exported"] and itmo["first_transfers"][0]["event"] == "international_transfer"
    assert error_code(world.get("/v1/itmos/CA0007-IDN01-IDN-1001000000001-2025")) == 1005
    assert error_code(world.get("/v1/itmos/CA0008-THA01-THA-1001000000001-2025")) == 1005  # another approach
    assert error_code(world.get("/v1/itmos/CA0007-THA01-THA-1001000002001-2025")) == 1005  # not authorized
    assert error_code(world.get("/v1/itmos/THA01-garbage")) == 2002
    got = world.ok("GET", f"/v1/exports/{exp['id']}", "proponent")
    assert got["id"] == exp["id"]
    assert error_code(world.get(f"/v1/exports/{exp['id']}", "company")) == 1005


def test_export_checks_purpose_party_and_entity(world: Api) -> None:
    ndc = grant(world, **ndc_only())
    attach(world, ndc, 1_000_000)
    resp = world.post("/v1/exports", "proponent", export_body(world, ndc, quantity_kg=1000, purpose="oimp"))
    assert error_code(resp) == 6003
    resp = world.post("/v1/exports", "proponent", export_body(world, ndc, quantity_kg=1000, party="SGP"))
    assert error_code(resp) == 6004
    resp = world.post("/v1/exports", "proponent", export_body(world, ndc, quantity_kg=1000, entity="Someone Else"))
    assert error_code(resp) == 6004
    # JPN is authorized and the LoA names no entity of JPN... but it names entities: only those may acquire.
    resp = world.post("/v1/exports", "proponent", export_body(world, ndc, quantity_kg=1000, party="JPN",
                                                              entity="Any KK"))
    assert error_code(resp) == 6004
    open_loa = grant(world, **ndc_only(reference="R-open", authorized_entities=[]))
    attach(world, open_loa, 10_000)
    assert world.ok("POST", "/v1/exports", "proponent", export_body(world, open_loa, quantity_kg=10_000,
                                                                    party="JPN", entity="Any KK"))["quantity_kg"]
    resp = world.post("/v1/exports", "proponent", export_body(world, ndc, quantity_kg=1000, party="THA"))
    assert error_code(resp) == 1003
    assert error_code(world.post("/v1/exports", "company", export_body(world, ndc, quantity_kg=1000))) == 1002


def test_export_needs_every_kilogram_under_the_loa(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 1_000_000)
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, serials=[serial(world, 999_001,
                                                                                             1_001_000)]))
    assert error_code(resp) == 6001
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=1_000_001))
    assert error_code(resp) == 6001
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=20_000_000))
    assert error_code(resp) == 4001
    other = grant(world, reference="R-2")
    attach(world, other, 1000)
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, serials=[serial(world, 1_000_001,
                                                                                             1_001_000)]))
    assert error_code(resp) == 6001
    # Units moved to another holder stay under the LoA; the new holder may export them.
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "serials": [serial(world, 1, 100_000)]})
    exp = world.ok("POST", "/v1/exports", "company", export_body(world, loa_id, quantity_kg=100_000,
                                                                 account="company_acc"))
    assert exp["serials"] == [serial(world, 1, 100_000)]


def test_oimp_export_with_first_transfer_at_authorization_is_a_transfer(world: Api) -> None:
    loa_id = grant(world, first_transfer_event="authorization")
    attached = attach(world, loa_id, 1_000_000)
    assert attached["first_transferred_kg"] == 1_000_000
    assert attached["corresponding_adjustments"][0]["quantity_kg"] == 1_000_000
    exp = world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=300_000,
                                                                   purpose="oimp"))
    assert (exp["first_transferred_kg"], exp["corresponding_adjustments"]) == (0, [])
    # NDC export of units already first-transferred: no second first transfer, no second CA (I6).
    exp2 = world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=300_000))
    assert exp2["first_transferred_kg"] == 0
    loa = world.ok("GET", f"/v1/authorizations/{loa_id}", None)
    assert (loa["first_transferred_kg"], loa["exported_kg"]) == (1_000_000, 600_000)


def test_oimp_export_with_first_transfer_at_use_defers_it(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 1_000_000)
    exp = world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=250_000,
                                                                   purpose="oimp"))
    assert exp["first_transferred_kg"] == 0
    status = world.ok("GET", f"/v1/article6/serials/{exp['serials'][0]}", None)
    assert status["first_transfers"] == [] and status["states"] == ["exported"]


def test_export_replay_with_the_same_key_applies_once(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 1_000_000)
    body = export_body(world, loa_id, quantity_kg=1000)
    first = world.post("/v1/exports", "proponent", body, idem="exp-1")
    again = world.post("/v1/exports", "proponent", body, idem="exp-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert world.ok("GET", f"/v1/authorizations/{loa_id}", None)["exported_kg"] == 1000
    other = export_body(world, loa_id, quantity_kg=2000)
    assert error_code(world.post("/v1/exports", "proponent", other, idem="exp-1")) == 1004
