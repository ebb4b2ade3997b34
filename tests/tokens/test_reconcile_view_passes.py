"""Reconciliation reads every lot's chain figures once (performance issue, goal 5): the bridge cycles that
bring the NR up to the chain head before comparing skip their periodic state check, which read every lot's
figures a second time (reconciliation runs the same identity/licence/freeze comparison itself)."""

from __future__ import annotations

from typing import Any

import pytest
from token_world import TokenWorld

from sovcarbon.chain import CarbonTokenChain, make_op_id


def test_a_reconciliation_reads_the_lots_once_and_still_compares_freezes(
        tw: TokenWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tw.bridge is not None
    lot = tw.tokenize(3_000)
    tw.settle()
    passes: list[int] = []
    original = CarbonTokenChain.lot_figures

    def lot_figures(self: Any, lot_ids: Any, block: Any = "latest") -> Any:
        passes.append(len(lot_ids))  # counts the passes, then the real view calls
        return original(self, lot_ids, block)

    monkeypatch.setattr(CarbonTokenChain, "lot_figures", lot_figures)
    tw.bridge.state_check_interval_s = 30.0
    tw.bridge._last_state_check_s -= 60.0  # the periodic state check is due (its last one was a minute ago)
    report = tw.bridge.reconcile()
    assert report["status"] == "ok" and report["lots_checked"] == 1
    assert passes == [1], passes  # the old code: the cycle's state check read the lots once more

    # the freeze comparison still runs in the reconciliation: a lot frozen on chain behind the NR's back
    token = tw.bridge.token
    token.freeze_lot(make_op_id("outside-freeze-reconcile"), lot["chain_lot_id"], by=token.agent)
    report = tw.bridge.reconcile()
    assert [d["kind"] for d in report["state_drift"]] == ["lot_freeze"], report["state_drift"]
