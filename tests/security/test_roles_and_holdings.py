"""Roles, four-eyes and acts on holdings (docs/security.md, same section; rules: domain/access.py,
domain/admin_transfer.py). Every refusal is checked to write nothing (the journal head does not move)."""

from __future__ import annotations

from typing import Any

from a6_world import attach, export_body, grant, loa_body
from token_world import make_token_world
from world import Api, error_code, journal_seq, rejected

from sovcarbon.domain.model import Role
from sovcarbon.services import auth


def serial(api: Api, first: int, last: int) -> str:
    return f"{api.ids['prefix']}-{first:012d}-{last:012d}"


def transfer_body(api: Api, **over: Any) -> dict[str, Any]:
    body = {"from_account_id": api.ids["foundation_acc"], "to_account_id": api.ids["company_acc"], "quantity_kg": 1000}
    body.update(over)
    return body


def retire_body(api: Api, account: str = "foundation_acc") -> dict[str, Any]:
    return {"account_id": api.ids[account], "quantity_kg": 1000, "beneficiary": {"name": "Co", "country": "TH"},
            "purpose": "voluntary", "claim_year": 2025}


def admin_transfer_body(api: Api, **over: Any) -> dict[str, Any]:
    body = {"from_account_id": api.ids["foundation_acc"], "to_account_id": api.ids["other_acc"],
            "quantity_kg": 2000, "reason": "court order: assets of the foundation attached",
            "legal_reference": "Civil Court Bangkok, order 123/2026"}
    body.update(over)
    return body


def kinds_since(api: Api, after_seq: int) -> list[str]:
    resp = api.get("/v1/journal", None, after_seq=after_seq, limit=1000)
    assert resp.status_code == 200, resp.text
    return [e["kind"] for e in resp.json()["data"]]


def free_kg(api: Api, account: str) -> int:
    value: int = api.ok("GET", f"/v1/accounts/{api.ids[account]}/holdings", "admin")["free_kg"]
    return value


def test_officers_and_the_regulator_never_act_on_holdings(world: Api) -> None:
    loa_id = grant(world)
    attach(world, loa_id, 1_000_000)
    before = journal_seq(world)
    for who in ("admin", "approver", "regulator"):
        rejected(world, world.post("/v1/transfers", who, transfer_body(world)), 1002, before)
        rejected(world, world.post("/v1/retirements", who, retire_body(world)), 1002, before)
        rejected(world, world.post("/v1/exports", who, export_body(world, loa_id, quantity_kg=1000)), 1002, before)
    # another holder cannot act on the foundation's account either
    rejected(world, world.post("/v1/transfers", "company", transfer_body(world)), 1002, before)
    # the holder itself can
    world.ok("POST", "/v1/transfers", "proponent", transfer_body(world))
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=1000))


def test_buffer_and_custody_accounts_are_filled_only_by_their_operations(world: Api) -> None:
    info = world.ok("GET", "/v1/registry", None)
    buffer_acc = info["buffer_account_id"]
    registry_participant = info.get("participant_id") or world.ok("GET", f"/v1/accounts/{buffer_acc}",
                                                                  "admin")["participant_id"]
    # even a holding-role key bound to the registry's own participant does not move the buffer pool
    world.key("registry_holder", Role.HOLDER, registry_participant)
    platform = world.ok("POST", "/v1/participants", "admin", {
        "name": "Platform", "kind": "intermediary", "country": "TH", "kyc_status": "verified",
        "license": {"kind": "platform", "number": "SEC-1"}})["id"]
    custody = world.ok("POST", "/v1/accounts", "admin", {"participant_id": platform, "kind": "custody"})["id"]
    before = journal_seq(world)
    rejected(world, world.post("/v1/transfers", "registry_holder",
                               transfer_body(world, from_account_id=buffer_acc)), 1002, before)
    # a holder's transfer reaches neither the buffer pool nor a custody account (1003)
    rejected(world, world.post("/v1/transfers", "proponent", transfer_body(world, to_account_id=buffer_acc)),
             1003, before)
    rejected(world, world.post("/v1/transfers", "proponent", transfer_body(world, to_account_id=custody)),
             1003, before)


