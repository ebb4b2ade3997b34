"""``sovcarbon check``, chain side: I4 read from the chain and the whole-chain audit, read-only.

When the registry has attached a token contract (or ``SOVCARBON_CHAIN_URL`` is set), ``check`` opens the
chain without starting the bridge and without any key of ours (a throwaway read account), verifies the
contract's runtime code, then

| check | problem reported |
|---|---|
| the contract the NR recorded is the one on this chain | contract / chain id differ, code differs |
| I4 per lot at the last block the NR consumed: supply, retired, redeemed, pending burns | 7001 lot ... |
| whole-chain audit, deployment block to head: every privileged act ordered by the outbox | 7001 unordered ... |
| the bridge is not halted by an earlier audit | 7001 bridge halted |
| the settlement contracts the NR recorded: code; escrow conservation at the block the NR consumed | ESCROW ... |

Nothing is written: no freeze, no reconciliation record (``sovcarbon reconcile`` does that). An embedded
chain held by a running ``serve`` is not read (the line says so; its bridge audits the chain itself).
Cost: one ``eth_call`` per 256 lots and one filtered ``eth_getLogs`` per 10,000 blocks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from sqlalchemy import select

from sovcarbon.bridge import audit
from sovcarbon.bridge.reconcile import chain_reader
from sovcarbon.chain import BytecodeMismatch, CarbonTokenChain, Chain, ChainUnavailable, open_chain
from sovcarbon.domain.tokenize import lot_mismatches
from sovcarbon.services import token_lots
from sovcarbon.services.registry import Registry
from sovcarbon.store import token_tables as tt

CONTRACT_SETTING = "token_contract"  # the same setting bridge.runtime records ("<chain id>:<address>")


@dataclass
class ChainCheck:
    ok: bool
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def first_problem(self) -> str | None:
        return self.problems[0] if self.problems else None


def check_chain(reg: Registry, *, chain_url: str | None = None, data_dir: Path | None = None,
                cache_dir: Path | None = None) -> ChainCheck | None:
    """The chain side of ``check``; None when no chain is configured and no contract was ever attached."""
    from sovcarbon.bridge.runtime import _EmbeddedLock

    url = chain_url if chain_url is not None else reg.settings.chain_url
    directory = Path(data_dir) if data_dir is not None else reg.settings.data_dir
    with reg.store.read() as uow:
        known = uow.repo.setting(CONTRACT_SETTING)
    if known is None:
        if url:
            return ChainCheck(ok=True, lines=[f"OK chain {url}: no token contract attached to this registry yet"])
        return None
    chain_id_text, _, address = known.partition(":")
    lock = None
    try:
        lock = None if url else _EmbeddedLock(directory)
    except ChainUnavailable as exc:
        return ChainCheck(ok=True, lines=[f"chain NOT READ: {exc}"])
    try:
        chain = open_chain(url, directory)
    except ChainUnavailable as exc:
        if lock is not None:
            lock.release()
        return _failed(f"chain unreachable: {exc}")
    try:
        return _check(reg, chain, int(chain_id_text), address, directory, cache_dir)
    finally:
        chain.close()
        if lock is not None:
            lock.release()


def _failed(problem: str) -> ChainCheck:
    return ChainCheck(ok=False, lines=[f"chain {problem}"], problems=[problem])


def _check(reg: Registry, chain: Chain, chain_id: int, address: str, directory: Path,
           cache_dir: Path | None) -> ChainCheck:
    if chain.chain_id != chain_id:
        return _failed(f"id {chain.chain_id}: this registry mirrors its lots on chain {chain_id} ({address})")
    token = CarbonTokenChain(chain, Account.create(), cache_dir=cache_dir)  # reads only: no key of ours
    try:
        token.load(address)
    except BytecodeMismatch as exc:
        return _failed(f"contract {address}: {exc}")
    deployment_file = directory / f"token-deployment-{chain_id}.json"
    if not deployment_file.exists():
        return _failed(f"deployment record {deployment_file} missing: cannot bound the whole-chain audit")
    deploy_block = int(json.loads(deployment_file.read_text(encoding="utf-8"))["deploy_block"])
    lines: list[str] = []
    problems: list[str] = []
    head = token.block_number()
    events = token.get_events(deploy_block, head, names=audit.AUDIT_NAMES)
    with reg.store.read() as uow:
        at_block = token_lots.event_cursor_block(uow, token.address)
        facts = token_lots.lot_facts(uow, chain_reader(token), at_block)
        findings = audit.unordered(uow, events, deploy_block)
        halted = audit.halted(uow)
    for f in facts:
        for p in lot_mismatches(f):
            problems.append(f"7001 I4 lot {f.lot_id} (chain lot {f.chain_lot_id}) at block {at_block}: {p}")
    for finding in findings:
        problems.append(f"7001 unordered {finding['event']} on chain {finding['tx_hash']}#{finding['log_index']} "
                        f"(block {finding['block']}): the registry did not order it")
    if halted is not None:
        problems.append(f"7001 bridge halted since {halted.get('at')}: {halted.get('reason')}")
    escrow_line = _check_escrow(reg, token, chain_id, cache_dir, problems)
    in_flight = sum(1 for f in facts if f.in_flight)
    if problems:
        lines += [f"chain MISMATCH: {p}" for p in problems]
    else:
        lines.append(f"OK chain {chain.kind} {token.address}: {len(facts)} lots agree with the NR at block "
                     f"{at_block} ({in_flight} in flight); audit of blocks {deploy_block}..{head}: "
                     f"{len(events)} privileged acts, all ordered")
        if escrow_line:
            lines.append(escrow_line)
    return ChainCheck(ok=not problems, lines=lines, problems=problems)


def _check_escrow(reg: Registry, token: CarbonTokenChain, chain_id: int, cache_dir: Path | None,
                  problems: list[str]) -> str | None:
    """Escrow conservation from the chain side, at the escrow block the NR consumed; None without settlement."""
    from sovcarbon.bridge.settlement_setup import SETTLEMENT_SETTING
    from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain
    from sovcarbon.services import settlement

    with reg.store.read() as uow:
        known = uow.repo.setting(SETTLEMENT_SETTING)
    if known is None:
        return None
    chain_text, cash_address, escrow_address = known.split(":")
    if int(chain_text) != chain_id:
        problems.append(f"ESCROW settlement contracts recorded on chain {chain_text}, not {chain_id}")
        return None
    cash = CashTokenChain(token, cache_dir=cache_dir)
    escrow = DvpEscrowChain(token, cache_dir=cache_dir)
    try:
        cash.load(cash_address)
        escrow.load(escrow_address)
    except BytecodeMismatch as exc:
        problems.append(f"ESCROW settlement contract: {exc}")
        return None
    with reg.store.read() as uow:
        orders = settlement.all_orders(uow)
        next_block = settlement.escrow_cursor(uow, escrow.address)
        # every lot the NR mirrors, not only the ordered ones: tokens escrowed for no order are a finding too
        token_lots = {int(v) for v in uow.conn.execute(select(tt.token_lots.c.chain_lot_id)).scalars()
                      if v is not None}
    if next_block is None:
        return f"OK escrow {escrow.address}: no escrow event consumed yet"
    lots = sorted({int(o["chain_lot_id"]) for o in orders} | token_lots)
    at_block = next_block - 1
    kg = {lot: int(escrow.call("escrowedKg", [lot], at_block)[0]) for lot in lots}
    satang = int(escrow.call("escrowedSatang", [], at_block)[0])
    found = settlement.escrow_conservation(orders, kg, satang)
    problems += [f"ESCROW conservation at block {at_block}: {p}" for p in found]
    open_orders = sum(1 for o in orders if o["status"] == "open")
    return (f"OK escrow {escrow.address} (cash {cash.address}): {open_orders} open DvPs hold what the escrow "
            f"holds at block {at_block} ({sum(kg.values())} kg, {satang} satang)")
