"""Role x route: walk /openapi.json and call every operation with no key and with a key of every role.

Asserted for every operation: no 5xx, every refusal is the RULES.md envelope; every operation the
document declares as needing a key (every mutating one but the public certificate check among them)
answers 401/1001 without a key and writes nothing, and the others answer without one. For the
operations of ``POLICY`` (a table kept in step with ``domain/access.py`` and the services' ``require_role``
calls), a valid body is sent and every role outside the allowed set gets 403/1002 and writes nothing;
the table must cover every mutating route the API has (a new route needs a decision here).
"""

from __future__ import annotations

from typing import Any

import pytest
from world import Api, issuance_body, journal_seq, project_body

from sovcarbon.domain.model import Role

ROLES = ("admin", "approver", "regulator", "proponent", "vvb", "company", "intermediary", "bank", "peer")
PUBLIC_WRITES = {("POST", "/v1/certificates/verify"),
                 # peer registries: authenticated by their JWS signature, not an API key (8001/8002)
                 ("POST", "/v1/peer/messages"), ("POST", "/v1/peer/status"), ("POST", "/v1/peer/holdings")}
OFFICERS = {"admin", "approver"}
ANYONE_BUT = set(ROLES).difference

# operation -> the keys that may get past the role check (everyone else: 403 / 1002). "company" is the only
# key of the participant owning company_acc, so acts on that account's units are "company" alone.
POLICY: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/participants"): {"admin"},
    ("PATCH", "/v1/participants/{participant_id}"): {"admin"},
    ("POST", "/v1/accounts"): {"admin"},
    ("POST", "/v1/accounts/{account_id}/status"): {"admin"},
    ("POST", "/v1/projects"): {"admin", "proponent"},
    ("POST", "/v1/projects/{project_id}/validation"): {"vvb"},
    ("POST", "/v1/projects/{project_id}/registration"): {"admin"},
    ("PUT", "/v1/projects/{project_id}/mitigation-type"): {"admin"},
    ("PUT", "/v1/article6/ndc-period"): {"admin"},
    ("POST", "/v1/issuances"): {"admin"},
    ("POST", "/v1/issuances/{issuance_id}/approval"): OFFICERS,  # admin passes the gate, four-eyes stops it
    ("POST", "/v1/issuances/{issuance_id}/rejection"): OFFICERS,
    ("POST", "/v1/transfers"): {"company"},
    ("POST", "/v1/retirements"): {"company"},
    ("POST", "/v1/cancellations"): {"admin", "company"},
    ("POST", "/v1/cancellations/{cancellation_id}/approval"): OFFICERS,
    ("POST", "/v1/cancellations/{cancellation_id}/rejection"): OFFICERS,
    ("POST", "/v1/admin-transfers"): {"admin"},
    ("POST", "/v1/admin-transfers/{admin_transfer_id}/approval"): OFFICERS,
    ("POST", "/v1/admin-transfers/{admin_transfer_id}/rejection"): OFFICERS,
    ("POST", "/v1/freezes"): {"admin"},
    ("POST", "/v1/authorizations"): {"admin"},
    ("POST", "/v1/authorizations/{loa_id}/approval"): OFFICERS,
    ("POST", "/v1/authorizations/{loa_id}/rejection"): OFFICERS,
    ("POST", "/v1/authorizations/{loa_id}/amendments"): {"admin"},
    ("POST", "/v1/authorizations/{loa_id}/revocation"): {"admin"},
    ("POST", "/v1/authorizations/{loa_id}/units"): {"admin"},
    ("POST", "/v1/exports"): {"company"},
    ("POST", "/v1/labels"): {"admin"},
    ("POST", "/v1/reports/aef/{year}/close"): {"admin"},
    ("POST", "/v1/reports/aef/{year}/submissions"): {"admin"},
    ("POST", "/v1/token-holders"): {"proponent", "company", "intermediary", "bank"},
    ("POST", "/v1/token-consents"): {"company"},  # the holder's own key on its own account
    ("POST", "/v1/token-consents/{consent_id}/revocation"): {"company"},
    ("POST", "/v1/tokenizations"): {"company"},
    ("POST", "/v1/reconciliation"): {"admin"},
    ("POST", "/v1/bridge/actions"): {"admin"},
    ("POST", "/v1/bridge/actions/{action_id}/approval"): {"approver"},
    ("POST", "/v1/bridge/dead-letters/{dead_letter_id}/retry"): {"admin"},
    ("POST", "/v1/peers"): {"admin"},
    ("POST", "/v1/peers/{peer_id}/approval"): OFFICERS,
    ("POST", "/v1/peers/{peer_id}/rejection"): OFFICERS,
    ("POST", "/v1/peers/{peer_id}/keys"): {"admin"},
    ("POST", "/v1/peers/{peer_id}/keys/{key_id}/approval"): OFFICERS,
    ("POST", "/v1/peers/{peer_id}/keys/{key_id}/rejection"): OFFICERS,
    ("POST", "/v1/peer-transfers"): {"company"},
    ("POST", "/v1/peer-deliveries"): {"company"},
    ("POST", "/v1/peer/sync"): {"admin"},
    ("POST", "/v1/peer/reconciliations"): {"admin"},
    ("POST", "/v1/dvp-orders"): {"intermediary"},  # a licensed intermediary orders a DvP
    ("POST", "/v1/liens"): {"company"},  # the holder's own account (company_acc)
    ("POST", "/v1/liens/{lien_id}/accept"): {"bank"},  # the pledgee's acts: a bank key
    ("POST", "/v1/liens/{lien_id}/release"): {"bank"},
    ("POST", "/v1/liens/{lien_id}/default"): {"bank"},
    ("POST", "/v1/liens/{lien_id}/enforce"): {"bank"},
    ("POST", "/v1/liens/{lien_id}/withdraw"): {"proponent", "company", "intermediary", "bank"},  # the pledgor
}
# Operations whose valid body is written below; the others get "{}" and only the generic assertions.
PERIOD = {"start": "2025-01-01", "end": "2025-12-31"}


