"""The AEF report for a year: every action row of the generated workbook checked against the journal
(and every Article 6 fact of the journal found in the workbook), holdings at 31 December frozen when
the year closes, the CLI and the API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from a6_world import attach, export_body, grant, journal, payload, serial
from typer.testing import CliRunner
from world import Api, error_code, setup_world

from sovcarbon.cli import app as cli_app
from sovcarbon.domain.ids import FixedClock
from sovcarbon.services import aef

LABEL_TO_TYPE = {"Authorization": "authorization", "First transfer": "first_transfer", "Transfer": "transfer",
                 "Use": "use", "Cancellation": "cancellation", "Voluntary cancellation": "voluntary_cancellation",
                 "Acquisition": "acquisition"}


def _story(api: Api) -> set[str]:
    """Two LoAs. The first (NDC and CORSIA, first transfer at use): attach, NDC export (first transfer),
    CORSIA and OIMP use (first transfer at use). The second (first transfer at authorization): attach
    (first transfer), then voluntary cancellation, a four-eyes cancellation and an export (a transfer)
    of units already first-transferred."""
    ids = api.ids
    loa_id = grant(api, authorized_entities=[])
    attach(api, loa_id, 2_000_000)
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=500_000))
    used = serial(api, 500_001, 800_000)
    api.ok("POST", "/v1/labels", "admin", {"serials": [used], "label": "corsia_eligible", "reference": "att-1"})
    api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": ids["foundation_acc"],
                                                  "to_account_id": ids["company_acc"], "serials": [used]})
    for purpose, units in (("corsia", serial(api, 500_001, 700_000)), ("oimp", serial(api, 700_001, 750_000))):
        api.ok("POST", "/v1/retirements", "company", {
            "account_id": ids["company_acc"], "serials": [units], "purpose": purpose, "claim_year": 2026,
            "beneficiary": {"name": "Company", "country": "TH"}})
    second = grant(api, reference="TGO-LOA-2026-002", authorized_entities=[], first_transfer_event="authorization")
    assert attach(api, second, 100_000)["units"][0]["serial"] == serial(api, 2_000_001, 2_100_000)
    api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": ids["foundation_acc"],
                                                  "to_account_id": ids["company_acc"],
                                                  "serials": [serial(api, 2_000_001, 2_100_000)]})
    api.ok("POST", "/v1/retirements", "company", {
        "account_id": ids["company_acc"], "serials": [serial(api, 2_000_001, 2_010_000)], "purpose": "voluntary",
        "claim_year": 2026, "beneficiary": {"name": "Company", "country": "TH"}})
    can = api.ok("POST", "/v1/cancellations", "admin", {"account_id": ids["company_acc"], "reason": "correction",
                                                        "serials": [serial(api, 2_010_001, 2_020_000)]})
    api.ok("POST", f"/v1/cancellations/{can['id']}/approval", "approver")
    exp = api.ok("POST", "/v1/exports", "company", export_body(api, second, account="company_acc",
                                                               serials=[serial(api, 2_020_001, 2_030_000)]))
    assert exp["first_transferred_kg"] == 0
    return {loa_id, second}


def _expected_from_journal(entries: dict[int, dict[str, Any]]) -> set[tuple[str, str, int]]:
    """(action type, serial, journal seq) of every Article 6 action, read from the journal alone."""
    out: set[tuple[str, str, int]] = set()
    ft_serials: list[str] = []
    for seq, e in sorted(entries.items()):
        p = payload(e)
        a6 = p.get("article6")
        if e["kind"] == "a6_units_attached":
            out |= {("authorization", u["serial"], seq) for u in p["units"]}
        plans = ([a6] if a6 and "event" in a6 else (a6 or {}).get("first_transfers", []))
        for plan in plans:
            for f in plan["first_transfers"]:
                out.add(("first_transfer", f["serial"], seq))
                ft_serials.append(f["serial"])
        if e["kind"] == "export":
            out |= {("transfer", b["serial"], seq) for b in p["created"] if b["state"] == "exported"}
        if e["kind"] == "retirement" and a6:
            for action in a6["actions"]:
                out |= {(action["type"], s, seq) for s in action["serials"]}
        if e["kind"] == "cancellation":
            for b in p["created"]:
                if b["state"] == "cancelled" and any(_overlaps(b["serial"], s) for s in ft_serials):
                    out.add(("cancellation", b["serial"], seq))
    return out


def _overlaps(a: str, b: str) -> bool:
    pa, pb = a.rsplit("-", 2), b.rsplit("-", 2)
    return pa[0] == pb[0] and int(pa[1]) <= int(pb[2]) and int(pb[1]) <= int(pa[2])


def _sheet(wb: Any, title: str) -> list[dict[str, Any]]:
    rows = list(wb[title].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def test_workbook_action_rows_match_the_journal(world: Api) -> None:
    loa_ids = _story(world)
    entries = journal(world)
    year = int(entries[max(entries)]["created_at"][:4])
    resp = world.get(f"/v1/reports/aef/{year}", "regulator", format="xlsx")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith(aef.XLSX_MEDIA_TYPE)
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    assert wb.sheetnames == ["Submission", "Authorizations", "Actions", "Holdings 31 Dec", "Authorized entities"]
    actions = _sheet(wb, "Actions")
    got: set[tuple[str, str, int]] = set()
    for row in actions:
        kind = LABEL_TO_TYPE[row["Action type"]]
        seq = row["Journal entry"]
        entry = entries[seq]
        assert entry["created_at"][:10] == row["Action date"]
        first, last = row["Serial range"].rsplit("-", 2)[1:]
        assert row["Quantity (kg CO2e)"] == int(last) - int(first) + 1
        assert row["ITMO first unique ID"] == f"THA01-{world.ids['prefix']}-{first}"
        assert row["ITMO last unique ID"] == f"THA01-{world.ids['prefix']}-{last}"
        assert row["Authorization ID"] in loa_ids and row["Cooperative approach ID"] == "THA-IDN-BILATERAL-01"
        assert row["Vintage"] == 2025
        got.add((kind, row["Serial range"], seq))
    assert got == _expected_from_journal(entries)
    assert len(got) == len(actions)
    assert {k for k, _, _ in got} == {"authorization", "first_transfer", "transfer", "use", "voluntary_cancellation",
                                      "cancellation"}
    # First transfers and corresponding adjustments agree (I6) in the submission totals.
    sub = {r["Field"]: r["Value"] for r in _sheet(wb, "Submission")}
    assert sub["party"] == "THA" and sub["itmo_registry_id"] == "THA01" and sub["status"] == "provisional"
    ft_kg = sum(r["Quantity (kg CO2e)"] for r in actions if r["Action type"] == "First transfer")
    assert ft_kg == 500_000 + 250_000 + 100_000
    assert sub["corresponding_adjustments_kg_by_vintage"] == '{"2025": 850000}'
    auths = _sheet(wb, "Authorizations")
    assert {a["Authorization ID"] for a in auths} == loa_ids
    assert {(a["Purposes for authorization"], a["OIMP authorized"]) for a in auths} == {("NDC and OIMP", "CORSIA")}
    assert {a["First transfer definition (OIMP)"] for a in auths} == {"use_or_cancellation", "authorization"}
    # Holdings (year not closed: reconstructed now): what is still under the LoA and live here.
    holdings = _sheet(wb, "Holdings 31 Dec")
    assert sum(h["Quantity (kg CO2e)"] for h in holdings) == (2_000_000 - 500_000 - 250_000) + (100_000 - 30_000)
    assert {h["First transferred"] for h in holdings} == {"Yes", "No"}
    json_rep = world.ok("GET", f"/v1/reports/aef/{year}", "regulator")
    assert len(json_rep["actions"]) == len(actions)
    assert error_code(world.get(f"/v1/reports/aef/{year}", "company")) == 1002


@pytest.fixture
def clock(api: Api) -> Iterator[FixedClock]:
    """The registry's clock for a test that spans a year end: a fixed instant, moved by the test."""
    c = FixedClock("2025-06-01T09:00:00Z", ticking=False)
    api.reg.store.clock = c
    yield c


