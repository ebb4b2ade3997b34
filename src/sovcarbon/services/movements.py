"""Choosing the units a movement acts on: by quantity (lowest serials first) or by serial ranges.

Shared by transfer, retirement, cancellation, and every later movement (tokenize, pledge, export).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import IssuedPrefix, Movement, Pick, SelectionFacts, check_selection, require_issued
from sovcarbon.domain.model import Block, BlockState
from sovcarbon.domain.serials import SerialRange, parse_serial_list
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def load_selection(uow: UnitOfWork, account_id: str, *, quantity_kg: object, serials: Sequence[object] | None,
                   project_id: str | None = None, vintage: int | None = None,
                   standards: Sequence[str] | None = None, state: BlockState = BlockState.HELD,
                   lot_id: str | None = None) -> SelectionFacts:
    """Read what ``holdings.check_selection`` checks; no rule runs here. The reads are the ones the check
    needs and no more: the leaves of a quantity are read in batches only until they cover it."""
    project_found = project_id is None or uow.repo.find(t.projects, project_id) is not None
    base = SelectionFacts(account_id=account_id, allow_state=state, project_id=project_id,
                          project_found=project_found, quantity_kg=quantity_kg,
                          standards=tuple(standards) if standards is not None else None,
                          serials=tuple(serials) if serials is not None else None)
    if not project_found:
        return base
    if serials is not None:
        try:
            ranges = parse_serial_list(list(serials))
        except RegistryError:
            return base  # the check raises it in its place
        issuances = {rng.prefix: issued_prefix(uow, rng.prefix) for rng in ranges}
        if any(not _inside(rng, issuances[rng.prefix]) for rng in ranges):
            return replace(base, issuances=issuances)
        leaves = tuple(tuple(uow.repo.blocks.leaves_overlapping(r.prefix, r.first_kg, r.last_kg)) for r in ranges)
        return replace(base, issuances=issuances, leaves=leaves)
    if isinstance(quantity_kg, bool) or not isinstance(quantity_kg, int) or quantity_kg <= 0:
        return base
    candidates = _covering(uow.repo.blocks.free_leaves(account_id, state, project_id=project_id, vintage=vintage,
                                                standards=standards, lot_id=lot_id), quantity_kg)
    free_any_kg = None
    if standards is not None and sum(b.quantity_kg for b in candidates) < quantity_kg:
        free_any_kg = sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(account_id, state, project_id=project_id,
                                                                      vintage=vintage, lot_id=lot_id))
    pledged_kg = None
    if state == BlockState.HELD and sum(b.quantity_kg for b in candidates) < quantity_kg:  # the error path only
        pledged_kg = sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(account_id, BlockState.PLEDGED,
                                                                      project_id=project_id, vintage=vintage,
                                                                      standards=standards, lot_id=lot_id))
    return replace(base, candidates=candidates, free_any_kg=free_any_kg, pledged_kg=pledged_kg)


def select_units(uow: UnitOfWork, account_id: str, *, quantity_kg: int | None, serials: Sequence[str] | None,
                 project_id: str | None = None, vintage: int | None = None,
                 standards: Sequence[str] | None = None, state: BlockState = BlockState.HELD,
                 lot_id: str | None = None) -> list[Pick]:
    """Pick the units (``holdings.check_selection`` over ``load_selection``); ``standards`` restricts a
    quantity to units of those standards (use rules)."""
    return check_selection(load_selection(uow, account_id, quantity_kg=quantity_kg, serials=serials,
                                          project_id=project_id, vintage=vintage, standards=standards, state=state,
                                          lot_id=lot_id))


def _covering(leaves: Iterator[Block], quantity_kg: int) -> tuple[Block, ...]:
    """The leaves, in order, until they cover ``quantity_kg`` (no batch read beyond that)."""
    out: list[Block] = []
    got = 0
    for block in leaves:
        out.append(block)
        got += block.quantity_kg
        if got >= quantity_kg:
            break
    return tuple(out)


def _inside(rng: SerialRange, issued: IssuedPrefix | None) -> bool:
    return issued is not None and issued.status == "issued" and rng.last_kg <= issued.quantity_kg


def issued_prefix(uow: UnitOfWork, prefix: str) -> IssuedPrefix | None:
    row = uow.repo.issuance_by_prefix(prefix)
    return None if row is None else IssuedPrefix(status=row["status"], quantity_kg=row["quantity_kg"])


def require_issued_range(uow: UnitOfWork, rng: SerialRange) -> None:
    require_issued(rng, issued_prefix(uow, rng.prefix))


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
    return uow.repo.blocks.of_txn(txn_id, moved_only_state)
