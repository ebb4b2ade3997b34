"""The AEF of two real registries after a cross-border transfer (Thailand -> Indonesia) and a retirement at the
destination, each workbook read by the oracle (``tests/article6/aef_oracle.py``: the published CMA.6 rules, not
our writer) and the two read side by side (``check_cross_border``): the destination reports the Acquisition of
the same ITMO blocks the origin first-transferred and the Cancellation of what it retired; the origin records
the use abroad in its annex and reports no second row for it."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from aef_oracle import Parsed, check_cross_border, check_workbook
from peer_world import Node, Pair, start_pair
from test_aef_oracle import ca_tonnes_by_vintage

T3 = "Table 3 Actions"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    yield from start_pair(tmp_path_factory.mktemp("peers_aef"))


def workbook(node: Node, year: int) -> tuple[Parsed, dict[str, Any]]:
    resp = node.get(f"/v1/reports/aef/{year}", "regulator", format="xlsx")
    assert resp.status_code == 200, resp.text
    name = re.search(r'filename="([^"]+)"', resp.headers["content-disposition"])
    assert name is not None
    parsed, problems = check_workbook(openpyxl.load_workbook(io.BytesIO(resp.content)), name.group(1),
                                      ca_tonnes_by_vintage(node, year))  # type: ignore[arg-type]
    assert problems == [], (node.name, problems)
    return parsed, node.ok("GET", f"/v1/reports/aef/{year}", "regulator")


def rows(rep: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in rep["tables"][T3] if r["Action type"] == kind]


def test_acquisition_and_use_abroad_in_both_parties_aef(pair: Pair) -> None:
    body = {"peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
            "destination_account_id": pair.id.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": 100_000}
    resp = pair.th.post("/v1/peer-transfers", "proponent", body)
    assert resp.status_code == 201 and resp.json()["state"] == "completed", resp.text
    year = int(resp.json()["created_at"][:4])
    ret = pair.id.ok("POST", "/v1/retirements", "company", {
        "account_id": pair.id.ids["company_acc"], "quantity_kg": 5_000, "purpose": "voluntary", "claim_year": year,
        "beneficiary": {"name": "PT Nusantara Hijau", "country": "ID"}})
    deadline = time.monotonic() + 30
    while not [u for u in pair.th.ok("GET", "/v1/peer/uses-abroad", "regulator")["data"] if u["id"] == ret["id"]]:
        assert time.monotonic() < deadline, "the retirement notice never reached the origin"
        time.sleep(0.3)

    th, th_rep = workbook(pair.th, year)
    idn, id_rep = workbook(pair.id, year)
    assert check_cross_border(th, idn) == []

    [ft] = [r for r in rows(th_rep, "First transfer") if r["Acquiring participating Party ID"] == "IDN"
            and r["Quantity (t CO2 eq)"] == 100]
    [acq] = rows(id_rep, "Acquisition")
    for label in ("Cooperative approach ID", "Authorization ID", "First transferring participating Party ID",
                  "Party ITMO registry ID", "First ID", "Last ID", "First unit ID", "Last unit ID", "Vintage",
                  "Quantity (t CO2 eq)", "Applicable GWP value(s)", "Mitigation type"):
        assert acq[label] == ft[label], label
    assert (acq["Transferring participating Party ID"], acq["Acquiring participating Party ID"]) == ("THA", "NA")
    assert acq["Party ITMO registry ID"] == "THA01" and acq["First transferring participating Party ID"] == "THA"
    [use] = rows(id_rep, "Cancellation")
    assert (use["Quantity (t CO2 eq)"], use["Using/cancelling participating Party ID"]) == (5, "IDN")
    assert use["First ID"] == acq["First ID"] and use["Authorization ID"] == acq["Authorization ID"]
    # The origin: the use abroad is in its annex (registry detail), not a second Table 3 row.
    abroad = [a for a in th_rep["annex"]["actions"] if a["registry_action"] == "use_abroad"]
    assert [(a["quantity_kg"], a["table_3_row"]) for a in abroad] == [(5_000, None)]
    assert "peer: ID-NR" in abroad[0]["note"] and not rows(th_rep, "Cancellation")

    # The oracle side by side refuses a destination that reports ITMOs the origin never sent it, and an
    # origin that reports the use abroad a second time.
    forged = Parsed(idn.submission, {T3: [dict(acq, _row=9, **{"Quantity (t CO2 eq)": 101})]})
    assert any("were not transferred" in p for p in check_cross_border(th, forged))
    twice = Parsed(th.submission, {T3: [*th.tables[T3], dict(idn.tables[T3][-1], _row=99)]})
    problems = check_cross_border(twice, idn)
    assert any("also in the origin's report" in p for p in problems)
    assert any("reports a use of ITMOs" in p for p in problems)
