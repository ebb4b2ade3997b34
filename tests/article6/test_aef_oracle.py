"""The AEF workbook of several scenarios read by the oracle (``aef_oracle``: the published CMA.6 rules,
not our writer): NDC export, OIMP with each first transfer definition, CORSIA use, voluntary and
domestic retirement of covered units, cancellation, revocation and amendment, year close and
resubmission. Totals are compared with the corresponding adjustments read from the journal."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from a6_world import attach, export_body, grant, journal, ndc_only, payload, serial
from aef_oracle import check_workbook
from world import Api, error_code, setup_world

from sovcarbon.domain.ids import FixedClock

T3 = "Table 3 Actions"


def ca_tonnes_by_vintage(api: Api, year: int) -> dict[int, int]:
    """Corresponding adjustments of the year, per vintage, from the journal alone."""
    out: dict[int, int] = defaultdict(int)
    for e in journal(api).values():
        if not e["created_at"].startswith(str(year)):
            continue
        a6 = payload(e).get("article6")
        plans = [a6] if a6 and "event" in a6 else (a6 or {}).get("first_transfers", [])
        for plan in plans:
            for ca in plan["corresponding_adjustments"]:
                assert ca["quantity_kg"] % 1000 == 0
                out[int(ca["vintage"])] += ca["quantity_kg"] // 1000
    return dict(out)


def oracle(api: Api, year: int) -> dict[str, Any]:
    """Fetch the year's workbook and JSON; the oracle finds no problem; both carry the same tables."""
    resp = api.get(f"/v1/reports/aef/{year}", "regulator", format="xlsx")
    assert resp.status_code == 200, resp.text
    name = re.search(r'filename="([^"]+)"', resp.headers["content-disposition"])
    assert name is not None
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    parsed, problems = check_workbook(wb, name.group(1), ca_tonnes_by_vintage(api, year))
    assert problems == []
    rep = api.ok("GET", f"/v1/reports/aef/{year}", "regulator")
    assert rep["file_name"] == name.group(1)
    for sheet, rows in parsed.tables.items():
        assert len(rep["tables"][sheet]) == len(rows), sheet
        for mine, read in zip(rep["tables"][sheet], rows, strict=True):
            for label, value in mine.items():
                got = read[label]
                if isinstance(got, datetime):
                    got = got.strftime("%d/%m/%Y")
                assert (got if got is not None else "") == value, (sheet, label)
    # Registry-internal detail lives in the annex sheets after the tables, never inside them.
    assert wb.sheetnames[7:] == ["Annex A Actions (registry)", "Annex B Holdings (registry)",
                                 "Annex C Submission (registry)"]
    for sheet in wb.sheetnames[2:7]:
        for row in wb[sheet].iter_rows(values_only=True):
            assert not any(isinstance(v, str) and (v.startswith(("loa_", "txn_", "act-")) or api.ids["prefix"] + "-0"
                                                   in v and len(v) > 40) for v in row)
    return {"parsed": parsed, "json": rep}


def kinds(rep: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(r["Action type"], r["Action subtype"], r["Quantity (t CO2 eq)"]) for r in rep["json"]["tables"][T3]]


def test_ndc_export_is_one_first_transfer_to_another_party(world: Api) -> None:
    loa_id = grant(world, **ndc_only())
    attach(world, loa_id, 1_000_000)
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=300_000))
    rep = oracle(world, 2026)
    assert kinds(rep) == [("First transfer", "First transfer to another Party", 300)]
    [row] = rep["json"]["tables"][T3]
    assert row["Acquiring participating Party ID"] == "IDN" and row["Underlying unit registry ID"] == "T-VER"
    assert row["First ID"] == "CA0007-THA01-THA-1001000000001-2025"
    assert row["Last ID"] == "CA0007-THA01-THA-1001000000300-2025"
    assert (row["First unit ID"], row["Last unit ID"]) == (f"{world.ids['prefix']}-000000001",
                                                           f"{world.ids['prefix']}-000000300")
    assert sum(h["Quantity (t CO2 eq)"] for h in rep["json"]["tables"]["Table 4 Holdings"]) == 700
    [auth] = rep["json"]["tables"]["Table 2 Authorizations"]
    assert (auth["Authorization ID"], auth["Purposes for authorization"], auth["Authorized quantity"]) == (
        "TGO-LOA-2026-001", "NDC", 5000)
    assert rep["json"]["annex"]["submission"]["status"] == "provisional"


