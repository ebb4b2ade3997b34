"""Crash-test worker (not a test module): one registry process doing one token step, possibly killed at a
named point by ``SOVCARBON_FAULT`` (see ``sovcarbon.bridge.faults``).

usage: python token_crash_worker.py DATA_DIR DATABASE_URL CACHE_DIR WORLD_JSON ACTION [ARGS...]
actions: tokenize QTY | retire CHAIN_LOT QTY | redeem CHAIN_LOT QTY | recover
The chain comes from SOVCARBON_CHAIN_URL / SOVCARBON_BRIDGE_KEY (absent: the embedded chain in DATA_DIR).
Every run first recovers what a previous (killed) run left (the bridge catches up, faults disarmed), then
does its step with the fault armed. Prints one JSON line and exits 0 when the step and the catch-up
after it completed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from eth_account import Account

from sovcarbon.bootstrap import start_bridge
from sovcarbon.bridge.faults import FAULT_ENV
from sovcarbon.config import load_settings
from sovcarbon.services import auth, tokenization
from sovcarbon.services.participants import bootstrap
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_requests import TokenizationIn


def main() -> None:
    data_dir, url, cache_dir, world_path, action, *args = sys.argv[1:]
    world = json.loads(Path(world_path).read_text())
    reg = Registry(load_settings(data_dir=data_dir, database_url=url))
    bootstrap(reg)
    bridge = start_bridge(reg, chain_url=os.environ.get("SOVCARBON_CHAIN_URL") or "", cache_dir=Path(cache_dir))
    armed = os.environ.pop(FAULT_ENV, None)
    out: dict[str, object] = {"action": action, "recovered": bridge.run_until_idle()}
    if armed:
        os.environ[FAULT_ENV] = armed
    if action == "tokenize":
        actor = auth.authenticate(reg, world["holder_api_key"])  # the holder's own request
        req = TokenizationIn(holder_account_id=world["holder_account_id"], quantity_kg=int(args[0]))
        result = reg.execute(actor, "tokenize", req.model_dump(mode="json"),
                             lambda uow: tokenization.tokenize(reg, uow, actor, req))
        out["lot"] = result.body
    elif action in ("retire", "redeem"):
        holder = Account.from_key(world["holder_key"])
        chain_lot, quantity_kg = int(args[0]), int(args[1])
        if action == "retire":
            sent = bridge.token.retire(holder, chain_lot, quantity_kg, "Crash-test Co", "voluntary", 2025)
        else:
            sent = bridge.token.redeem(holder, chain_lot, quantity_kg, world["holder_account_id"])
        out["tx_hash"] = sent.tx_hash
    elif action != "recover":
        raise SystemExit(f"unknown action {action}")
    out["caught_up"] = bridge.run_until_idle()
    bridge.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
