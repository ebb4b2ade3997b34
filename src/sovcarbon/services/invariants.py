"""Load a ledger snapshot and run the one invariant checker (``domain.invariants.check``)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from sovcarbon.domain import invariants as inv
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

# Capabilities add snapshot loaders here (e.g. token lots and chain supply for I4).
SNAPSHOT_LOADERS: list[Callable[[UnitOfWork, inv.LedgerSnapshot], None]] = []


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


def check(reg: Registry) -> list[inv.Violation]:
    with reg.store.read() as uow:
        return inv.check(snapshot(uow))


# Capabilities register their checks and loaders when imported; import them so every check runs.
from sovcarbon.services import article6 as _article6  # noqa: E402,F401 - registers I6 (domain.article6)
from sovcarbon.services import journal_admin as _journal_admin  # noqa: E402,F401 - registers I5 checkpoints
from sovcarbon.services import tokens as _tokens  # noqa: E402,F401 - registers I4 (domain.tokenize)