@pytest.mark.parametrize("event", ["authorization", "issuance"])
def test_oimp_first_transfer_at_authorization_or_issuance(world: Api, event: str) -> None:
    """First transfer when the units are authorized; then CORSIA use, voluntary retirement, a four-eyes
    cancellation and an export of those first-transferred units: each one Cancellation / Transfer row."""
    ids = world.ids
    loa_id = grant(world, authorized_entities=[], first_transfer_event=event)
    attach(world, loa_id, 100_000)
    units = serial(world, 1, 100_000)
    world.ok("POST", "/v1/labels", "admin", {"serials": [units], "label": "corsia_eligible", "reference": "att-1"})
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": ids["foundation_acc"],
                                                    "to_account_id": ids["company_acc"], "serials": [units]})
    for purpose, rng in (("corsia", (1, 10_000)), ("voluntary", (10_001, 20_000))):
        world.ok("POST", "/v1/retirements", "company", {
            "account_id": ids["company_acc"], "serials": [serial(world, *rng)], "purpose": purpose,
            "claim_year": 2026, "beneficiary": {"name": "Company", "country": "TH"}})
    can = world.ok("POST", "/v1/cancellations", "admin", {"account_id": ids["company_acc"], "reason": "correction",
                                                          "serials": [serial(world, 20_001, 30_000)]})
    world.ok("POST", f"/v1/cancellations/{can['id']}/approval", "approver")
    world.ok("POST", "/v1/exports", "company", export_body(world, loa_id, account="company_acc",
                                                           serials=[serial(world, 30_001, 40_000)]))
    rep = oracle(world, 2026)
    subtype = "Authorization" if event == "authorization" else "Issuance"
    assert kinds(rep) == [("First transfer", subtype, 100), ("Cancellation", "Other cancellations", 10),
                          ("Cancellation", "Other cancellations", 10), ("Cancellation", "Other cancellations", 10),
                          ("Transfer", "Not yet defined", 10)]
    purposes = [r["Purpose for which the ITMO has been used towards or cancelled for OIMP"]
                for r in rep["json"]["tables"][T3]]
    assert purposes[1] == "CORSIA"  # a use for CORSIA stays CORSIA
    assert rep["json"]["tables"]["Table 2 Authorizations"][0]["First transfer definition for OIMP"] == subtype


def test_corsia_use_is_the_first_transfer_when_the_loa_says_use_or_cancellation(world: Api) -> None:
    ids = world.ids
    loa_id = grant(world, authorized_entities=[])
    attach(world, loa_id, 2_000_000)
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=500_000))
    used = serial(world, 500_001, 800_000)
    world.ok("POST", "/v1/labels", "admin", {"serials": [used], "label": "corsia_eligible", "reference": "att-1"})
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": ids["foundation_acc"],
                                                    "to_account_id": ids["company_acc"], "serials": [used]})
    world.ok("POST", "/v1/retirements", "company", {
        "account_id": ids["company_acc"], "serials": [serial(world, 500_001, 700_000)], "purpose": "corsia",
        "claim_year": 2026, "beneficiary": {"name": "Company", "country": "TH"}})
    # An export for OIMP of units whose first transfer is at use: a plain transfer, first transfer later.
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=100_000, purpose="oimp"))
    rep = oracle(world, 2026)
    assert kinds(rep) == [("First transfer", "First transfer to another Party", 500),
                          ("First transfer", "Use or cancellation", 200), ("Transfer", "Not yet defined", 100)]
    use = rep["json"]["tables"][T3][1]
    assert use["Purpose for which the ITMO has been used towards or cancelled for OIMP"] == "CORSIA"
    assert use["Using/cancelling participating Party ID"] == "THA"


