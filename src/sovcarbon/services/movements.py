"""Choosing the units a movement acts on: by quantity (lowest serials first) or by serial ranges.

Shared by transfer, retirement, cancellation, and every later movement (tokenize, pledge, export).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, pick_by_quantity, pick_by_serials
from sovcarbon.domain.model import Block, BlockState
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.domain.serials import SerialRange, parse_serial_list
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store.repository import block_from_row
from sovcarbon.store.uow import UnitOfWork


def select_units(uow: UnitOfWork, account_id: str, *, quantity_kg: int | None, serials: Sequence[str] | None,
                 project_id: str | None = None, vintage: int | None = None,
                 standards: Sequence[str] | None = None, state: BlockState = BlockState.HELD,
                 lot_id: str | None = None) -> list[Pick]:
    """Pick the units; ``standards`` restricts a quantity to units of those standards (use rules).

    A ``project_id`` filter naming no project is 1005 NOT_FOUND (not an empty selection: 4001)."""
    if project_id is not None:
        uow.repo.project(project_id)
    if serials is not None:
        ranges = parse_serial_list(list(serials))
        for rng in ranges:
            require_issued_range(uow, rng)
        allow = frozenset({state})
        return pick_by_serials(ranges, lambda r: uow.repo.leaves_overlapping(r.prefix, r.first_kg, r.last_kg),
                               account_id, allow_states=allow)
    quantity = require_quantity(quantity_kg)
    picks = pick_by_quantity(uow.repo.free_leaves(account_id, state, project_id=project_id, vintage=vintage,
                                                  standards=standards, lot_id=lot_id), quantity)
    got = sum(p.quantity_kg for p in picks)
    if got < quantity:
        if standards is not None:
            free_any = sum(b.quantity_kg for b in uow.repo.free_leaves(account_id, state, project_id=project_id,
                                                                        vintage=vintage, lot_id=lot_id))
            if free_any >= quantity:
                raise RegistryError(5001, "the account's free units of a standard allowed for this use are short",
                                    requested_kg=quantity, eligible_kg=got, allowed_standards=list(standards))
        if state == BlockState.HELD:  # the error path only: the hot path reads nothing more
            pledged = sum(b.quantity_kg for b in uow.repo.free_leaves(account_id, BlockState.PLEDGED,
                                                                       project_id=project_id, vintage=vintage,
                                                                       standards=standards, lot_id=lot_id))
            if got + pledged >= quantity:
                raise RegistryError(4003, "the quantity fits only with pledged units: pledged kg move only by "
                                          "release or enforcement of their lien", requested_kg=quantity,
                                    available_kg=got, pledged_kg=pledged, account_id=account_id)
        raise RegistryError(4001, "quantity above the account's free balance", requested_kg=quantity,
                            available_kg=got, account_id=account_id)
    return picks


def require_issued_range(uow: UnitOfWork, rng: SerialRange) -> None:
    issuance = uow.repo.issuance_by_prefix(rng.prefix)
    if issuance is None or issuance["status"] != "issued":
        raise RegistryError(4002, "no issued units carry these serials", serial=str(rng))
    if rng.last_kg > issuance["quantity_kg"]:
        raise RegistryError(2002, "serial range runs past the end of its issuance", serial=str(rng),
                            issued_kg=issuance["quantity_kg"])


def record(uow: UnitOfWork, movement: Movement, txn_id: str, kind: str, actor_key: str, account_id: str | None,
           counterparty: str | None, extra: dict[str, Any], *,
           journal_kind: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Apply the split, write the journal entry (``journal_kind``, default ``kind``) and the transaction row
    (``kind``); return (journal seq, moved views)."""
    uow.repo.apply_movement(movement.consumed, movement.created, txn_id, uow.now)
    created = {b.id: block_view(b) for b in movement.created}
    moved = [created[b.id] for b in movement.moved]
    payload = {"actor": actor_key, "txn_id": txn_id, "account_id": account_id, "counterparty_account_id": counterparty,
               "quantity_kg": movement.quantity_kg, "consumed": [b.id for b in movement.consumed],
               "created": list(created.values()), **extra}
    entry = uow.append(journal_kind or kind, payload)
    uow.repo.insert(t.transactions, id=txn_id, kind=kind, account_id=account_id, counterparty_account_id=counterparty,
                    quantity_kg=movement.quantity_kg, actor_key_id=actor_key, journal_seq=entry.seq, created_at=uow.now)
    return entry.seq, moved


def blocks_of_txn(uow: UnitOfWork, txn_id: str, moved_only_state: str | None = None) -> list[Block]:
    q = select(t.blocks).where(t.blocks.c.txn_id == txn_id)
    if moved_only_state is not None:
        q = q.where(t.blocks.c.state == moved_only_state)
    rows = uow.conn.execute(q.order_by(t.blocks.c.serial_prefix, t.blocks.c.first_kg)).mappings()
    return [block_from_row(r) for r in rows]