def test_holdings_at_31_december_are_frozen_when_the_year_closes(api: Api, clock: FixedClock) -> None:
    setup_world(api)
    loa_id = grant(api)
    attach(api, loa_id, 1_000_000)
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=100_000))
    assert error_code(api.post("/v1/reports/aef/2025/close", "admin")) == 1003  # the year has not ended
    clock.set("2026-01-05T10:00:00Z")
    # After the year end, before closing: more units go; the 2025 holdings are still as on 31 December.
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=200_000))
    before = api.ok("GET", "/v1/reports/aef/2025", "regulator")
    assert before["submission"]["status"] == "provisional"
    assert sum(h["quantity_kg"] for h in before["holdings"]) == 900_000
    assert error_code(api.post("/v1/reports/aef/2025/close", "regulator")) == 1002
    closed = api.ok("POST", "/v1/reports/aef/2025/close", "admin")
    assert (closed["holdings_kg"], closed["holdings_rows"]) == (900_000, 1)
    assert error_code(api.post("/v1/reports/aef/2025/close", "admin")) == 1003
    # Later changes (a partial revocation, more exports) never touch the frozen table.
    api.ok("POST", f"/v1/authorizations/{loa_id}/revocation", "admin",
           {"reason": "reduce", "serials": [serial(api, 900_001, 1_000_000)]})
    api.ok("POST", f"/v1/authorizations/{loa_id}/approval", "approver")
    api.ok("POST", "/v1/exports", "proponent", export_body(api, loa_id, quantity_kg=50_000))
    after = api.ok("GET", "/v1/reports/aef/2025", "regulator")
    assert after["submission"]["status"] == "final"
    assert after["holdings"] == before["holdings"]
    assert [a["action_type"] for a in after["actions"]] == ["authorization", "transfer", "first_transfer"]
    assert after["actions"][1]["action_date"] == "2025-06-01"
    entry = journal(api)[closed["journal_seq"]]
    assert entry["kind"] == "a6_year_closed" and payload(entry)["holdings_sha256"] == closed["holdings_sha256"]
    now = api.ok("GET", "/v1/reports/aef/2026", "regulator")
    assert now["submission"]["status"] == "provisional"
    assert sum(h["quantity_kg"] for h in now["holdings"]) == 1_000_000 - 100_000 - 100_000 - 200_000 - 50_000
    assert [a["version_kind"] for a in now["authorizations"]] == ["revocation"]


def test_cli_writes_the_workbook(registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    if registry.settings.database_url.startswith("postgresql"):
        pytest.skip("the CLI reads the configured store; the SQLite run covers it")
    setup_world(api)
    loa_id = grant(api)
    attach(api, loa_id, 1_000)
    monkeypatch.setenv("SOVCARBON_DATA_DIR", str(registry.settings.data_dir))
    monkeypatch.setenv("SOVCARBON_DATABASE_URL", registry.settings.database_url)
    year = int(journal(api)[1]["created_at"][:4])
    out = tmp_path / "aef.xlsx"
    result = CliRunner().invoke(cli_app, ["report", "aef", "--year", str(year), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 authorizations, 1 actions" in result.output
    wb = openpyxl.load_workbook(out)
    [row] = _sheet(wb, "Actions")
    assert row["Action type"] == "Authorization" and row["Quantity (kg CO2e)"] == 1000
    result = CliRunner().invoke(cli_app, ["report", "aef", "--year", "1200", "--out", str(out)])
    assert result.exit_code == 2
