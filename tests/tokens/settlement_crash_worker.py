"""Crash-test worker for the DvP escrow consumer (not a test module): one registry process whose bridge
consumes the escrow's events, possibly killed at a named point by ``SOVCARBON_FAULT``.

usage: python settlement_crash_worker.py DATA_DIR DATABASE_URL CACHE_DIR ESCROW CASH START_BLOCK
Prints one JSON line (events applied) and exits 0 when the bridge caught up.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sovcarbon.bootstrap import start_bridge
from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain
from sovcarbon.config import load_settings
from sovcarbon.services.participants import bootstrap
from sovcarbon.services.registry import Registry


def main() -> None:
    data_dir, url, cache_dir, escrow_address, cash_address, start_block = sys.argv[1:]
    reg = Registry(load_settings(data_dir=data_dir, database_url=url))
    bootstrap(reg)
    bridge = start_bridge(reg, chain_url=os.environ.get("SOVCARBON_CHAIN_URL") or "", cache_dir=Path(cache_dir))
    escrow = DvpEscrowChain(bridge.token)
    escrow.load(escrow_address)
    cash = CashTokenChain(bridge.token)
    cash.load(cash_address)
    bridge.attach_settlement(SettlementConsumer(reg, escrow, cash, int(start_block)))
    done = bridge.run_until_idle()
    bridge.close()
    print(json.dumps(done))


if __name__ == "__main__":
    main()