def test_approvals_belong_to_a_registry_approver_who_did_not_request(world: Api) -> None:
    world.key("admin2", Role.REGISTRY_ADMIN)
    # an approver key carrying the requester's name is the same person (3003)
    world.keys["approver_same_name"] = auth.create_key(world.reg, Role.REGISTRY_APPROVER, None, "admin")[1]
    iss = world.ok("POST", "/v1/issuances", "admin", {
        "project_id": world.ids["project"], "vintage": 2026,
        "monitoring_period": {"start": "2026-01-01", "end": "2026-06-30"}, "quantity_kg": 1_000_000,
        "buffer_kg": 100_000, "account_id": world.ids["foundation_acc"]})
    can = world.ok("POST", "/v1/cancellations", "admin",
                   {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "reason": "correction"})
    own = world.ok("POST", "/v1/cancellations", "proponent",
                   {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "reason": "voluntary"})
    loa = world.ok("POST", "/v1/authorizations", "admin", loa_body())
    adt = world.ok("POST", "/v1/admin-transfers", "admin", admin_transfer_body(world))
    targets = [f"/v1/issuances/{iss['id']}", f"/v1/cancellations/{can['id']}", f"/v1/authorizations/{loa['id']}",
               f"/v1/admin-transfers/{adt['id']}"]
    before = journal_seq(world)
    for path in targets:
        for decision in ("approval", "rejection"):
            rejected(world, world.post(f"{path}/{decision}", "admin2", {}), 1002, before)  # a second admin
            rejected(world, world.post(f"{path}/{decision}", "approver_same_name", {}), 3003, before)
            for who in ("regulator", "company"):
                rejected(world, world.post(f"{path}/{decision}", who, {}), 1002, before)
    # the requester of the admin transfer and of the issuance is "admin": 3003
    rejected(world, world.post(f"/v1/admin-transfers/{adt['id']}/approval", "admin"), 3003, before)
    # a holder that requested its own cancellation cannot approve it (not an officer); an approver can
    rejected(world, world.post(f"/v1/cancellations/{own['id']}/approval", "proponent"), 1002, before)
    assert world.ok("POST", f"/v1/cancellations/{own['id']}/approval", "approver_same_name")["status"] == "cancelled"
    for path in targets:
        assert world.ok("POST", f"{path}/approval", "approver")["status"] in ("issued", "cancelled", "active",
                                                                                "transferred")


def test_administrative_transfer_is_requested_approved_and_journaled(world: Api) -> None:
    before = journal_seq(world)
    # only an admin requests; a reason and a legal reference are required; the destination is checked
    rejected(world, world.post("/v1/admin-transfers", "proponent", admin_transfer_body(world)), 1002, before)
    rejected(world, world.post("/v1/admin-transfers", "approver", admin_transfer_body(world)), 1002, before)
    rejected(world, world.post("/v1/admin-transfers", "admin", admin_transfer_body(world, reason="")), 1003, before)
    body = admin_transfer_body(world)
    del body["legal_reference"]
    rejected(world, world.post("/v1/admin-transfers", "admin", body), 1003, before)
    rejected(world, world.post("/v1/admin-transfers", "admin",
                               admin_transfer_body(world, to_account_id=world.ids["foundation_acc"])), 3005, before)
    rejected(world, world.post("/v1/admin-transfers", "admin", admin_transfer_body(world, quantity_kg=99_000_000)),
             4001, before)
    foundation_kg, other_kg = free_kg(world, "foundation_acc"), free_kg(world, "other_acc")
    adt = world.ok("POST", "/v1/admin-transfers", "admin", admin_transfer_body(world))
    assert adt["status"] == "pending_approval" and adt["legal_reference"].startswith("Civil Court")
    assert free_kg(world, "foundation_acc") == foundation_kg  # nothing moves before the approval
    assert kinds_since(world, before) == ["administrative_transfer_requested"]
    mid = journal_seq(world)
    done = world.ok("POST", f"/v1/admin-transfers/{adt['id']}/approval", "approver")
    assert done["status"] == "transferred" and done["decided_by"] and done["txn_id"]
    assert sum(b["quantity_kg"] for b in done["blocks"]) == 2000
    assert free_kg(world, "foundation_acc") == foundation_kg - 2000
    assert free_kg(world, "other_acc") == other_kg + 2000
    assert kinds_since(world, mid) == ["administrative_transfer_approved"]
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/admin-transfers/{adt['id']}/approval", "approver"), 3002, before)
    # the parties read it; a stranger does not (1005); officers and the regulator do
    for who in ("proponent", "other", "admin", "approver", "regulator"):
        assert world.ok("GET", f"/v1/admin-transfers/{adt['id']}", who)["id"] == adt["id"]
    assert error_code(world.get(f"/v1/admin-transfers/{adt['id']}", "company")) == 1005


