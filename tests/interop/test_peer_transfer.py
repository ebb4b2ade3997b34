"""Cross-border transfers between two real registry processes (Thailand: the demo; Indonesia: its profile).

After every scenario: `sovcarbon check` (I1-I6, journal, replay) passes on both sides and every kg of the
serial prefix is at home in exactly one registry (I7)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
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
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": quantity_kg, **over}
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
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": quantity_kg}
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