def _bodies(w: Api) -> dict[tuple[str, str], Any]:
    acc = w.ids["company_acc"]
    return {
        ("POST", "/v1/participants"): {"name": "New Co", "kind": "company", "country": "TH"},
        ("PATCH", "/v1/participants/{participant_id}"): {"kyc_status": "verified"},
        ("POST", "/v1/accounts"): {"participant_id": w.ids["company"], "kind": "holding"},
        ("POST", "/v1/accounts/{account_id}/status"): {"status": "active", "reason": "matrix"},
        ("POST", "/v1/projects"): project_body(w.ids["foundation"]),
        ("POST", "/v1/projects/{project_id}/validation"): {"report": "ok"},
        ("POST", "/v1/projects/{project_id}/registration"): None,
        ("PUT", "/v1/projects/{project_id}/mitigation-type"): {"mitigation_type": "Removals"},
        ("PUT", "/v1/article6/ndc-period"): {"first_year": 2031, "last_year": 2035},
        ("POST", "/v1/issuances"): issuance_body(w.ids["project"], w.ids["foundation_acc"], vintage=2024,
                                                 monitoring_period={"start": "2024-01-01", "end": "2024-12-31"}),
        ("POST", "/v1/issuances/{issuance_id}/approval"): None,
        ("POST", "/v1/issuances/{issuance_id}/rejection"): {"reason": "matrix"},
        ("POST", "/v1/transfers"): {"from_account_id": acc, "to_account_id": w.ids["other_acc"], "quantity_kg": 1},
        ("POST", "/v1/retirements"): {"account_id": acc, "quantity_kg": 1, "purpose": "voluntary", "claim_year": 2025,
                                      "beneficiary": {"name": "Company", "country": "TH"}},
        ("POST", "/v1/cancellations"): {"account_id": acc, "quantity_kg": 1, "reason": "matrix"},
        ("POST", "/v1/freezes"): {"serials": [f"{w.ids['prefix']}-000000000001-000000000010"], "reason": "matrix"},
        ("POST", "/v1/cancellations/{cancellation_id}/approval"): None,
        ("POST", "/v1/cancellations/{cancellation_id}/rejection"): {"reason": "matrix"},
        ("POST", "/v1/admin-transfers"): {"from_account_id": acc, "to_account_id": w.ids["other_acc"], "quantity_kg": 1,
                                          "reason": "matrix", "legal_reference": "order 1"},
        ("POST", "/v1/admin-transfers/{admin_transfer_id}/approval"): None,
        ("POST", "/v1/admin-transfers/{admin_transfer_id}/rejection"): {"reason": "matrix"},
        ("POST", "/v1/authorizations/{loa_id}/approval"): None,
        ("POST", "/v1/authorizations/{loa_id}/rejection"): {"reason": "matrix"},
        ("POST", "/v1/labels"): {"serials": [f"{w.ids['prefix']}-000000000001-000000000010"],
                                 "label": "corsia_eligible", "reference": "matrix"},
        ("POST", "/v1/token-consents"): {"holder_account_id": acc, "intermediary_id": w.ids["other"], "max_kg": 1},
        ("POST", "/v1/bridge/actions"): {"kind": "unfreeze_lot", "target": "lot_matrix", "reason": "matrix"},
        ("POST", "/v1/reports/aef/{year}/close"): None,
        ("POST", "/v1/reports/aef/{year}/submissions"): None,
        ("POST", "/v1/reconciliation"): None,
        ("POST", "/v1/bridge/dead-letters/{dead_letter_id}/retry"): None,
        ("POST", "/v1/liens"): {"account_id": acc, "pledgee_id": w.ids["other"], "quantity_kg": 1},
    }