def test_domestic_retirement_of_covered_units_not_first_transferred_is_refused(world: Api) -> None:
    """Units under an LoA and not first-transferred cannot leave silently by a domestic retirement (6007);
    once first-transferred, a voluntary retirement is a reported cancellation."""
    ids = world.ids
    loa_id = grant(world, authorized_entities=[])
    attach(world, loa_id, 100_000)
    covered = serial(world, 1, 10_000)
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": ids["foundation_acc"],
                                                    "to_account_id": ids["company_acc"], "serials": [covered]})
    before = journal(world)
    for purpose in ("voluntary", "domestic_compliance"):
        resp = world.post("/v1/retirements", "company", {
            "account_id": ids["company_acc"], "serials": [covered], "purpose": purpose, "claim_year": 2026,
            "beneficiary": {"name": "Company", "country": "TH"}})
        assert error_code(resp) == 6007, resp.text
    resp = world.post("/v1/cancellations", "admin", {"account_id": ids["company_acc"], "reason": "correction",
                                                     "serials": [covered]})
    assert error_code(resp) == 6007
    assert journal(world) == before
    rep = oracle(world, 2026)
    assert kinds(rep) == []


def test_sub_tonne_article6_movements_are_refused(world: Api) -> None:
    """One ITMO = 1 t: coverage, exports and uses are whole tonnes on tonne boundaries (6006)."""
    loa_id = grant(world, **ndc_only())
    before = journal(world)
    resp = world.post(f"/v1/authorizations/{loa_id}/units", "admin",
                      {"account_id": world.ids["foundation_acc"], "quantity_kg": 1_500})
    assert error_code(resp) == 6006
    resp = world.post(f"/v1/authorizations/{loa_id}/units", "admin", {"serials": [serial(world, 2, 1_001)]})
    assert error_code(resp) == 6006
    assert journal(world) == before
    attach(world, loa_id, 10_000)
    before = journal(world)
    assert error_code(world.post("/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=500))) == 6006
    assert error_code(world.post("/v1/exports", "proponent", export_body(
        world, loa_id, serials=[serial(world, 501, 1_500)]))) == 6006
    assert journal(world) == before
    resp = world.post(f"/v1/authorizations/{loa_id}/revocation", "admin",
                      {"reason": "partial", "serials": [serial(world, 1, 500)]})
    assert error_code(resp) == 6006
    oracle(world, 2026)


def test_revocation_and_amendment_are_authorization_versions(world: Api) -> None:
    loa_id = grant(world, **ndc_only())
    attach(world, loa_id, 100_000)
    world.ok("POST", f"/v1/authorizations/{loa_id}/amendments", "admin",
             ndc_only(max_quantity_kg=3_000_000, terms="amended terms", document=None))
    world.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    world.ok("POST", f"/v1/authorizations/{loa_id}/revocation", "admin",
             {"reason": "reduce", "serials": [serial(world, 50_001, 100_000)]})
    world.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    rep = oracle(world, 2026)
    auths = rep["json"]["tables"]["Table 2 Authorizations"]
    assert [(a["Version of the authorization"], a["Authorized quantity"]) for a in auths] == [
        (1, 5000), (2, 3000), (3, 3000)]
    assert auths[1]["Additional explanatory information"].startswith("Amendment (")
    assert sum(h["Quantity (t CO2 eq)"] for h in rep["json"]["tables"]["Table 4 Holdings"]) == 50


@pytest.fixture
def clock(api: Api) -> Iterator[FixedClock]:
    c = FixedClock("2025-06-01T09:00:00Z", ticking=False)
    api.reg.store.clock = c
    yield c


def test_year_close_and_resubmission(api: Api, clock: FixedClock) -> None:
    setup_world(api)
    loa_id = grant(api, **ndc_only())
    attach(api, loa_id, 1_000_000)
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=100_000))
    assert error_code(api.post("/v1/reports/aef/2025/submissions", "admin")) == 1003  # not closed
    clock.set("2026-01-05T10:00:00Z")
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=200_000))
    draft = oracle(api, 2025)
    assert draft["json"]["tables"]["Table 1 Submission"]["Version"] == "1.0"
    assert "provisional" in draft["json"]["summary"]["Holdings taken at (UTC)"]
    api.ok("POST", "/v1/reports/aef/2025/close", "admin")
    assert error_code(api.post("/v1/reports/aef/2025/submissions", "regulator")) == 1002
    first = api.ok("POST", "/v1/reports/aef/2025/submissions", "admin")
    assert (first["version"], first["file_name"]) == ("1.0", "THA_2025_1_0.xlsx")
    clock.set("2026-02-10T10:00:00Z")
    second = api.ok("POST", "/v1/reports/aef/2025/submissions", "admin")
    assert (second["version"], second["file_name"]) == ("1.1", "THA_2025_1_1.xlsx")
    final = oracle(api, 2025)
    t1 = final["json"]["tables"]["Table 1 Submission"]
    assert (t1["Version"], t1["Date of submission"], t1["Reported year"]) == ("1.1", "10/02/2026", 2025)
    assert kinds(final) == [("First transfer", "First transfer to another Party", 100)]
    assert sum(h["Quantity (t CO2 eq)"] for h in final["json"]["tables"]["Table 4 Holdings"]) == 900
    assert final["json"]["annex"]["submission"]["status"] == "final"
    assert [a["Action date"] for a in oracle(api, 2026)["json"]["tables"][T3]] == ["05/01/2026"]
    entries = [e for e in journal(api).values() if e["kind"] == "a6_aef_submitted"]
    assert [payload(e)["version"] for e in entries] == ["1.0", "1.1"]


