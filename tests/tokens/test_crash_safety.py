"""Crash safety: a registry process is killed (``os._exit(137)``, like SIGKILL) at every step of
tokenize, on-chain retirement and redemption; a restarted process converges: I1-I4 hold, no duplicate
mint, no lost retirement. Then ``sovcarbon reconcile`` in yet another process agrees with the chain that
all those processes left behind (the embedded chain persisted on disk)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from token_world import ChainBackend, TokenWorld, open_bridge

from sovcarbon.bridge.faults import CRASH_EXIT_CODE
from sovcarbon.services import invariants
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

pytestmark = pytest.mark.chain
WORKER = Path(__file__).with_name("token_crash_worker.py")

# (fault, action, args); "{lot}" is the chain lot id of the first lot tokenized
STEPS: list[tuple[str, str, list[str]]] = [
    ("after_outbox_commit:open_lot", "tokenize", ["1000000"]),
    ("after_send:open_lot", "tokenize", ["1000000"]),
    ("after_tx_hash_recorded:mint", "tokenize", ["1000000"]),
    ("after_send:mint", "tokenize", ["1000000"]),
    ("after_receipt:mint", "tokenize", ["1000000"]),
    ("after_confirm:mint", "tokenize", ["1000000"]),
    ("after_events_read", "retire", ["{lot}", "100000"]),
    ("after_event_applied:Retired", "retire", ["{lot}", "100000"]),
    ("after_cursor_saved", "retire", ["{lot}", "100000"]),
    ("after_event_applied:Redeemed", "redeem", ["{lot}", "50000"]),
    ("after_events_read", "redeem", ["{lot}", "50000"]),
]


def run_worker(tw: TokenWorld, backend: ChainBackend, cache_dir: Path, world_file: Path, action: str,
               args: list[str], fault: str | None) -> subprocess.CompletedProcess[str]:
    reg = tw.api.reg
    env = {**os.environ, **backend.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SOVCARBON_FAULT", None)
    if fault:
        env["SOVCARBON_FAULT"] = fault
    argv = [sys.executable, str(WORKER), str(reg.settings.data_dir), reg.settings.database_url, str(cache_dir),
            str(world_file), action, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, check=False)


def test_killed_at_every_step_a_restart_converges(tw: TokenWorld, chain_backend: ChainBackend,
                                                  contract_cache_dir: Path) -> None:
    reg = tw.api.reg
    assert tw.bridge is not None
    tw.bridge.close()  # the worker processes own the chain from here on
    world_file = reg.settings.data_dir / "crash-world.json"
    world_file.write_text(json.dumps({"holder_api_key": tw.api.keys["proponent"],
                                      "holder_account_id": tw.ids["foundation_acc"],
                                      "holder_key": tw.wallets["foundation"].key.hex()}))
    first_chain_lot: int | None = None
    tokenized = retired = redeemed = 0
    for fault, action, raw_args in STEPS:
        if action == "tokenize" and first_chain_lot is None:
            first_chain_lot = 1
        args = [a.replace("{lot}", str(first_chain_lot)) for a in raw_args]
        crashed = run_worker(tw, chain_backend, contract_cache_dir, world_file, action, args, fault)
        assert crashed.returncode == CRASH_EXIT_CODE, (fault, crashed.returncode, crashed.stderr[-3000:])
        assert f"injected crash at {fault.split(':')[0]}" in crashed.stderr
        # between the crash and the restart the NR alone is consistent (I1-I3 and its side of I4);
        # the next worker process first recovers, then takes its own step
        assert not invariants.check(reg), (fault, invariants.check(reg))
        tokenized += int(args[0]) if action == "tokenize" else 0
        retired += int(args[1]) if action == "retire" else 0
        redeemed += int(args[1]) if action == "redeem" else 0

    recovered = run_worker(tw, chain_backend, contract_cache_dir, world_file, "recover", [], None)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    bridge = open_bridge(reg, chain_backend, contract_cache_dir)
    try:
        assert not any(bridge.run_until_idle().values()), "the restarted process left work undone"
        assert not invariants.check(reg), invariants.check(reg)  # I1-I4, chain attached
        token = bridge.token
        with reg.store.read() as uow:
            lots = [dict(r) for r in uow.conn.execute(select(tt.token_lots).order_by(tt.token_lots.c.chain_lot_id))
                    .mappings()]
            rets = [dict(r) for r in uow.conn.execute(select(t.retirements)).mappings()]
            pending = uow.conn.execute(select(tt.token_outbox.c.id).where(
                tt.token_outbox.c.status.in_(["pending", "sent"]))).all()
        assert [lot["status"] for lot in lots] == ["active"] * 6 and not pending
        assert sum(lot["quantity_kg"] for lot in lots) == tokenized
        minted = token.get_events(token.deployment.deploy_block, token.block_number(), names=["Minted"])  # type: ignore[union-attr]
        per_lot: dict[int, list[Any]] = {}
        for e in minted:
            per_lot.setdefault(int(e.lot_id or 0), []).append(e)
        for lot in lots:  # exactly one mint per lot, of exactly the immobilized kg: no duplicate, no orphan
            assert [e.amount_kg for e in per_lot[lot["chain_lot_id"]]] == [lot["quantity_kg"]], lot
        # every burn on chain is one NR record: no retirement lost, none recorded twice
        assert sorted(r["quantity_kg"] for r in rets) == [100_000] * 3
        assert sum(r["quantity_kg"] for r in rets) == retired
        assert len({json.loads(r["evidence"])["chain_tx"] for r in rets}) == 3
        assert token.retired_supply(1) == retired and token.redeemed_supply(1) == redeemed
        assert lots[0]["retired_kg"] == retired and lots[0]["redeemed_kg"] == redeemed
    finally:
        bridge.close()

    # and a separate `sovcarbon reconcile` process agrees with what all those processes left on chain
    # (given the compiled-contract cache, as an installed registry would have it)
    shutil.copytree(contract_cache_dir, reg.settings.data_dir / "contracts-cache", dirs_exist_ok=True)
    env = {**os.environ, **chain_backend.env(), "SOVCARBON_DATA_DIR": str(reg.settings.data_dir),
           "SOVCARBON_DATABASE_URL": reg.settings.database_url}
    done = subprocess.run([sys.executable, "-m", "sovcarbon.cli", "reconcile"], capture_output=True, text=True,
                          env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 lots, 0 in flight, 0 mismatched" in done.stdout
