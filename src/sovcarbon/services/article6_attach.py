"""Attaching units to an authorization (LoA): by serials or the lowest free serials of an account, within
the LoA's capacity, each kilogram under at most one LoA (6008); a first transfer at authorization when the
LoA says so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import check_movable
from sovcarbon.domain.model import Actor, Block, BlockState, Role
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.domain.serials import SerialRange, parse_serial_list
from sovcarbon.services.article6 import active_coverage, attached_kg, current, itmo_ids, range_of, registry_id, today
from sovcarbon.services.article6_first_transfer import Piece, apply_first_transfer, insert_actions, plan_first_transfer
from sovcarbon.services.article6_requests import AttachIn
from sovcarbon.services.movements import require_issued_range
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store.uow import UnitOfWork

MAX_RANGES_PER_ATTACH = 1000


@dataclass
class _Unit:
    rng: SerialRange
    block: Block


def _attach_by_serials(uow: UnitOfWork, req: AttachIn) -> list[_Unit]:
    assert req.serials is not None
    units: list[_Unit] = []
    for rng in parse_serial_list(list(req.serials), max_ranges=MAX_RANGES_PER_ATTACH):
        require_issued_range(uow, rng)
        for leaf in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            check_movable(leaf, req.account_id or leaf.account_id)
            part = rules.intersect(rng, SerialRange(leaf.serial_prefix, leaf.first_kg, leaf.last_kg))
            assert part is not None
            units.append(_Unit(part, leaf))
    return units


def _attach_by_quantity(reg: Registry, uow: UnitOfWork, req: AttachIn) -> list[_Unit]:
    """Lowest free serials of the account not yet under any LoA, of exportable standards."""
    assert req.account_id is not None
    quantity = require_quantity(req.quantity_kg)
    uow.repo.account(req.account_id)
    exportable = [s.code for s in reg.profile.standards.values() if s.exportable]
    units: list[_Unit] = []
    remaining = quantity
    for leaf in uow.repo.blocks.free_leaves(req.account_id, BlockState.HELD, project_id=req.project_id,
                                     vintage=req.vintage, standards=exportable):
        whole = SerialRange(leaf.serial_prefix, leaf.first_kg, leaf.last_kg)
        for part in rules.subtract(whole, [range_of(r) for r in active_coverage(uow, whole)]):
            take = min(remaining, part.quantity_kg)
            units.append(_Unit(SerialRange(part.prefix, part.first_kg, part.first_kg + take - 1), leaf))
            remaining -= take
            if remaining == 0:
                return units
    free_any = sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(req.account_id, BlockState.HELD,
                                                               project_id=req.project_id, vintage=req.vintage))
    if free_any >= quantity and not any(True for _ in uow.repo.blocks.free_leaves(
            req.account_id, BlockState.HELD, project_id=req.project_id, vintage=req.vintage, standards=exportable)):
        raise RegistryError(5002, "the account's free units are of standards that cannot be authorized",
                            account_id=req.account_id)
    raise RegistryError(4001, "quantity above the account's free units not yet under an authorization",
                        requested_kg=quantity, available_kg=quantity - remaining, account_id=req.account_id)


def attach(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str, req: AttachIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "attach units to an authorization")
    loa = current(uow, loa_id)
    rules.require_valid_on(loa, today(uow))
    units = _attach_by_serials(uow, req) if req.serials is not None else _attach_by_quantity(reg, uow, req)
    for u in units:
        rules.require_exportable(reg.profile, u.block.standard, str(u.rng))
        rules.check_attach_unit(loa, u.block.project_id, u.block.vintage, str(u.rng))
        taken = active_coverage(uow, u.rng)
        if taken:
            raise RegistryError(6008, "units are already under an authorization", serial=str(u.rng),
                                authorization_ids=sorted({r["loa_id"] for r in taken}))
        rules.require_whole_itmos(u.rng, "units placed under an authorization")
    adding = sum(u.rng.quantity_kg for u in units)
    rules.check_capacity(loa, attached_kg(uow, loa_id), adding)
    pieces = [Piece(u.rng, u.block.vintage, loa_id) for u in units]
    rid, party = registry_id(reg, uow), reg.profile.party_code
    event = rules.first_transfer_at_attach(loa)
    plan = plan_first_transfer(uow, loa, pieces, str(event), rules.LoaPurpose.OIMP) if event else None
    payload: dict[str, Any] = {
        "actor": actor.key_id, "authorization_id": loa_id, "version": loa.version, "quantity_kg": adding,
        "units": [{"serial": str(p.rng), "vintage": p.vintage, "quantity_kg": p.rng.quantity_kg,
                   "itmo_first_id": itmo_ids(loa, rid, party, p.rng, p.vintage)[0],
                   "itmo_last_id": itmo_ids(loa, rid, party, p.rng, p.vintage)[1]}
                  for p in pieces]}
    if plan is not None:
        payload["article6"] = plan.payload(rid, party)
    entry = uow.append("a6_units_attached", payload)
    uow.repo.insert_many(a6.a6_coverage, [
        dict(loa_id=loa_id, issuance_id=u.block.issuance_id, project_id=u.block.project_id, standard=u.block.standard,
             vintage=u.block.vintage, serial_prefix=u.rng.prefix, first_kg=u.rng.first_kg, last_kg=u.rng.last_kg,
             quantity_kg=u.rng.quantity_kg, attached_at=uow.now, attach_seq=entry.seq, released_at=None,
             released_seq=None) for u in units])
    insert_actions(uow, rules.ActionType.AUTHORIZATION, pieces, entry.seq, None, {"transferring_party": party})
    if plan is not None:
        apply_first_transfer(uow, plan, party, entry.seq, None, {"transferring_party": party})
    return {"authorization_id": loa_id, "quantity_kg": adding, "journal_seq": entry.seq,
            "units": payload["units"], "first_transferred_kg": plan.quantity_kg if plan else 0,
            "corresponding_adjustments": plan.payload(rid, party)["corresponding_adjustments"] if plan else [],
            "attached_kg": attached_kg(uow, loa_id), "max_quantity_kg": loa.max_quantity_kg}
