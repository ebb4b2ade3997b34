"""Pledges of registry units to banks over HTTP (services/pledges.py, routes_pledges.py): the lien state machine
with real roles, pledged units refused by every holder movement (4003), forced transfers taking free units
first, refusals changing nothing, statements and supply; the shared checker (LIEN) runs after every test."""

from __future__ import annotations

from typing import Any

import pytest
from world import Api, error_code, journal_seq, rejected

from sovcarbon.domain.model import Role
from sovcarbon.services import invariants


@pytest.fixture
def bank_world(world: Api) -> Api:
    """The foundation's 9,000,000 kg; a bank (participant of kind bank, a bank-role key, a holding account)."""
    bank = world.ok("POST", "/v1/participants", "admin",
                    {"name": "Krungthai Bank", "kind": "bank", "country": "TH", "kyc_status": "verified"})
    world.ids["bank"] = bank["id"]
    world.ids["bank_acc"] = world.ok("POST", "/v1/accounts", "admin",
                                     {"participant_id": bank["id"], "kind": "holding"})["id"]
    world.key("bank", Role.BANK, bank["id"])
    world.key("bank_holder_key", Role.HOLDER, bank["id"])  # the bank's own key of another role
    return world


def _free(api: Api, account: str) -> int:
    free: int = api.ok("GET", f"/v1/accounts/{api.ids[account]}/holdings", "admin")["free_kg"]
    return free


def _request(api: Api, kg: int, who: str = "proponent", account: str = "foundation_acc") -> Any:
    return api.post("/v1/liens", who, {"account_id": api.ids[account], "pledgee_id": api.ids["bank"],
                                       "quantity_kg": kg})


def _active(api: Api, kg: int) -> dict[str, Any]:
    lien = _request(api, kg)
    assert lien.status_code == 201, lien.text
    lien_id = lien.json()["id"]
    return api.ok("POST", f"/v1/liens/{lien_id}/accept", "bank")


def test_requested_accepted_partly_released_then_fully_released(bank_world: Api) -> None:
    w = bank_world
    free = _free(w, "foundation_acc")
    lien = _request(w, 500_000).json()
    assert (lien["status"], lien["remaining_kg"], lien["pledged_serials"]) == ("requested", 500_000, [])
    assert _free(w, "foundation_acc") == free  # nothing is locked before the bank accepts
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/accept", "bank")
    assert lien["status"] == "active" and sum(s["quantity_kg"] for s in lien["pledged_serials"]) == 500_000
    holdings = w.ok("GET", f"/v1/accounts/{w.ids['foundation_acc']}/holdings", "proponent")
    assert holdings["free_kg"] == free - 500_000 and holdings["totals_kg"]["pledged"] == 500_000
    assert holdings["pledged_kg"] == 500_000 and [x["id"] for x in holdings["liens"]] == [lien["id"]]
    assert all(b["lien_id"] == lien["id"] for b in holdings["by_state"]["pledged"])
    supply = w.ok("GET", "/v1/supply", None)
    assert supply["by_state_kg"]["pledged"] == 500_000 and supply["pledged_kg"] == 500_000 and supply["balanced"]
    # the pledgor trying to release: 1002, nothing written
    before = journal_seq(w)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "proponent", {"quantity_kg": 100_000}), 1002, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 500_001}), 4001, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 0}), 2003, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 1.5}), 2003, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/accept", "bank"), 1008, before)  # already active
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 200_000})
    assert (lien["status"], lien["released_kg"], lien["remaining_kg"]) == ("active", 200_000, 300_000)
    assert _free(w, "foundation_acc") == free - 300_000
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/release", "bank")
    assert (lien["status"], lien["remaining_kg"], lien["pledged_serials"]) == ("released", 0, [])
    assert _free(w, "foundation_acc") == free
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 1}), 1008, journal_seq(w))
    # statements: the holder's and the bank's
    assert [x["id"] for x in w.ok("GET", "/v1/liens?side=pledgor", "proponent")["data"]] == [lien["id"]]
    assert [x["id"] for x in w.ok("GET", "/v1/liens?side=pledgee", "bank")["data"]] == [lien["id"]]
    assert w.ok("GET", "/v1/liens", "company")["data"] == []
    assert error_code(w.get(f"/v1/liens/{lien['id']}", "company")) == 1005
    assert [h["step"] for h in w.ok("GET", f"/v1/liens/{lien['id']}", "regulator")["history"]] == [
        "requested", "accepted", "released", "released"]


