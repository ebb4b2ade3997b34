"""Idempotency keys: a replay returns the first result and applies nothing twice; another body is 1004."""

from __future__ import annotations

from world import Api, error_code, journal_seq


def test_replay_returns_the_first_result(world: Api) -> None:
    body = {"from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
            "quantity_kg": 777}
    first = world.post("/v1/transfers", "proponent", body, idem="order-42")
    assert first.status_code == 201
    seq = journal_seq(world)
    again = world.post("/v1/transfers", "proponent", body, idem="order-42")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert journal_seq(world) == seq
    holdings = world.ok("GET", f"/v1/accounts/{world.ids['company_acc']}/holdings", "company")
    assert holdings["free_kg"] == 777


def test_same_key_other_body_is_1004(world: Api) -> None:
    body = {"from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
            "quantity_kg": 100}
    assert world.post("/v1/transfers", "proponent", body, idem="k1").status_code == 201
    seq = journal_seq(world)
    resp = world.post("/v1/transfers", "proponent", {**body, "quantity_kg": 101}, idem="k1")
    assert error_code(resp) == 1004 and journal_seq(world) == seq
    # Keys are scoped to the caller: another key may use the same string.
    other = world.post("/v1/retirements", "company", {"account_id": world.ids["company_acc"], "quantity_kg": 1,
                                                      "beneficiary": {"name": "x", "country": "TH"},
                                                      "purpose": "voluntary", "claim_year": 2025}, idem="k1")
    assert other.status_code == 201


def test_failed_requests_are_not_remembered(world: Api) -> None:
    body = {"from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
            "quantity_kg": 10_000_000_000}
    assert error_code(world.post("/v1/transfers", "proponent", body, idem="retry-me")) == 4001
    body["quantity_kg"] = 5
    assert world.post("/v1/transfers", "proponent", body, idem="retry-me").status_code == 201


def test_bad_keys_are_1003(world: Api) -> None:
    body = {"from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"], "quantity_kg": 1}
    assert error_code(world.post("/v1/transfers", "proponent", body, idem="x" * 201)) == 1003
