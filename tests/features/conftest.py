"""Step definitions shared by the Gherkin features beside each operation (transfer, retire, issue, cancel).

Every step goes through the real HTTP app (``world.Api``). "Nothing changed" compares the rows of every
table a write touches (blocks, transactions, retirements, certificates, cancellations, issuances, the
journal and its head, the token outbox, idempotency rows), not only the journal head.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when
from sqlalchemy import func, select
from world import Api, error_code, issuance_body, project_body, setup_world

from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

WATCHED = {"blocks": t.blocks, "transactions": t.transactions, "retirements": t.retirements,
           "certificates": t.certificates, "cancellations": t.cancellations, "issuances": t.issuances,
           "journal": t.journal, "token_outbox": tt.token_outbox, "idempotency": t.idempotency}
ACCOUNTS = {"foundation": "foundation_acc", "company": "company_acc", "other": "other_acc"}
WHO = {"proponent": "proponent", "company": "company", "admin": "admin", "approver": "approver",
       "regulator": "regulator", "other": "other"}


def kg(text: str) -> int:
    return int(text.replace(",", "").replace("_", ""))


def ledger_rows(api: Api) -> dict[str, Any]:
    """Row counts of every watched table plus the journal head: what a refused request must leave alone."""
    with api.reg.store.read() as uow:
        counts: dict[str, Any] = {name: uow.conn.execute(select(func.count()).select_from(table)).scalar_one()
                                  for name, table in WATCHED.items()}
        counts["journal_head"] = tuple(uow.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).one())
        counts["leaf_blocks"] = sorted(tuple(r) for r in uow.conn.execute(
            select(t.blocks.c.id, t.blocks.c.account_id, t.blocks.c.state, t.blocks.c.frozen)
            .where(t.blocks.c.is_leaf)))
    return counts


def serial(api: Api, first_kg: int, last_kg: int) -> str:
    return f"{api.ids['prefix']}-{first_kg:012d}-{last_kg:012d}"


@pytest.fixture(autouse=True)
def _on_each_store(api: Api) -> Api:
    """Requested statically so that every scenario runs on each store (steps request fixtures dynamically,
    which would not parametrize ``registry``)."""
    return api


@pytest.fixture
def ctx() -> dict[str, Any]:
    return {}


@given("a registry where the Foundation holds 9,000,000 kg of one Premium T-VER issuance", target_fixture="api_w")
def a_world(api: Api) -> Api:
    return setup_world(api)


@given(parsers.parse("the {account} account is {status}"))
def account_status(api_w: Api, account: str, status: str) -> None:
    resp = api_w.post(f"/v1/accounts/{api_w.ids[ACCOUNTS[account]]}/status", "admin", {"status": status})
    assert resp.status_code == 200, resp.text


@given(parsers.parse("the serials {first} to {last} of the issuance are frozen"))
def frozen_serials(api_w: Api, first: str, last: str) -> None:
    api_w.ok("POST", "/v1/freezes", "admin", {"serials": [serial(api_w, kg(first), kg(last))],
                                              "reason": "discrepancy"})


@given(parsers.parse("the proponent has retired the serials {first} to {last}"))
def retired_serials(api_w: Api, first: str, last: str) -> None:
    api_w.ok("POST", "/v1/retirements", "proponent", {
        "account_id": api_w.ids["foundation_acc"], "serials": [serial(api_w, kg(first), kg(last))],
        "purpose": "voluntary",
        "beneficiary": {"name": "Foundation", "country": "TH"}, "claim_year": 2026})


@given("the company has a retirement account")
def retirement_account(api_w: Api) -> None:
    api_w.ids["company_retirement_acc"] = api_w.ok("POST", "/v1/accounts", "admin", {
        "participant_id": api_w.ids["company"], "kind": "retirement"})["id"]


@given("the ledger as it stands is noted")
def note_ledger(api_w: Api, ctx: dict[str, Any]) -> None:
    ctx["before"] = ledger_rows(api_w)
    ctx["supply_before"] = api_w.ok("GET", "/v1/supply", None)


@when(parsers.parse("the {who} posts to {path} with {case}"))
def post_case(api_w: Api, ctx: dict[str, Any], who: str, path: str, case: str, bodies: dict[str, Any]) -> None:
    body = bodies[case](api_w)
    ctx["resp"] = api_w.post(path, WHO[who], body, idem=f"feature-{case}")
    if ctx["resp"].status_code == 201 and "id" in ctx["resp"].json():  # a request: a later step decides it
        api_w.ids["pending"] = ctx["resp"].json()["id"]
        api_w.ids["pending_path"] = f"{path}/{api_w.ids['pending']}"


@then(parsers.parse("it is refused with {code:d}"))
def refused(ctx: dict[str, Any], code: int) -> None:
    assert error_code(ctx["resp"]) == code, ctx["resp"].text


@then("nothing changed: blocks, transactions, journal, outbox and idempotency rows")
def nothing_changed(api_w: Api, ctx: dict[str, Any]) -> None:
    assert ledger_rows(api_w) == ctx["before"]


@then(parsers.parse("it succeeds with status {status:d}"))
def succeeds(ctx: dict[str, Any], status: int) -> None:
    assert ctx["resp"].status_code == status, ctx["resp"].text


@then(parsers.parse("the {account} account holds {amount} kg {state}"))
def holds_in_state(api_w: Api, account: str, amount: str, state: str) -> None:
    balances = api_w.ok("GET", f"/v1/accounts/{api_w.ids[ACCOUNTS[account]]}", "regulator")["balances_kg"]
    assert balances.get(state, 0) == kg(amount), balances


@then(parsers.parse("the supply moved {amount} kg from {src} to {dst}"))
def supply_moved(api_w: Api, ctx: dict[str, Any], amount: str, src: str, dst: str) -> None:
    before, after = ctx["supply_before"], api_w.ok("GET", "/v1/supply", None)
    assert after["issued_kg"] == before["issued_kg"] and after["balanced"]
    assert after["by_state_kg"][src] == before["by_state_kg"][src] - kg(amount)
    assert after["by_state_kg"][dst] == before["by_state_kg"][dst] + kg(amount)


@then("the supply by state is unchanged")
def supply_unchanged(api_w: Api, ctx: dict[str, Any]) -> None:
    assert api_w.ok("GET", "/v1/supply", None) == ctx["supply_before"]


@then(parsers.parse('the journal gained one entry of kind "{kind}"'))
def one_entry(api_w: Api, ctx: dict[str, Any], kind: str) -> None:
    head_seq = ctx["before"]["journal_head"][0]
    resp = api_w.get("/v1/journal", "regulator", after_seq=head_seq)
    assert resp.status_code == 200, resp.text
    entries = resp.json()["data"]
    assert [e["kind"] for e in entries] == [kind], [e["kind"] for e in entries]


# --- four-eyes operations: a pending request, then a decision -------------------------------------------------
@given("a second project that is only submitted")
def submitted_project(api_w: Api) -> None:
    api_w.ids["submitted_project"] = api_w.ok("POST", "/v1/projects", "proponent", project_body(
        api_w.ids["foundation"], name="Mangroves"))["id"]


@given(parsers.parse("the admin has requested an issuance of {amount} kg for {vintage:d}"))
def issuance_requested(api_w: Api, amount: str, vintage: int) -> None:
    api_w.ids["pending"] = api_w.ok("POST", "/v1/issuances", "admin", issuance_body(
        api_w.ids["project"], api_w.ids["foundation_acc"], quantity_kg=kg(amount), buffer_kg=kg(amount) // 10,
        vintage=vintage, monitoring_period={"start": f"{vintage}-01-01", "end": f"{vintage}-12-31"}))["id"]
    api_w.ids["pending_path"] = f"/v1/issuances/{api_w.ids['pending']}"


@given(parsers.parse("the {who} has requested the cancellation of the serials {first} to {last}"))
def cancellation_requested(api_w: Api, who: str, first: str, last: str) -> None:
    api_w.ids["pending"] = api_w.ok("POST", "/v1/cancellations", WHO[who], {
        "account_id": api_w.ids["foundation_acc"], "serials": [serial(api_w, kg(first), kg(last))],
        "reason": "double counting found by the VVB"})["id"]
    api_w.ids["pending_path"] = f"/v1/cancellations/{api_w.ids['pending']}"


@given("the approver has approved it")
def approved(api_w: Api) -> None:
    api_w.ok("POST", f"{api_w.ids['pending_path']}/approval", "approver")


@when(parsers.parse("the {who} approves the pending request"))
def approve_pending(api_w: Api, ctx: dict[str, Any], who: str) -> None:
    ctx["resp"] = api_w.post(f"{api_w.ids['pending_path']}/approval", WHO[who], None, idem="feature-approval")


@then(parsers.parse('the journal gained entries of kinds "{kinds}"'))
def entries(api_w: Api, ctx: dict[str, Any], kinds: str) -> None:
    resp = api_w.get("/v1/journal", "regulator", after_seq=ctx["before"]["journal_head"][0])
    assert resp.status_code == 200, resp.text
    assert [e["kind"] for e in resp.json()["data"]] == [k.strip() for k in kinds.split(",")]


@then(parsers.parse("the supply issued grew by {amount} kg, {held} kg held"))
def supply_grew(api_w: Api, ctx: dict[str, Any], amount: str, held: str) -> None:
    before, after = ctx["supply_before"], api_w.ok("GET", "/v1/supply", None)
    assert after["issued_kg"] == before["issued_kg"] + kg(amount) and after["balanced"]
    assert after["by_state_kg"]["held"] == before["by_state_kg"]["held"] + kg(held)