def test_default_then_enforcement_to_the_bank_never_beyond_the_lien(bank_world: Api) -> None:
    w = bank_world
    lien = _active(w, 400_000)
    before = journal_seq(w)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/enforce", "bank", {"quantity_kg": 1}), 1008, before)  # no default
    rejected(w, w.post(f"/v1/liens/{lien['id']}/default", "proponent"), 1002, before)
    w.ok("POST", f"/v1/liens/{lien['id']}/default", "bank")
    before = journal_seq(w)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/enforce", "bank", {"quantity_kg": 400_001}), 4001, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/enforce", "bank_holder_key", {"quantity_kg": 1}), 1002, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/enforce", "bank",
                       {"quantity_kg": 1, "to_account_id": w.ids["company_acc"]}), 1002, before)  # not its account
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/enforce", "bank", {"quantity_kg": 150_000})
    assert (lien["status"], lien["enforced_kg"], lien["remaining_kg"]) == ("defaulted", 150_000, 250_000)
    assert _free(w, "bank_acc") == 150_000
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/enforce", "bank")
    assert (lien["status"], lien["remaining_kg"]) == ("enforced", 0)
    assert _free(w, "bank_acc") == 400_000
    # the bank's units are free: it transfers them on
    w.ok("POST", "/v1/transfers", "bank_holder_key", {"from_account_id": w.ids["bank_acc"],
                                                      "to_account_id": w.ids["company_acc"], "quantity_kg": 400_000})


def test_pledged_units_do_not_move_by_any_holder_path(bank_world: Api) -> None:
    w = bank_world
    free = _free(w, "foundation_acc")
    lien = _active(w, free - 1_000)  # 1,000 kg stay free
    serial = lien["pledged_serials"][0]
    named = f"{serial['serial_prefix']}-{serial['first_kg']:012d}-{serial['first_kg'] + 9:012d}"
    acc, to = w.ids["foundation_acc"], w.ids["company_acc"]
    before = journal_seq(w)
    # a transfer that fits only by counting pledged kg: 4003, not 4001; beyond everything held: 4001
    rejected(w, w.post("/v1/transfers", "proponent", {"from_account_id": acc, "to_account_id": to,
                                                      "quantity_kg": 1_001}), 4003, before)
    rejected(w, w.post("/v1/transfers", "proponent", {"from_account_id": acc, "to_account_id": to,
                                                      "quantity_kg": free + 1}), 4001, before)
    rejected(w, w.post("/v1/transfers", "proponent", {"from_account_id": acc, "to_account_id": to,
                                                      "serials": [named]}), 4003, before)
    # pledge then retire: 4003 (by quantity and by serials); cancellation and another lien beyond the free kg too
    retire = {"account_id": acc, "beneficiary": {"name": "Foundation", "country": "TH"}, "purpose": "voluntary",
              "claim_year": 2025}
    rejected(w, w.post("/v1/retirements", "proponent", {**retire, "quantity_kg": 2_000}), 4003, before)
    rejected(w, w.post("/v1/retirements", "proponent", {**retire, "serials": [named]}), 4003, before)
    rejected(w, w.post("/v1/cancellations", "proponent", {"account_id": acc, "serials": [named],
                                                          "reason": "x"}), 4003, before)
    rejected(w, _request(w, 1_001), 4001, before)
    # the free kg still move
    w.ok("POST", "/v1/transfers", "proponent", {"from_account_id": acc, "to_account_id": to, "quantity_kg": 1_000})
    assert invariants.check(w.reg) == []


def test_only_the_holder_requests_only_to_a_bank_and_withdraws_while_requested(bank_world: Api) -> None:
    w = bank_world
    acc = w.ids["foundation_acc"]
    before = journal_seq(w)
    rejected(w, _request(w, 1_000, who="company"), 1002, before)  # not its account
    rejected(w, _request(w, 1_000, who="bank"), 1002, before)
    rejected(w, _request(w, 1_000, who="admin"), 1002, before)  # officers never act on holdings
    rejected(w, w.post("/v1/liens", "proponent", {"account_id": acc, "pledgee_id": w.ids["company"],
                                                  "quantity_kg": 1_000}), 5004, before)  # no bank
    rejected(w, _request(w, 0), 2003, before)
    rejected(w, _request(w, 99_000_000), 4001, before)
    lien = _request(w, 1_000).json()
    before = journal_seq(w)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/withdraw", "bank_holder_key"), 1002, before)
    rejected(w, w.post(f"/v1/liens/{lien['id']}/accept", "proponent"), 1002, before)
    assert w.ok("POST", f"/v1/liens/{lien['id']}/withdraw", "proponent")["status"] == "withdrawn"
    rejected(w, w.post(f"/v1/liens/{lien['id']}/accept", "bank"), 1008, journal_seq(w))


