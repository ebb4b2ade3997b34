"""Cross-border transfers between two real registry processes (Thailand: the demo; Indonesia: its profile).

After every scenario: `sovcarbon check` (I1-I6, journal, replay) passes on both sides and every kg of the
serial prefix is at home in exactly one registry (I7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peer_world import Pair, start_pair

PREFIX = "TH-PTVER-00001-2025-001"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    yield from start_pair(tmp_path_factory.mktemp("peers"))


def both_hold(pair: Pair) -> dict[str, int]:
    pair.th.check()
    pair.id.check()
    return pair.single_home(PREFIX)


def send(pair: Pair, quantity_kg: int, **over: object) -> dict[str, object]:
    body = {"peer_id": "ID-NR", "account_id": pair.th.ids["foundation_acc"],
            "destination_account_id": pair.id.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": pair.th.ids["loa"], "purpose": "ndc", "quantity_kg": quantity_kg, **over}
    resp = pair.th.post("/v1/peer-transfers", "proponent", body)
    assert resp.status_code == 201, resp.text
    data: dict[str, object] = resp.json()
    return data


def test_transfer_commits_at_the_origin_and_arrives_held(pair: Pair) -> None:
    before = both_hold(pair)
    out = send(pair, 100_000)
    assert out["state"] == "completed", out
    assert [m["msg_type"] for m in out["messages"]] == [  # type: ignore[attr-defined]
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