def _fill(path: str, w: Api) -> str:
    values = {"participant_id": w.ids["company"], "account_id": w.ids["company_acc"], "project_id": w.ids["project"],
              "issuance_id": w.ids.get("pending_issuance", w.ids["issuance"]), "year": "2025",
              "serial": f"{w.ids['prefix']}-000000000001-000000000010"}
    out = path
    for part in path.split("{")[1:]:
        name = part.split("}")[0]
        out = out.replace("{" + name + "}", values.get(name, f"{name.split('_')[0][:4]}_0000000000matrix"))
    return out


@pytest.fixture
def matrix(world: Api) -> Api:
    for who, role in (("intermediary", Role.INTERMEDIARY), ("bank", Role.BANK), ("peer", Role.PEER_REGISTRY)):
        world.key(who, role, world.ids["other"])
    pending = world.ok("POST", "/v1/issuances", "admin", issuance_body(
        world.ids["project"], world.ids["foundation_acc"], vintage=2023,
        monitoring_period={"start": "2023-01-01", "end": "2023-12-31"}))
    world.ids["pending_issuance"] = pending["id"]
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "quantity_kg": 1_000_000})
    return world


def _operations(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    return sorted((method.upper(), path) for path, item in spec["paths"].items() for method in item)


def _key_required(api: Api) -> set[tuple[str, str]]:
    """Operations the OpenAPI document says need a key (security scheme without an anonymous option)."""
    spec = api.client.get("/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method, op in item.items()
            if op.get("security") == [{"bearerAuth": []}]}


def _envelope_or_success(resp: Any, what: str) -> None:
    # 503 only as the envelope of "no chain attached" (1007): this app runs without a chain.
    assert resp.status_code < 500 or (resp.status_code == 503 and resp.json()["error"]["code"] == 1007), (
        what, resp.status_code, resp.text)
    if resp.status_code >= 400:
        body = resp.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "name", "message", "details"}, (what, body)


def _call(api: Api, method: str, path: str, who: str | None, body: Any) -> Any:
    headers = api.headers(who)
    if method == "GET":
        return api.client.get(path, headers=headers)
    return api.client.request(method, path, json=body, headers=headers)


def test_the_policy_table_covers_every_mutating_route(api: Api) -> None:
    mutating = {op for op in _operations(api) if op[0] != "GET"} - PUBLIC_WRITES
    assert mutating == set(POLICY), ("decide who may call:", mutating - set(POLICY), "gone:", set(POLICY) - mutating)


def test_without_a_key_every_mutating_route_is_401_and_nothing_else_fails(matrix: Api) -> None:
    bodies = _bodies(matrix)
    before = journal_seq(matrix)
    needs_key = _key_required(matrix)
    assert {op for op in _operations(matrix) if op[0] != "GET"} - PUBLIC_WRITES <= needs_key
    for method, path in _operations(matrix):
        url = _fill(path, matrix)
        resp = _call(matrix, method, url, None, bodies.get((method, path), {}))
        _envelope_or_success(resp, f"{method} {path} without key")
        if (method, path) in needs_key:
            assert resp.status_code == 401 and resp.json()["error"]["code"] == 1001, (method, path, resp.text)
        else:
            assert resp.status_code != 401, (method, path, resp.text)  # declared public: no key needed
    assert journal_seq(matrix) == before


def test_every_role_on_every_route_never_5xx_and_forbidden_roles_get_1002(matrix: Api) -> None:
    bodies = _bodies(matrix)
    for method, path in _operations(matrix):
        url = _fill(path, matrix)
        has_body = (method, path) in bodies
        body = bodies.get((method, path), {})
        allowed = POLICY.get((method, path), set(ROLES))
        # Refused roles first (they change nothing), then the allowed ones (they may succeed and write).
        for who in sorted(ROLES, key=lambda r: r in allowed):
            before = journal_seq(matrix)
            resp = _call(matrix, method, url, who, body)
            _envelope_or_success(resp, f"{method} {path} as {who}")
            if method == "GET":
                continue
            if who not in allowed:
                assert resp.status_code >= 400, (method, path, who, resp.text)
                assert journal_seq(matrix) == before, (method, path, who)
                if has_body:
                    assert resp.status_code == 403 and resp.json()["error"]["code"] == 1002, (
                        method, path, who, resp.text)
            elif has_body and resp.status_code == 403:
                # An allowed role is never refused by the role check itself (four-eyes, controls may refuse).
                details = resp.json()["error"]["details"]
                assert "allowed" not in details, (method, path, who, resp.text)
