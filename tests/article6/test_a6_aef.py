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
from aef_oracle import check_workbook
from typer.testing import CliRunner
from world import Api, error_code, setup_world

from sovcarbon.cli import app as cli_app
from sovcarbon.domain.ids import FixedClock
from sovcarbon.services import aef


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
    """(action type, serial, journal seq) of every Article 6 action, read from the journal alone, each
    reported once: the part of an export or a use that is its first transfer is not also a transfer/use."""
    out: set[tuple[str, str, int]] = set()
    ft_serials: list[str] = []
    for seq, e in sorted(entries.items()):
        p = payload(e)
        a6 = p.get("article6")
        if e["kind"] == "a6_units_attached":
            out |= {("authorization", u["serial"], seq) for u in p["units"]}
        plans = ([a6] if a6 and "event" in a6 else (a6 or {}).get("first_transfers", []))
        here = [f["serial"] for plan in plans for f in plan["first_transfers"]]
        out |= {("first_transfer", s, seq) for s in here}
        ft_serials += here
        if e["kind"] == "export":
            out |= {("transfer", s, seq) for b in p["created"] if b["state"] == "exported"
                    for s in _minus(b["serial"], here)}
        if e["kind"] == "retirement" and a6:
            for action in a6["actions"]:
                out |= {(action["type"], s, seq) for s0 in action["serials"] for s in _minus(s0, here)}
        if e["kind"] == "cancellation":
            for b in p["created"]:
                if b["state"] == "cancelled" and any(_overlaps(b["serial"], s) for s in ft_serials):
                    out.add(("cancellation", b["serial"], seq))
    return out


def _split(s: str) -> tuple[str, int, int]:
    prefix, first, last = s.rsplit("-", 2)
    return prefix, int(first), int(last)


def _minus(s: str, others: list[str]) -> list[str]:
    prefix, lo, hi = _split(s)
    out, pos = [], lo
    for o in sorted(_split(x) for x in others if _split(x)[0] == prefix):
        if o[2] < pos or o[1] > hi:
            continue
        if o[1] > pos:
            out.append(f"{prefix}-{pos:012d}-{o[1] - 1:012d}")
        pos = max(pos, o[2] + 1)
    if pos <= hi:
        out.append(f"{prefix}-{pos:012d}-{hi:012d}")
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
    annex = _sheet(wb, "Annex A Actions (registry)")
    table3 = list(wb["Table 3 Actions"].iter_rows(min_row=9, values_only=True))
    got: set[tuple[str, str, int]] = set()
    for row in annex:
        seq = row["journal_seq"]
        first, last = row["serial"].rsplit("-", 2)[1:]
        assert row["quantity_kg"] == int(last) - int(first) + 1
        assert row["authorization"] in loa_ids
        assert entries[seq]["created_at"] == row["action_at"]
        if row["table_3_row"] is not None:
            line = table3[row["table_3_row"] - 1]
            assert line[1].date().isoformat() == row["action_at"][:10]
        got.add((row["registry_action"], row["serial"], seq))
    assert got == _expected_from_journal(entries)
    assert len(got) == len(annex)
    # Every use here was its LoA's first transfer ("use or cancellation"): reported once, as the first transfer.
    assert {k for k, _, _ in got} == {"authorization", "first_transfer", "transfer", "voluntary_cancellation",
                                      "cancellation"}
    # Only "authorization" (units placed under an LoA: Table 2's business) stays out of Table 3.
    assert len(table3) == sum(1 for k, _, _ in got if k != "authorization")
    summary = dict(r[1:3] for r in wb["Summary information"].iter_rows(min_row=2, values_only=True))
    assert summary["Party"] == "THA" and summary["Party ITMO registry ID"] == "THA01"
    assert summary["Status"] == "provisional"
    assert summary["First transfers (t) by vintage"] == "2025: 850"
    assert summary["Corresponding adjustments (t) by vintage"] == "2025: 850.000"
    rep = world.ok("GET", f"/v1/reports/aef/{year}", "regulator")
    auths = rep["tables"]["Table 2 Authorizations"]
    assert {a["Authorization ID"] for a in auths} == {"TGO-LOA-2026-001", "TGO-LOA-2026-002"}
    assert {(a["Purposes for authorization"], a["OIMP authorized by the Party"]) for a in auths} == {
        ("NDC and OIMP", "CORSIA")}
    assert {a["First transfer definition for OIMP"] for a in auths} == {"Use or cancellation", "Authorization"}
    holdings = rep["annex"]["holdings"]
    assert sum(h["quantity_kg"] for h in holdings) == (2_000_000 - 500_000 - 250_000) + (100_000 - 30_000)
    assert {h["first_transferred"] for h in holdings} == {"Yes", "No"}
    assert len(rep["tables"]["Table 3 Actions"]) == len(table3)
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
    assert before["annex"]["submission"]["status"] == "provisional"
    assert sum(h["quantity_kg"] for h in before["annex"]["holdings"]) == 900_000
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
    assert after["annex"]["submission"]["status"] == "final"
    assert after["annex"]["holdings"] == before["annex"]["holdings"]
    assert after["tables"]["Table 4 Holdings"] == before["tables"]["Table 4 Holdings"]
    assert [a["registry_action"] for a in after["annex"]["actions"]] == ["first_transfer", "authorization"]
    assert [(a["Action type"], a["Action date"]) for a in after["tables"]["Table 3 Actions"]] == [
        ("First transfer", "01/06/2025")]
    entry = journal(api)[closed["journal_seq"]]
    assert entry["kind"] == "a6_year_closed" and payload(entry)["holdings_sha256"] == closed["holdings_sha256"]
    now = api.ok("GET", "/v1/reports/aef/2026", "regulator")
    assert now["annex"]["submission"]["status"] == "provisional"
    assert sum(h["quantity_kg"] for h in now["annex"]["holdings"]) == 1_000_000 - 100_000 - 100_000 - 200_000 - 50_000
    assert [a["version_kind"] for a in now["annex"]["submission"]["authorizations"]] == ["revocation"]


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
    assert "1 authorizations, 0 actions, 1 holdings rows" in result.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:7] == ["Index", "Summary information", "Table 1 Submission", "Table 2 Authorizations",
                                 "Table 3 Actions", "Table 4 Holdings", "Table 5 Auth. entities"]
    [row] = _sheet(wb, "Annex A Actions (registry)")
    assert row["registry_action"] == "authorization" and row["quantity_kg"] == 1000
    assert check_workbook(wb, f"THA_{year}_1_0.xlsx")[1] == []  # the oracle reads the CLI's workbook too
    result = CliRunner().invoke(cli_app, ["report", "aef", "--year", "1200", "--out", str(out)])
    assert result.exit_code == 2
