"""Cross-border transfers between two real registry processes (Thailand: the demo; Indonesia: its profile).

After every scenario: `sovcarbon check` (I1-I6, journal, replay) passes on both sides and every kg of the
serial prefix is at home in exactly one registry (I7)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from peer_world import Node, Pair, start_pair

PREFIX = "TH-PTVER-00001-2025-001"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    yield from start_pair(tmp_path_factory.mktemp("peers"))


def both_hold(pair: Pair) -> dict[str, int]:
    pair.th.check()
    pair.id.check()
    return pair.single_home(PREFIX)


def send(pair: Pair, quantity_kg: int, **over: object) -> dict[str, Any]:
    body = {"peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
            "destination_account_id": pair.id.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": quantity_kg,
            # a deadline no loaded machine reaches (the default 30 s once expired under load 8 on PostgreSQL);
            # the deadline tests pass their own short timeout_s
            "timeout_s": 600, **over}
    resp = pair.th.post("/v1/peer-transfers", "proponent", body)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_transfer_commits_at_the_origin_and_arrives_held(pair: Pair) -> None:
    before = both_hold(pair)
    out = send(pair, 100_000)
    assert out["state"] == "completed", out
    assert [m["msg_type"] for m in out["messages"]] == [
        "propose", "accept", "commit", "commit_ack", "final", "final_ack"]
    export = pair.th.ok("GET", f"/v1/exports/{out['export_id']}", "regulator")
    assert export["first_transferred_kg"] == 100_000 and export["corresponding_adjustments"]
    dest = pair.id.ok("GET", f"/v1/peer-transfers/{out['id']}", "regulator")
    assert dest["state"] == "completed" and dest["quantity_kg"] == 100_000
    holdings = pair.id.ok("GET", f"/v1/accounts/{pair.id.ids['company_acc']}/holdings", "company")
    assert holdings["free_kg"] == 100_000
    after = both_hold(pair)
    assert after["ID"] == before["ID"] + 100_000 and after["TH"] == before["TH"] - 100_000
    assert after["nowhere"] == before["nowhere"]


# --- faults: either side killed at every protocol step, lost answers, a late acceptance, a timeout ---------------
def wait_state(node: Node, transfer_id: str, states: set[str], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = node.get(f"/v1/peer-transfers/{transfer_id}", "regulator")
        if resp.status_code == 200:
            view = resp.json()
            if view["state"] in states:
                return view
        time.sleep(0.3)
    raise AssertionError(f"{node.name}: transfer {transfer_id} stuck in {view.get('state')}: {view}")


def newest_transfer(node: Node) -> str:
    data = node.ok("GET", "/v1/peer-transfers", "regulator")["data"]
    return str(max(data, key=lambda t: t["created_at"])["id"])


def send_into_crash(pair: Pair, node: Node, fault: str, quantity_kg: int) -> str:
    """Restart ``node`` with the fault point armed, send a transfer, let the process die there, restart it."""
    node.stop()
    node.start(fault=fault)
    body = {"peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
            "destination_account_id": pair.id.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": quantity_kg, "timeout_s": 600}
    with contextlib.suppress(httpx.HTTPError):  # the origin dies while answering
        pair.th.post("/v1/peer-transfers", "proponent", body)
    assert node.wait_dead() == 137, node.log()
    node.start()
    return newest_transfer(pair.th)


@pytest.mark.parametrize("fault", ["after_lock", "after_accept", "after_commit", "after_commit_sent",
                                   "after_final_sent"])
def test_origin_killed_at_each_step_resumes_to_completion(pair: Pair, fault: str) -> None:
    before = both_hold(pair)
    transfer_id = send_into_crash(pair, pair.th, fault, 10_000)
    assert wait_state(pair.th, transfer_id, {"completed"})["quantity_kg"] == 10_000
    assert wait_state(pair.id, transfer_id, {"completed"})["quantity_kg"] == 10_000
    after = both_hold(pair)
    assert after["ID"] == before["ID"] + 10_000 and after["TH"] == before["TH"] - 10_000


@pytest.mark.parametrize("fault", ["before_commit_ack", "before_final_ack"])
def test_destination_killed_after_applying_resumes_to_completion(pair: Pair, fault: str) -> None:
    before = both_hold(pair)
    pair.id.stop()
    pair.id.start(fault=fault)
    out = send(pair, 10_000)
    assert out["state"] in ("committed", "acknowledged"), out  # the answer was lost with the process
    assert pair.id.wait_dead() == 137
    pair.id.start()
    wait_state(pair.th, str(out["id"]), {"completed"})
    wait_state(pair.id, str(out["id"]), {"completed"})
    after = both_hold(pair)
    assert after["ID"] == before["ID"] + 10_000


def test_destination_down_past_the_deadline_units_return_once_8005(pair: Pair) -> None:
    before = both_hold(pair)
    pair.id.stop()
    try:
        out = send(pair, 10_000, timeout_s=2)
        assert out["state"] == "locked"
        back = wait_state(pair.th, str(out["id"]), {"returned"})
        assert back["error"]["code"] == 8005
    finally:
        pair.id.start()
    time.sleep(2.5)  # a few worker rounds: nothing more happens to a returned transfer
    assert pair.th.ok("GET", f"/v1/peer-transfers/{out['id']}", "regulator")["state"] == "returned"
    assert pair.id.get(f"/v1/peer-transfers/{out['id']}", "regulator").status_code == 404
    after = both_hold(pair)
    assert after == before  # returned once: every kg back at home at the origin, nothing at the destination


def test_a_late_acceptance_is_refused_and_the_destination_aborts(pair: Pair) -> None:
    before = both_hold(pair)
    pair.id.stop()
    pair.id.start(fault="delay_accept")
    try:
        out = send(pair, 10_000, timeout_s=1)
        assert out["state"] == "returned" and out["error"]["code"] == 8005, out
        assert wait_state(pair.id, str(out["id"]), {"aborted"})["quantity_kg"] == 10_000
    finally:
        pair.id.stop()
        pair.id.start()
    assert both_hold(pair) == before


# --- the return path ------------------------------------------------------------------------------------------
def test_a_retirement_abroad_is_reported_back_once(pair: Pair) -> None:
    before = both_hold(pair)
    ret = pair.id.ok("POST", "/v1/retirements", "company", {
        "account_id": pair.id.ids["company_acc"], "quantity_kg": 5_000, "purpose": "voluntary", "claim_year": 2026,
        "beneficiary": {"name": "PT Nusantara Hijau", "country": "ID"}})
    deadline = time.monotonic() + 30
    uses: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        uses = [u for u in pair.th.ok("GET", "/v1/peer/uses-abroad", "regulator")["data"] if u["id"] == ret["id"]]
        if uses:
            break
        time.sleep(0.3)
    assert uses and uses[0]["quantity_kg"] == 5_000 and uses[0]["peer_id"] == "ID-NR", uses
    trail = pair.id.ok("GET", f"/v1/peer/messages/{ret['id']}", "regulator")["data"]
    assert [m["msg_type"] for m in trail] == ["retirement_notice", "notice_ack"]
    # the notice sent twice: the same signed answer, no second record
    resp = pair.th.post("/v1/peer/messages", None, {"jws": trail[0]["jws"]})
    assert resp.status_code == 200 and resp.json()["jws"] == trail[1]["jws"]
    uses = [u for u in pair.th.ok("GET", "/v1/peer/uses-abroad", "regulator")["data"] if u["id"] == ret["id"]]
    assert len(uses) == 1
    assert both_hold(pair) == before  # retired at the destination: still at home there, final


def test_units_go_back_to_the_origin(pair: Pair) -> None:
    before = both_hold(pair)
    resp = pair.id.post("/v1/peer-transfers", "company", {
        "peer_id": "TH-NR", "account_id": pair.id.ids["company_acc"],
        "destination_account_id": pair.th.ids["cement_acc"], "entity": "Chao Phraya Cement PCL (demo)",
        "quantity_kg": 7_000})
    assert resp.status_code == 201 and resp.json()["state"] == "completed", resp.text
    back = wait_state(pair.th, resp.json()["id"], {"completed"})
    assert back["side"] == "destination" and back["quantity_kg"] == 7_000
    after = both_hold(pair)
    assert after["TH"] == before["TH"] + 7_000 and after["ID"] == before["ID"] - 7_000


def test_own_units_leave_only_under_an_authorization(pair: Pair) -> None:
    resp = pair.th.post("/v1/peer-transfers", "proponent", {
        "peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
        "destination_account_id": pair.id.ids["company_acc"], "entity": "x", "quantity_kg": 1_000})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == 6001, resp.text


# --- make run: the demo's export (made before the protocol) arrives in the second registry ----------------------
def test_the_demo_export_arrives_with_link_demo(pair: Pair) -> None:
    before = both_hold(pair)
    assert before["nowhere"] == 1_000_000  # the demo exported 1,000 t that no registry had received
    keys = Path(pair.th.env["SOVCARBON_DATA_DIR"]) / "demo-keys.json"
    out = pair.id.cli("peers", "link-demo", "--origin-url", pair.th.base, "--origin-keys", str(keys),
                      "--url", pair.id.base)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["transfer"]["state"] == "completed" and result["transfer"]["quantity_kg"] == 1_000_000
    holdings = pair.id.ok("GET", f"/v1/accounts/{result['account_id']}/holdings", "admin")
    assert holdings["free_kg"] == 1_000_000
    after = both_hold(pair)
    assert after["nowhere"] == 0 and after["ID"] == before["ID"] + 1_000_000 and after["TH"] == before["TH"]
    again = pair.id.cli("peers", "link-demo", "--origin-url", pair.th.base, "--origin-keys", str(keys),
                        "--url", pair.id.base)
    assert again.returncode == 0 and json.loads(again.stdout)["transfer"]["id"] == result["transfer"]["id"]
    assert both_hold(pair) == after


# --- I7 reconciliation: a registry restored from a backup taken before a transfer ------------------------------
def test_reconciliation_finds_units_live_in_both_and_freezes_them(pair: Pair, tmp_path: Path) -> None:
    clean = pair.th.ok("POST", "/v1/peer/reconciliations", "admin", peer_id="ID-NR")
    assert clean["ok"] and clean["live_in_both"] == [] and clean["frozen_kg"] == 0, clean
    data_dir = Path(pair.th.env["SOVCARBON_DATA_DIR"])
    pair.th.stop()
    backup = tmp_path / "backup"
    backup.mkdir()
    for f in data_dir.glob("registry.sqlite*"):
        shutil.copy2(f, backup / f.name)
    pair.th.start()
    out = send(pair, 3_000)
    assert out["state"] == "completed", out
    pair.th.stop()
    for f in data_dir.glob("registry.sqlite*"):
        f.unlink()
    for f in backup.iterdir():
        shutil.copy2(f, data_dir / f.name)
    pair.th.start()  # the ledger as it was before the transfer: those 3,000 kg are held here again
    pair.th.check()
    report = pair.th.ok("POST", "/v1/peer/reconciliations", "admin", peer_id="ID-NR")
    assert not report["ok"] and report["live_in_both"] == [{"serial": s, "code": 8004} for s in out["serials"]], (
        report, out)
    assert report["frozen_kg"] == 3_000
    assert any(d["transfer_id"] == out["id"] for d in report["message_trail_differences"])
    resp = pair.th.post("/v1/transfers", "proponent", {"from_account_id": pair.th.ids["foundation_acc"],
                                                        "to_account_id": pair.th.ids["cement_acc"],
                                                        "serials": out["serials"]})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == 4006, resp.text
    other = pair.id.ok("POST", "/v1/peer/reconciliations", "admin", peer_id="TH-NR")
    assert not other["ok"] and other["frozen_kg"] == 3_000  # frozen on both sides until resolved
    pair.th.check()
    pair.id.check()
