"""`sovcarbon check` reads the chain too (B2 item a): I4 per lot from the chain side and the whole-chain audit,
read-only, exit 1 naming the first difference. Before, `check` never opened the chain: a lost burn event or an
act on the contract nobody ordered passed it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from token_world import ChainBackend, TokenWorld

from sovcarbon.bridge.chain_check import check_chain
from sovcarbon.chain import make_op_id
from sovcarbon.store import token_tables as tt


def _check_cli(tw: TokenWorld, backend: ChainBackend) -> subprocess.CompletedProcess[str]:
    settings = tw.api.reg.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env.update(SOVCARBON_DATA_DIR=str(settings.data_dir), SOVCARBON_DATABASE_URL=settings.database_url,
               SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1", **backend.env())
    return subprocess.run([sys.executable, "-m", "sovcarbon.cli", "check"], env=env, capture_output=True,
                          text=True, timeout=300)


def test_check_agrees_with_the_chain_then_names_a_lost_burn_and_an_unordered_act(
        tw: TokenWorld, chain_backend: ChainBackend, contract_cache_dir: Path) -> None:
    assert tw.bridge is not None
    reg, token = tw.api.reg, tw.bridge.token
    lot = tw.tokenize(50_000)
    tw.settle()
    chain_lot = lot["chain_lot_id"]
    url = chain_backend.url or ""
    tw.bridge.close()  # the embedded chain is opened by one process at a time
    clean = check_chain(reg, chain_url=url, cache_dir=contract_cache_dir)
    assert clean is not None and clean.ok, clean
    assert "1 lots agree with the NR" in clean.lines[0]
    ok = _check_cli(tw, chain_backend)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "the chain agrees" in ok.stdout

    # behind the NR's back: a holder's burn request the NR never applied (its event cursor moved past it, as a
    # lost event would), and the bridge key whitelisting an address nobody ordered
    from sovcarbon.bridge import Bridge

    bridge = Bridge.open(reg, chain_url=url, bridge_key=chain_backend.bridge_key, cache_dir=contract_cache_dir)
    try:
        token = bridge.token
        token.retire(tw.wallets["foundation"], chain_lot, 1_000, "Foundation", "voluntary", 2025)
        token.set_identity(make_op_id("behind-the-nr"), tw.address("other"), True, tw.address("foundation"))
        head = token.block_number()
    finally:
        bridge.close()
    c = tt.token_event_cursor.c
    with reg.store.write() as uow:
        assert uow.conn.execute(select(c.next_block).where(c.contract_address == token.address)).scalar() is not None
        uow.repo.update(tt.token_event_cursor, [c.contract_address == token.address], next_block=head + 1,
                        updated_at=uow.now)
    bad = check_chain(reg, chain_url=url, cache_dir=contract_cache_dir)
    assert bad is not None and not bad.ok
    assert bad.problems[0].startswith(f"7001 I4 lot {lot['id']} (chain lot {chain_lot})"), bad.problems
    assert "chain supply 49000 kg (+ 0 kg refused, locked) != NR immobilized 50000 kg" in bad.problems[0]
    assert any("chain holds 1000 kg in burn requests, the NR knows of 0 kg" in p for p in bad.problems), bad.problems
    assert any("unordered IdentitySet" in p for p in bad.problems), bad.problems
    failed = _check_cli(tw, chain_backend)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"CHECK FAILED: 7001 I4 lot {lot['id']}" in failed.stdout, failed.stdout
    with reg.store.read() as uow:  # read-only: nothing frozen, no halt recorded
        assert not uow.conn.execute(select(tt.token_lots.c.frozen)).scalar()


def test_address_freezes_are_compared_with_the_chain_both_ways(tw: TokenWorld) -> None:
    """B2 item c (issue item 5): the bridge's state check compares address freezes too. An agent freezing a
    holder on chain outside the registry is drift (the NR's state is pushed again); an address the NR froze
    stays frozen and is no drift."""
    from sovcarbon.services import bridge_officer

    assert tw.bridge is not None
    token = tw.bridge.token
    tw.tokenize(1_000)
    tw.settle()
    foundation, company = tw.address("foundation"), tw.address("company")
    token.freeze_address(make_op_id("outside-address-freeze"), foundation, by=token.agent)
    tw.settle()
    assert token.is_frozen(foundation)
    drift = tw.bridge.check_state()
    assert [(d["kind"], d["address"], d["nr"], d["chain"]) for d in drift] == [
        ("address_freeze", foundation.lower(), False, True)]
    tw.settle()
    assert not token.is_frozen(foundation)  # pushed again: the NR never froze it
    with tw.api.reg.store.write() as uow:  # the NR freezes the company's address (as reconciliation does)
        bridge_officer.freeze_address(uow, company, "test: offending holder", "rep_test")
    tw.settle()
    assert token.is_frozen(company)
    assert tw.bridge.check_state() == []