def test_the_oracle_finds_what_carp_would_refuse(world: Api) -> None:
    """The oracle is not a mirror of the writer: each defect put into a good workbook is found."""
    loa_id = grant(world, **ndc_only())
    attach(world, loa_id, 1_000_000)
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=300_000))
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, quantity_kg=100_000))
    content = world.get("/v1/reports/aef/2026", "regulator", format="xlsx").content

    def problems(edit: Any, name: str = "THA_2026_1_0.xlsx", ca: dict[int, int] | None = None) -> list[str]:
        wb = openpyxl.load_workbook(io.BytesIO(content))
        edit(wb)
        return check_workbook(wb, name, ca)[1]

    assert problems(lambda wb: None) == []
    t3 = "Table 3 Actions"
    defects = {
        "sheet order": lambda wb: wb.move_sheet(t3, offset=-1),
        "a value in a spacer column": lambda wb: wb[t3].cell(row=9, column=11, value="x"),
        "date as text": lambda wb: wb[t3].cell(row=9, column=2, value="2026-06-15"),
        "fractional tonnes": lambda wb: wb[t3].cell(row=9, column=18, value=300.5),
        "ITMO block longer than its quantity": lambda wb: wb[t3].cell(row=9, column=18, value=301),
        "cooperative approach id": lambda wb: wb[t3].cell(row=9, column=5, value="THA-IDN-01"),
        "same action twice": lambda wb: [wb[t3].cell(row=10, column=c, value=wb[t3].cell(row=9, column=c).value)
                                         for c in range(2, 40)],
        "CARP placeholder": lambda wb: wb["Table 1 Submission"].cell(row=8, column=3, value="ok"),
        "header label": lambda wb: wb["Table 4 Holdings"].cell(row=7, column=2, value="Approach"),
    }
    for what, edit in defects.items():
        assert problems(edit), what
    assert problems(lambda wb: None, name="AEF-THA-2026.xlsx")
    assert problems(lambda wb: None, ca={2025: 300})  # first transfers 400 t != adjustments
