"""Letters of Authorization: four-eyes grant, versions, the signed document by hash, attaching units
within the maximum, amendments and revocations that never touch first-transferred units."""

from __future__ import annotations

import hashlib

from a6_world import LOA_DOCUMENT, attach, export_body, grant, loa_body, ndc_only, serial
from world import Api, error_code, setup_world


def test_grant_is_four_eyes_and_keeps_the_signed_document(world: Api) -> None:
    resp = world.post("/v1/authorizations", "proponent", loa_body())
    assert error_code(resp) == 1002
    loa = world.ok("POST", "/v1/authorizations", "admin", loa_body())
    assert (loa["status"], loa["version"], loa["pending_version"]) == ("pending_approval", 0, 1)
    assert error_code(world.post(f"/v1/authorizations/{loa['id']}/approval", "admin")) == 3003
    assert error_code(world.post(f"/v1/authorizations/{loa['id']}/approval", "company")) == 1002
    # Units cannot go under an LoA that is not granted yet.
    resp = world.post(f"/v1/authorizations/{loa['id']}/units", "admin",
                      {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000})
    assert error_code(resp) == 3002
    approved = world.ok("POST", f"/v1/authorizations/{loa['id']}/approval", "approver")
    assert (approved["status"], approved["version"], approved["pending_version"]) == ("active", 1, None)
    assert error_code(world.post(f"/v1/authorizations/{loa['id']}/approval", "approver")) == 3002
    # Every AEF authorization field is on the record.
    for key in ("reference", "authorization_date", "cooperative_approach_id", "max_quantity_kg", "metric", "gwp",
                "sectors", "activity_types", "purposes", "oimp", "first_transfer_event", "authorized_parties",
                "authorized_entities", "timeframe", "terms", "ca_method"):
        assert key in approved, key
    assert approved["itmo_registry_id"] == "THA01"
    digest = hashlib.sha256(LOA_DOCUMENT).hexdigest()
    assert approved["document"]["sha256"] == digest
    doc = world.client.get(f"/v1/authorizations/{loa['id']}/document")
    assert doc.status_code == 200 and doc.content == LOA_DOCUMENT
    assert doc.headers["etag"] == f'"{digest}"'
    kinds = [e["kind"] for e in world.ok("GET", "/v1/journal?limit=1000", None)["data"]]
    assert kinds[-2:] == ["a6_authorization_requested", "a6_authorization_approved"]


def test_rejected_grant_authorizes_nothing(world: Api) -> None:
    loa = world.ok("POST", "/v1/authorizations", "admin", loa_body())
    rejected = world.ok("POST", f"/v1/authorizations/{loa['id']}/rejection", "approver", {"reason": "no"})
    assert rejected["status"] == "rejected"
    resp = world.post(f"/v1/authorizations/{loa['id']}/units", "admin",
                      {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000})
    assert error_code(resp) == 6001


def test_loa_body_rules(world: Api) -> None:
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(oimp=[]))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(first_transfer_event=None))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin", ndc_only(oimp=["CORSIA"]))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(document=None))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(max_quantity_kg=1.5))) == 2003
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(authorized_parties=["ID"]))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin",
                                 loa_body(timeframe={"start": "2030-01-01", "end": "2021-01-01"}))) == 1003
    bad_doc = {"name": "x.pdf", "content_base64": "not base64!"}
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(document=bad_doc))) == 1003
    assert error_code(world.post("/v1/authorizations", "admin", loa_body(project_ids=["prj_missing"]))) == 1005


def test_attach_within_the_maximum(world: Api) -> None:
    loa_id = grant(world, max_quantity_kg=2_000_000)
    first = attach(world, loa_id, 1_500_000)
    assert first["attached_kg"] == 1_500_000
    assert first["units"][0]["serial"] == serial(world, 1, 1_500_000)
    assert first["units"][0]["itmo_first_id"] == "CA0007-THA01-THA-1001000000001-2025"
    assert first["units"][0]["itmo_last_id"] == "CA0007-THA01-THA-1001000001500-2025"
    resp = world.post(f"/v1/authorizations/{loa_id}/units", "admin",
                      {"account_id": world.ids["foundation_acc"], "quantity_kg": 600_000})
    assert error_code(resp) == 6002
    # A quantity is taken from units not yet under any LoA: the next serials.
    second = attach(world, loa_id, 500_000)
    assert second["units"][0]["serial"] == serial(world, 1_500_001, 2_000_000)
    # The same kilograms never go under two LoAs.
    other = grant(world, reference="TGO-LOA-2026-002")
    resp = world.post(f"/v1/authorizations/{other}/units", "admin", {"serials": [serial(world, 1, 10)]})
    assert error_code(resp) == 6008 and resp.status_code == 409
    assert error_code(world.post(f"/v1/authorizations/{loa_id}/units", "proponent",
                                 {"serials": [serial(world, 3_000_001, 3_000_010)]})) == 1002


