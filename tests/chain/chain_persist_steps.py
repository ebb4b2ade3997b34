"""Steps run in separate processes by test_persistence.py (not a test module itself).

usage: python chain_persist_steps.py write|read DATA_DIR CACHE_DIR BRIDGE_KEY [CHAIN_URL]
Prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eth_account import Account

from sovcarbon.chain import CarbonTokenChain, make_op_id, open_chain

LOT_ID = 424242
HOLDER_KEY = make_op_id("persist-holder")
RECEIVER_KEY = make_op_id("persist-receiver")
INTERMEDIARY = "0x" + "42" * 20


def main() -> None:
    step, data_dir, cache_dir, bridge_key = sys.argv[1:5]
    chain_url = sys.argv[5] if len(sys.argv) > 5 else None
    holder = Account.from_key(HOLDER_KEY)
    receiver = Account.from_key(RECEIVER_KEY)
    chain = open_chain(chain_url, Path(data_dir))
    token = CarbonTokenChain(chain, bridge_key, agent_key=make_op_id("persist-agent").hex(),
                             owner_key=make_op_id("persist-owner").hex(), cache_dir=Path(cache_dir))
    deployment = token.deploy_or_load(Path(data_dir) / "deployment.json")
    out: dict[str, object] = {"address": deployment.address}
    if step == "write":
        token.fund_gas(holder.address, 10**17)
        token.set_intermediary(make_op_id(f"{deployment.address}-int"), INTERMEDIARY, True)
        for who in (holder, receiver):
            token.set_identity(
                make_op_id(f"{deployment.address}-id-{who.address}"), who.address, True, INTERMEDIARY
            )
        token.open_lot(make_op_id(f"{deployment.address}-lot"), LOT_ID, 5_000_000)
        token.mint(make_op_id(f"{deployment.address}-mint"), holder.address, LOT_ID, 5_000_000)
        retired = token.retire(holder, LOT_ID, 1_234_567, "Persisted Co", "voluntary", 2025)
        out["retire_tx"] = retired.tx_hash
        request = next(e for e in retired.events if e.name == "Retired")
        token.complete_burn(make_op_id(f"{deployment.address}-complete"), 1, int(request.seq or 0))
    else:
        moved = token.transfer(holder, receiver.address, LOT_ID, 1_000)
        out["transfer_block"] = moved.block_number
    out["block_number"] = token.block_number()
    out["balance"] = token.balance_of(holder.address, LOT_ID)
    out["retired"] = token.retired_supply(LOT_ID)
    out["holder_eth_wei"] = int(chain.w3.eth.get_balance(holder.address))
    out["events"] = [
        [e.name, e.tx_hash, e.log_index, e.block_number]
        for e in token.get_events(deployment.deploy_block, token.block_number())
    ]
    chain.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