def test_administrative_transfer_rechecks_units_at_approval_and_can_be_rejected(world: Api) -> None:
    units = [serial(world, 1, 500)]
    adt = world.ok("POST", "/v1/admin-transfers", "admin", admin_transfer_body(world, quantity_kg=None, serials=units))
    # meanwhile the holder moves those units away: the approval finds them gone and writes nothing
    world.ok("POST", "/v1/transfers", "proponent", transfer_body(world, quantity_kg=None, serials=units))
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/admin-transfers/{adt['id']}/approval", "approver"), 4002, before)
    rejected_view = world.ok("POST", f"/v1/admin-transfers/{adt['id']}/rejection", "approver",
                             {"reason": "units no longer there"})
    assert rejected_view["status"] == "rejected" and rejected_view["decision_reason"] == "units no longer there"
    assert kinds_since(world, before) == ["administrative_transfer_rejected"]
    # the buffer pool moves by an administrative transfer too (e.g. a correction of the buffer share)
    buffer_acc = world.ok("GET", "/v1/registry", None)["buffer_account_id"]
    adt = world.ok("POST", "/v1/admin-transfers", "admin",
                   admin_transfer_body(world, from_account_id=buffer_acc, to_account_id=world.ids["foundation_acc"],
                                       quantity_kg=1000, reason="buffer share corrected", legal_reference="TGO-C-7"))
    assert world.ok("POST", f"/v1/admin-transfers/{adt['id']}/approval", "approver")["status"] == "transferred"


def test_suspended_or_closed_participant_only_reads_its_own_data(world: Api) -> None:
    world.ok("POST", "/v1/transfers", "proponent", transfer_body(world, quantity_kg=5000))
    resp = world.client.patch(f"/v1/participants/{world.ids['company']}", json={"status": "suspended"},
                              headers=world.headers("admin"))
    assert resp.status_code == 200, resp.text
    before = journal_seq(world)
    company_out = transfer_body(world, from_account_id=world.ids["company_acc"], to_account_id=world.ids["other_acc"])
    rejected(world, world.post("/v1/transfers", "company", company_out), 1002, before)
    rejected(world, world.post("/v1/retirements", "company", retire_body(world, "company_acc")), 1002, before)
    rejected(world, world.post("/v1/cancellations", "company", {"account_id": world.ids["company_acc"],
                                                                "quantity_kg": 1000, "reason": "x"}), 1002, before)
    # its accounts receive nothing either (3004: the acquiring account's participant is not active)
    rejected(world, world.post("/v1/transfers", "proponent", transfer_body(world)), 3004, before)
    # it still reads its own data, and only its own
    assert world.ok("GET", f"/v1/accounts/{world.ids['company_acc']}", "company")["id"] == world.ids["company_acc"]
    assert error_code(world.get(f"/v1/accounts/{world.ids['foundation_acc']}", "company")) == 1005
    # active again: it acts again
    resp = world.client.patch(f"/v1/participants/{world.ids['company']}", json={"status": "active"},
                              headers=world.headers("admin"))
    assert resp.status_code == 200, resp.text
    world.ok("POST", "/v1/transfers", "company", company_out)
    # closed is final: the key only reads, the status never comes back
    for status in ("closed",):
        resp = world.client.patch(f"/v1/participants/{world.ids['company']}", json={"status": status},
                                  headers=world.headers("admin"))
        assert resp.status_code == 200, resp.text
    before = journal_seq(world)
    rejected(world, world.post("/v1/retirements", "company", retire_body(world, "company_acc")), 1002, before)
    resp = world.client.patch(f"/v1/participants/{world.ids['company']}", json={"status": "active"},
                              headers=world.headers("admin"))
    rejected(world, resp, 1008, before)


