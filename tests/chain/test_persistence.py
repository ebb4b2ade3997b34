"""The chain survives a restart in a NEW PROCESS: block number, balances, contract code
(checked against the source) and past event logs are all still there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chain_world import backend_args

STEPS = Path(__file__).with_name("chain_persist_steps.py")


def run_step(step: str, data_dir: Path, cache_dir: Path, backend: str) -> dict[str, Any]:
    chain_url, bridge_key = backend_args(backend)
    argv = [sys.executable, str(STEPS), step, str(data_dir), str(cache_dir), bridge_key]
    if chain_url:
        argv.append(chain_url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_chain_state_and_events_survive_a_new_process(
    backend: str, tmp_path: Path, contract_cache_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    written = run_step("write", data_dir, contract_cache_dir, backend)
    assert written["balance"] == 5_000_000 - 1_234_567
    if backend == "embedded":
        assert (data_dir / "chain.sqlite3").exists()

    read = run_step("read", data_dir, contract_cache_dir, backend)
    assert read["address"] == written["address"]
    assert read["retired"] == 1_234_567
    if backend == "embedded":  # the new process continued the same chain: one more block
        assert read["transfer_block"] == written["block_number"] + 1
    assert read["balance"] == written["balance"] - 1_000
    assert read["holder_eth_wei"] < written["holder_eth_wei"]  # gas paid on the same account
    # every event of the first process is still readable, identically, after the restart
    assert read["events"][: len(written["events"])] == written["events"]
    names = [e[0] for e in written["events"]]
    assert {"LotOpened", "Minted", "Retired", "IdentitySet"} <= set(names)
    retired = next(e for e in written["events"] if e[0] == "Retired")
    assert retired[1] == written["retire_tx"]