def test_acceptance_checks_the_free_balance_again(bank_world: Api) -> None:
    w = bank_world
    free = _free(w, "foundation_acc")
    first = _request(w, free - 100).json()
    second = _request(w, 200).json()
    w.ok("POST", f"/v1/liens/{first['id']}/accept", "bank")
    rejected(w, w.post(f"/v1/liens/{second['id']}/accept", "bank"), 4001, journal_seq(w))


def test_idempotent_request(bank_world: Api) -> None:
    w = bank_world
    body = {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"], "quantity_kg": 5_000}
    first = w.post("/v1/liens", "proponent", body, idem="lien-1")
    again = w.post("/v1/liens", "proponent", body, idem="lien-1")
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert len(w.ok("GET", "/v1/liens", "bank")["data"]) == 1


def test_forced_transfer_takes_free_units_first_then_the_newest_lien(bank_world: Api) -> None:
    w = bank_world
    free = _free(w, "foundation_acc")
    older = _active(w, 1_000_000)
    newer = _active(w, 2_000_000)
    left = free - 3_000_000
    body = {"from_account_id": w.ids["foundation_acc"], "to_account_id": w.ids["other_acc"],
            "quantity_kg": left + 500_000, "reason": "court order", "legal_reference": "Civil Court 1/2026"}
    adt = w.ok("POST", "/v1/admin-transfers", "admin", body)
    adt = w.ok("POST", f"/v1/admin-transfers/{adt['id']}/approval", "approver")
    assert adt["status"] == "transferred"
    assert _free(w, "other_acc") == left + 500_000  # arrived free, held, no lien
    assert _free(w, "foundation_acc") == 0
    newer = w.ok("GET", f"/v1/liens/{newer['id']}", "bank")
    older = w.ok("GET", f"/v1/liens/{older['id']}", "bank")
    assert (newer["remaining_kg"], newer["released_kg"], newer["status"]) == (1_500_000, 500_000, "active")
    assert older["remaining_kg"] == 1_000_000  # the free units and the newest lien went first
    assert newer["history"][-1]["step"] == "taken_by_administrative_transfer"
    # beyond free + pledged: 4001
    body["quantity_kg"] = 2_500_001
    rejected(w, w.post("/v1/admin-transfers", "admin", body), 4001, journal_seq(w))


def test_cli_lists_liens(bank_world: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sovcarbon.cli import app as cli_app

    reg = bank_world.reg
    if reg.settings.database_url.startswith("postgresql"):
        pytest.skip("the CLI reads the configured store; the SQLite run covers it")
    lien = _active(bank_world, 12_345)
    monkeypatch.setenv("SOVCARBON_DATA_DIR", str(reg.settings.data_dir))
    monkeypatch.setenv("SOVCARBON_DATABASE_URL", reg.settings.database_url)
    result = CliRunner().invoke(cli_app, ["liens", "list", "--status", "active"])
    assert result.exit_code == 0, result.output
    import json

    [row] = json.loads(result.output)
    assert (row["id"], row["remaining_kg"], row["pledgee_id"]) == (lien["id"], 12_345, bank_world.ids["bank"])
    result = CliRunner().invoke(cli_app, ["liens", "list", "--status", "released"])
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_a_freeze_splitting_pledged_units_keeps_their_lien(bank_world: Api) -> None:
    """A discrepancy freeze inside a lien's serials splits its pledged blocks: the pieces keep the lien id (LIEN
    holds), frozen pledged kg are not released (4006), and after the unfreeze the whole lien releases."""
    w = bank_world
    lien = _active(w, 300_000)
    s = lien["pledged_serials"][0]
    inside = f"{s['serial_prefix']}-{s['first_kg'] + 100:012d}-{s['first_kg'] + 199:012d}"
    w.ok("POST", "/v1/freezes", "admin", {"serials": [inside], "reason": "discrepancy"})
    assert invariants.check(w.reg) == []
    held = w.ok("GET", f"/v1/accounts/{w.ids['foundation_acc']}/holdings", "proponent")
    assert {b["lien_id"] for b in held["by_state"]["pledged"]} == {lien["id"]} and len(held["by_state"]["pledged"]) == 3
    rejected(w, w.post(f"/v1/liens/{lien['id']}/release", "bank"), 4006, journal_seq(w))
    part = w.ok("POST", f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 299_900})
    assert part["remaining_kg"] == 100
    w.ok("POST", "/v1/freezes", "admin", {"serials": [inside], "reason": "resolved", "frozen": False})
    assert w.ok("POST", f"/v1/liens/{lien['id']}/release", "bank")["status"] == "released"