def test_cancellations_are_read_by_officers_the_regulator_and_their_holder_only(world: Api) -> None:
    can = world.ok("POST", "/v1/cancellations", "proponent",
                   {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "reason": "voluntary"})
    for who in ("proponent", "admin", "approver", "regulator"):
        assert world.ok("GET", f"/v1/cancellations/{can['id']}", who)["id"] == can["id"]
    for who in ("company", "vvb"):
        assert error_code(world.get(f"/v1/cancellations/{can['id']}", who)) == 1005
    # an admin may still request a cancellation on a holder's account (a correction): four-eyes applies it
    adm = world.ok("POST", "/v1/cancellations", "admin",
                   {"account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "reason": "correction"})
    assert adm["status"] == "pending_approval"


def test_tokenization_and_onboarding_need_the_holders_own_act(world: Api) -> None:
    api = world
    make_token_world(api, None, onboard=())
    onboarding = {"participant_id": api.ids["foundation"], "intermediary_id": api.ids["platform"]}
    tokenization = {"holder_account_id": api.ids["foundation_acc"], "quantity_kg": 1000}
    before = journal_seq(api)
    # the platform (or an officer, or another holder) onboards nobody and tokenizes nothing on its own
    for who in ("platform", "admin", "company"):
        rejected(api, api.post("/v1/token-holders", who, onboarding), 1002, before)
        rejected(api, api.post("/v1/tokenizations", who, tokenization), 1002, before)
    # the holder's own key names the platform, then requests the tokenization of its units
    assert api.ok("POST", "/v1/token-holders", "proponent", onboarding)["intermediary_id"] == api.ids["platform"]
    lot = api.ok("POST", "/v1/tokenizations", "proponent", tokenization)
    assert lot["intermediary_id"] == api.ids["platform"] and lot["quantity_kg"] == 1000


def test_an_intermediary_acts_for_a_holder_only_under_its_consent(world: Api) -> None:
    api = world
    make_token_world(api, None, onboard=())
    other_platform = api.ok("POST", "/v1/participants", "admin", {
        "name": "Other platform", "kind": "intermediary", "country": "TH", "kyc_status": "verified",
        "license": {"kind": "broker", "number": "SEC-2"},
        "wallet_address": "0x" + "22" * 20})["id"]
    api.ok("POST", "/v1/accounts", "admin", {"participant_id": other_platform, "kind": "custody"})
    api.key("other_platform", Role.INTERMEDIARY, other_platform)
    consent_body = {"holder_account_id": api.ids["foundation_acc"], "intermediary_id": api.ids["platform"],
                    "max_kg": 3000}
    before = journal_seq(api)
    # only the holder's own key consents, for its own account
    for who in ("platform", "admin", "company"):
        rejected(api, api.post("/v1/token-consents", who, consent_body), 1002, before)
    rejected(api, api.post("/v1/token-consents", "proponent", {**consent_body, "max_kg": 0}), 2003, before)
    consent = api.ok("POST", "/v1/token-consents", "proponent", consent_body)
    assert consent["remaining_kg"] == 3000 and consent["status"] == "active"
    assert error_code(api.get(f"/v1/token-consents/{consent['id']}", "company")) == 1005
    assert api.ok("GET", f"/v1/token-consents/{consent['id']}", "platform")["id"] == consent["id"]
    onboard = {"participant_id": api.ids["foundation"], "consent_id": consent["id"]}
    tokenization = {"holder_account_id": api.ids["foundation_acc"], "quantity_kg": 2000, "consent_id": consent["id"]}
    before = journal_seq(api)
    # another intermediary cannot use it; without it the platform cannot act
    rejected(api, api.post("/v1/token-holders", "other_platform", onboard), 1002, before)
    rejected(api, api.post("/v1/token-holders", "platform", {"participant_id": api.ids["foundation"]}), 1002, before)
    api.ok("POST", "/v1/token-holders", "platform", onboard)
    before = journal_seq(api)
    rejected(api, api.post("/v1/tokenizations", "other_platform", tokenization), 1002, before)
    rejected(api, api.post("/v1/tokenizations", "platform", {**tokenization, "consent_id": None}), 1002, before)
    rejected(api, api.post("/v1/tokenizations", "platform", {**tokenization, "quantity_kg": 3001}), 1002, before)
    lot = api.ok("POST", "/v1/tokenizations", "platform", tokenization)
    assert lot["quantity_kg"] == 2000 and lot["intermediary_id"] == api.ids["platform"]
    assert api.ok("GET", f"/v1/token-consents/{consent['id']}", "proponent")["remaining_kg"] == 1000
    before = journal_seq(api)
    rejected(api, api.post("/v1/tokenizations", "platform", tokenization), 1002, before)  # 2000 > 1000 left
    # the holder revokes: nothing more under it; only the holder revokes
    rejected(api, api.post(f"/v1/token-consents/{consent['id']}/revocation", "platform"), 1002, before)
    assert api.ok("POST", f"/v1/token-consents/{consent['id']}/revocation", "proponent")["status"] == "revoked"
    before = journal_seq(api)
    rejected(api, api.post("/v1/tokenizations", "platform", {**tokenization, "quantity_kg": 500}), 1002, before)
