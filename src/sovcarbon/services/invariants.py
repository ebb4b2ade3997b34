"""Load a ledger snapshot and run the one invariant checker (``domain.invariants.check``).

The wiring of the invariants, explicit: ``SNAPSHOT_LOADERS`` are the capabilities' loaders (token lots and
the chain's figures for I4, Article 6 facts for I6, signed checkpoints for I5) and ``CHECKS`` their pure
checks, in this order. Nothing registers itself by being imported; a new capability adds its loader and
check here (tests/test_architecture.py keeps the modules free of import cycles).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from sovcarbon.domain import article6 as article6_rules
from sovcarbon.domain import checkpoints as cpt
from sovcarbon.domain import invariants as inv
from sovcarbon.domain import pledge as pledge_rules
from sovcarbon.domain import settlement as settlement_rules
from sovcarbon.domain import tokenize as tokenize_rules
from sovcarbon.services import article6, journal_admin, pledges, settlement, token_lots
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

SNAPSHOT_LOADERS: tuple[Callable[[UnitOfWork, inv.LedgerSnapshot], None], ...] = (
    token_lots.load_lot_facts,  # I4: NR lots, and the chain's figures when a bridge serves this store
    article6.load_snapshot,  # I6: coverage, first transfers, corresponding adjustments
    journal_admin.load_checkpoint_facts,  # I5: signed checkpoints and the registry's key
    settlement.load_snapshot,  # ESCROW: DvP orders, applied escrow events, the escrow's holdings when attached
    pledges.load_snapshot,  # LIEN: liens, pledged units per lien, balances of the pledged holdings
)
CHECKS: tuple[inv.Check, ...] = (tokenize_rules.check_mirror, article6_rules.check_i6, cpt.invariant_check,
                                 settlement_rules.check_escrow, pledge_rules.check_lien_snapshot)


def snapshot(uow: UnitOfWork) -> inv.LedgerSnapshot:
    issued = {r[0]: int(r[1]) for r in uow.conn.execute(
        select(t.issuances.c.id, t.issuances.c.quantity_kg).where(t.issuances.c.status == "issued"))}
    c = t.blocks.c
    blocks = [inv.BlockFact(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], bool(r[6])) for r in uow.conn.execute(
        select(c.id, c.issuance_id, c.parent_id, c.first_kg, c.last_kg, c.state, c.is_leaf))]
    journal = [(int(r[0]), bytes(r[1]), r[2], r[3]) for r in uow.conn.execute(
        select(t.journal.c.seq, t.journal.c.entry, t.journal.c.prev_hash, t.journal.c.hash).order_by(t.journal.c.seq))]
    head = uow.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).first()
    snap = inv.LedgerSnapshot(issued=issued, blocks=blocks, journal=journal,
                              journal_head=(int(head[0]), str(head[1])) if head else None)
    for loader in SNAPSHOT_LOADERS:
        loader(uow, snap)
    return snap


def check_snapshot(snap: inv.LedgerSnapshot) -> list[inv.Violation]:
    """Every invariant, the capabilities' included, over a snapshot ``snapshot`` loaded."""
    return inv.check(snap, CHECKS)


def check_uow(uow: UnitOfWork) -> list[inv.Violation]:
    return check_snapshot(snapshot(uow))


def check(reg: Registry) -> list[inv.Violation]:
    with reg.store.read() as uow:
        return check_uow(uow)
