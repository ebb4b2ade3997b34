"""Two real registries (Thailand -> Indonesia), two AEF questions the cross-border issue left open:

* the destination's Table 4 (Holdings) lists the ITMOs it acquired from another Party and still holds, with the
  first transferring Party's identifiers (AEF.md, Table 4's 16 fields; ITMO ids one for one with the underlying
  units); the expectation is computed here from the origin's own Table 3 row and the destination's
  Cancellation row, not from our writer;
* OIMP first transfer at "use or cancellation" (RULES.md 6xxx: for OIMP the first transfer is the event the LoA
  names; 2/CMA.3 annex I.A para 2(b)): units exported for OIMP leave without a first transfer, and the notice of
  their use abroad writes it at the origin, once, with its corresponding adjustment (I6)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from aef_oracle import _seq, check_cross_border
from peer_world import Node, Pair, start_pair
from test_cross_border_aef import rows, workbook

from sovcarbon.domain.serials import format_serial, parse_serial

T4 = "Table 4 Holdings"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    yield from start_pair(tmp_path_factory.mktemp("peers_acquired"))


def wait_use_abroad(pair: Pair, retirement_id: str) -> None:
    deadline = time.monotonic() + 60
    while not [u for u in pair.th.ok("GET", "/v1/peer/uses-abroad", "regulator")["data"] if u["id"] == retirement_id]:
        assert time.monotonic() < deadline, "the retirement notice never reached the origin"
        time.sleep(0.3)


def retire_at_destination(pair: Pair, kg: int, year: int, serials: list[str] | None = None) -> dict[str, Any]:
    what: dict[str, Any] = {"serials": serials} if serials is not None else {"quantity_kg": kg}
    ret: dict[str, Any] = pair.id.ok("POST", "/v1/retirements", "company", {
        "account_id": pair.id.ids["company_acc"], **what, "purpose": "voluntary", "claim_year": year,
        "beneficiary": {"name": "PT Nusantara Hijau", "country": "ID"}})
    return ret


def send(pair: Pair, **over: Any) -> dict[str, Any]:
    body = {"peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
            "destination_account_id": pair.id.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": 100_000, **over}
    resp = pair.th.post("/v1/peer-transfers", "proponent", body)
    assert resp.status_code == 201 and resp.json()["state"] == "completed", resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_destination_table_4_lists_the_acquired_itmos_it_still_holds(pair: Pair) -> None:
    transfer = send(pair)
    year = int(transfer["created_at"][:4])
    ret = retire_at_destination(pair, 5_000, year)
    wait_use_abroad(pair, ret["id"])
    th, th_rep = workbook(pair.th, year)
    idn, id_rep = workbook(pair.id, year)  # the oracle reads every Table 4 row (ids, whole tonnes, NA fields)
    assert check_cross_border(th, idn) == []

    [ft] = [r for r in rows(th_rep, "First transfer") if r["Acquiring participating Party ID"] == "IDN"
            and r["Quantity (t CO2 eq)"] == 100]
    [cancel] = rows(id_rep, "Cancellation")
    block, ft_lo = _seq(ft["First ID"])
    ft_hi = _seq(ft["Last ID"])[1]
    c_lo, c_hi = _seq(cancel["First ID"])[1], _seq(cancel["Last ID"])[1]
    assert ft_lo <= c_lo <= c_hi <= ft_hi and c_hi - c_lo + 1 == 5
    expected = set(range(ft_lo, ft_hi + 1)) - set(range(c_lo, c_hi + 1))

    acquired = [r for r in id_rep["tables"][T4] if r["First transferring participating Party ID"] == "THA"]
    held: set[int] = set()
    for r in acquired:
        b, lo = _seq(r["First ID"])
        hi = _seq(r["Last ID"])[1]
        assert b == block and hi - lo + 1 == r["Quantity (t CO2 eq)"], r  # ITMOs one for one, whole tonnes
        assert not held & set(range(lo, hi + 1)), "an ITMO listed twice"
        held |= set(range(lo, hi + 1))
        for label in ("Cooperative approach ID", "Authorization ID", "Party ITMO registry ID", "Metric",
                      "Applicable GWP value(s)", "Mitigation type", "Vintage", "Underlying unit registry ID"):
            assert r[label] == ft[label], label
        assert (r["Party ITMO registry ID"], r["Metric"], r["Applicable non-GHG metric"]) == ("THA01", "GHG", "NA")
    assert held == expected and sum(r["Quantity (t CO2 eq)"] for r in acquired) == 95
    # The origin no longer holds them: its Table 4 has none of these ITMOs.
    for r in th_rep["tables"][T4]:
        b, lo = _seq(r["First ID"])
        if b == block:
            assert not set(range(lo, _seq(r["Last ID"])[1] + 1)) & set(range(ft_lo, ft_hi + 1)), r
    # The registry detail names the transfer each acquired row came from.
    detail = [h for h in id_rep["annex"]["holdings"] if h.get("acquired_from") == "TH-NR"]
    assert sum(h["quantity_kg"] for h in detail) == 95_000 and {h["transfer_id"] for h in detail} == {transfer["id"]}


def grant_oimp(node: Node) -> str:
    body = {"reference": "TGO-LOA-OIMP-ABROAD", "authorization_date": "2026-01-15", "cooperative_approach_id": "CA0007",
            "max_quantity_kg": 400_000, "sectors": ["Forestry and land use"], "activity_types": ["Reforestation"],
            "mitigation_type": "Emission reductions", "purposes": ["oimp"], "oimp": ["other purposes"],
            "first_transfer_event": "use_or_cancellation", "authorized_parties": ["IDN"], "authorized_entities": [],
            "timeframe": {"start": "2021-01-01", "end": "2030-12-31"}, "terms": "ITMOs for OIMP, first transfer at use",
            "document": {"name": "loa.pdf", "media_type": "application/pdf",
                         "content_base64": "JVBERi0xLjQKJSBMb0EgKHRlc3QpCg=="}}
    loa = node.ok("POST", "/v1/authorizations", "admin", body)
    node.ok("POST", f"/v1/authorizations/{loa['id']}/approval", "approver")
    loa_id: str = loa["id"]
    return loa_id


def test_oimp_units_used_abroad_are_first_transferred_at_the_origin_then_once(pair: Pair) -> None:
    loa_id = grant_oimp(pair.th)
    pair.th.ok("POST", f"/v1/authorizations/{loa_id}/units", "admin",
               {"account_id": pair.th.ids["foundation_acc"], "quantity_kg": 200_000})
    transfer = send(pair, authorization_id=loa_id, purpose="oimp", quantity_kg=100_000)
    year = int(transfer["created_at"][:4])
    sent = transfer["serials"]
    # Exported for OIMP with the first transfer at use: nothing is first-transferred at the export.
    for serial in sent:
        assert pair.th.ok("GET", f"/v1/article6/serials/{serial}", None)["first_transfers"] == []
    assert pair.th.ok("GET", f"/v1/authorizations/{loa_id}", None)["first_transferred_kg"] == 0

    first = parse_serial(sent[0])  # the first 10 t of what this transfer brought (not earlier units)
    ret = retire_at_destination(pair, 10_000, year,
                                [format_serial(first.prefix, first.first_kg, first.first_kg + 9_999)])
    wait_use_abroad(pair, ret["id"])
    [used] = ret["serials"]
    status = pair.th.ok("GET", f"/v1/article6/serials/{used}", None)
    assert [(f["serial"], f["event"]) for f in status["first_transfers"]] == [(used, "use")]
    assert pair.th.ok("GET", f"/v1/authorizations/{loa_id}", None)["first_transferred_kg"] == 10_000
    pair.th.check()  # I6: the corresponding adjustment equals the first-transferred kilograms

    # The same notice again (a lost answer): the same stored answer, no second first transfer.
    trail = {m["msg_type"]: m for m in pair.id.ok("GET", f"/v1/peer/messages/{ret['id']}", "regulator")["data"]}
    again = pair.th.post("/v1/peer/messages", None, {"jws": trail["retirement_notice"]["jws"]})
    assert again.status_code == 200 and again.json()["jws"] == trail["notice_ack"]["jws"]
    assert pair.th.ok("GET", f"/v1/authorizations/{loa_id}", None)["first_transferred_kg"] == 10_000

    th, th_rep = workbook(pair.th, year)  # the oracle: first transfers per vintage == CA, each once
    idn, _ = workbook(pair.id, year)
    assert check_cross_border(th, idn) == []
    [ft] = [r for r in rows(th_rep, "First transfer") if r["Action subtype"] == "Use or cancellation"
            and r["Authorization ID"] == "TGO-LOA-OIMP-ABROAD"]
    assert ft["Quantity (t CO2 eq)"] == 10 and ft["Using/cancelling participating Party ID"] == "IDN"
    assert ft["Purpose for which the ITMO has been used towards or cancelled for OIMP"] == "other purposes"
    pair.id.check()