def test_attach_checks_units_vintage_and_project(world: Api) -> None:
    later = grant(world, timeframe={"start": "2026-01-01", "end": "2030-12-31"})
    resp = world.post(f"/v1/authorizations/{later}/units", "admin", {"serials": [serial(world, 1, 1000)]})
    assert error_code(resp) == 6001
    elsewhere = grant(world, reference="R2", project_ids=[world.ids["project"]])
    assert attach(world, elsewhere, 1000)["quantity_kg"] == 1000
    ret = world.ok("POST", "/v1/retirements", "proponent", {
        "account_id": world.ids["foundation_acc"], "serials": [serial(world, 5_000_001, 5_000_100)],
        "beneficiary": {"name": "F", "country": "TH"}, "purpose": "voluntary", "claim_year": 2026})
    resp = world.post(f"/v1/authorizations/{elsewhere}/units", "admin", {"serials": ret["serials"]})
    assert error_code(resp) == 4004
    # Buffer units are not held by the account named.
    resp = world.post(f"/v1/authorizations/{elsewhere}/units", "admin",
                      {"account_id": world.ids["foundation_acc"], "serials": [serial(world, 9_500_001, 9_500_010)]})
    assert error_code(resp) == 4002


def test_standard_t_ver_can_never_be_authorized_or_exported(api: Api) -> None:
    setup_world(api, standard="T-VER")
    loa_id = grant(api)
    resp = api.post(f"/v1/authorizations/{loa_id}/units", "admin", {"serials": [serial(api, 1, 1000)]})
    assert error_code(resp) == 5002
    resp = api.post(f"/v1/authorizations/{loa_id}/units", "admin",
                    {"account_id": api.ids["foundation_acc"], "quantity_kg": 1000})
    assert error_code(resp) == 5002
    resp = api.post("/v1/exports", "proponent", export_body(api, loa_id, serials=[serial(api, 1, 1000)]))
    assert error_code(resp) == 5002
    resp = api.post("/v1/labels", "admin", {"serials": [serial(api, 1, 1000)], "label": "corsia_eligible",
                                            "reference": "attestation"})
    assert error_code(resp) == 5002


def test_amendments_keep_versions_and_never_drop_below_first_transfers(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 2_000_000)
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=1_200_000))
    # Below the first-transferred kilograms: locked.
    resp = world.post(f"/v1/authorizations/{loa_id}/amendments", "admin", loa_body(max_quantity_kg=1_000_000))
    assert error_code(resp) == 6005
    # Below the attached kilograms: detach (partial revocation) first.
    resp = world.post(f"/v1/authorizations/{loa_id}/amendments", "admin", loa_body(max_quantity_kg=1_500_000))
    assert error_code(resp) == 6002
    # What was authorized and how it is accounted cannot change.
    resp = world.post(f"/v1/authorizations/{loa_id}/amendments", "admin", loa_body(purposes=["ndc"], oimp=[],
                                                                                   first_transfer_event=None))
    assert error_code(resp) == 1003
    amended = world.ok("POST", f"/v1/authorizations/{loa_id}/amendments", "admin",
                       loa_body(max_quantity_kg=8_000_000, document=None, terms="raised"))
    assert amended["pending_version"] == 2 and amended["max_quantity_kg"] == 5_000_000
    resp = world.post(f"/v1/authorizations/{loa_id}/amendments", "admin", loa_body(max_quantity_kg=9_000_000))
    assert error_code(resp) == 3002
    assert error_code(world.post(f"/v1/authorizations/{loa_id}/approval", "admin")) == 3003
    done = world.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    assert (done["version"], done["max_quantity_kg"], done["terms"]) == (2, 8_000_000, "raised")
    assert [v["status"] for v in done["versions"]] == ["approved", "approved"]
    assert done["versions"][0]["fields"]["max_quantity_kg"] == 5_000_000
    assert done["document"]["sha256"] == hashlib.sha256(LOA_DOCUMENT).hexdigest()


def test_revoke_only_what_is_not_first_transferred(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 2_000_000)
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=500_000))
    resp = world.post(f"/v1/authorizations/{loa_id}/revocation", "admin", {"reason": "withdrawn"})
    assert error_code(resp) == 6005
    resp = world.post(f"/v1/authorizations/{loa_id}/revocation", "admin",
                      {"reason": "withdrawn", "serials": [serial(world, 400_001, 600_000)]})
    assert error_code(resp) == 6005
    resp = world.post(f"/v1/authorizations/{loa_id}/revocation", "admin",
                      {"reason": "withdrawn", "serials": [serial(world, 1_900_001, 2_100_000)]})
    assert error_code(resp) == 6001
    world.ok("POST", f"/v1/authorizations/{loa_id}/revocation", "admin",
             {"reason": "withdrawn", "serials": [serial(world, 1_000_001, 2_000_000)]})
    done = world.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    assert (done["status"], done["released_kg"], done["attached_kg"]) == ("active", 1_000_000, 1_000_000)
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, serials=[serial(world, 1_500_001,
                                                                                          1_500_010)]))
    assert error_code(resp) == 6001
    status = world.ok("GET", f"/v1/article6/serials/{serial(world, 1, 2_000_000)}", None)
    assert [a["serial"] for a in status["authorizations"]] == [serial(world, 1, 1_000_000)]


def test_full_revocation_ends_the_authorization(world: Api) -> None:
    loa_id = grant(world, purposes=["ndc"], oimp=[], first_transfer_event=None)
    attach(world, loa_id, 1_000_000)
    world.ok("POST", f"/v1/authorizations/{loa_id}/revocation", "admin", {"reason": "policy change"})
    done = world.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    assert (done["status"], done["attached_kg"], done["released_kg"]) == ("revoked", 0, 1_000_000)
    resp = world.post("/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=1000))
    assert error_code(resp) == 6001
    assert error_code(world.post(f"/v1/authorizations/{loa_id}/units", "admin",
                                 {"serials": [serial(world, 1, 10)]})) == 6001
