"""When the bridge worker runs (performance issue, goal 1): a cycle follows a commit that enqueued chain
work and a new chain block, not every ledger commit. With the idle full cycle pushed out of reach, the
counts below are exact: a transfer of untokenized units runs no cycle; a tokenization is sent at once; a
retirement on chain is seen by the head probe alone."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from token_world import TokenWorld

from sovcarbon.bridge import runtime
from sovcarbon.domain.tokenize import LotStatus

pytestmark = pytest.mark.chain


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def no_idle_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "IDLE_CYCLE_S", 3600.0)


@pytest.mark.usefixtures("no_idle_cycle")
def test_ledger_commits_without_chain_work_run_no_cycle(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    tw.bridge.start()
    assert _wait_for(lambda: tw.bridge is not None and tw.bridge.cycles >= 1)  # the cycle at start
    time.sleep(0.3)  # let a cycle in flight finish
    before = tw.bridge.cycles
    for _ in range(15):  # partial transfers of untokenized units: ledger commits, no outbox row
        tw.api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": tw.ids["foundation_acc"],
                                                       "to_account_id": tw.ids["company_acc"], "quantity_kg": 7})
    time.sleep(0.5)  # several head probes
    assert tw.bridge.cycles == before, "a commit that enqueued nothing made the bridge run a cycle"
    tw.bridge.stop()


@pytest.mark.usefixtures("no_idle_cycle")
def test_a_tokenization_wakes_the_worker_and_a_chain_block_is_seen_by_the_probe(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    bridge = tw.bridge
    bridge.start()
    assert _wait_for(lambda: bridge.cycles >= 1)
    lot = tw.tokenize(2_000_000)
    # only the commit's wake (no idle cycle for an hour) can have sent open_lot + mint
    assert _wait_for(lambda: tw.lot(str(lot["id"]))["status"] == LotStatus.ACTIVE), tw.lot(str(lot["id"]))
    chain_lot = int(tw.lot(str(lot["id"]))["chain_lot_id"])
    # an act on chain that no NR commit announces: the head probe finds the new block
    tw.bridge.token.retire(tw.wallets["foundation"], chain_lot, 1_000, "Chao Phraya Cement PCL",
                           "domestic_compliance", 2025)
    assert _wait_for(lambda: tw.lot(str(lot["id"]))["retired_kg"] == 1_000)
    bridge.stop()
