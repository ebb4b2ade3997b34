"""Discrepancy freezes: an admin freezes (or releases) exact serial ranges, whoever holds them.

| rule | code |
|---|---|
| only a registry admin freezes or releases | 1002 |
| serials are well-formed and issued | 2002 / 4002 |
| retired and cancelled units are final and need no freeze | 4004 |
"""

from __future__ import annotations

from typing import Any

from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, carve
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import FINAL_STATES, Actor, Role
from sovcarbon.domain.serials import format_serial, parse_serial_list
from sovcarbon.services.movements import record, require_issued_range
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import FreezeIn
from sovcarbon.store.uow import UnitOfWork


def set_frozen(reg: Registry, uow: UnitOfWork, actor: Actor, req: FreezeIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "freeze units")
    picks: list[Pick] = []
    for rng in parse_serial_list(list(req.serials)):
        require_issued_range(uow, rng)
        for leaf in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            if leaf.state in FINAL_STATES:
                raise RegistryError(4004, f"units are {leaf.state} and final",
                                    serial=format_serial(leaf.serial_prefix, leaf.first_kg, leaf.last_kg))
            if leaf.frozen != req.frozen:
                picks.append(Pick(leaf, max(leaf.first_kg, rng.first_kg), min(leaf.last_kg, rng.last_kg)))
    if not picks:
        raise RegistryError(1008, "the named units are already " + ("frozen" if req.frozen else "not frozen"))
    txn_id = new_id("txn")
    movement = carve(picks, txn_id, lambda: new_id("blk"), frozen=req.frozen)
    seq, moved = record(uow, movement, txn_id, "freeze" if req.frozen else "unfreeze", actor.key_id, None, None,
                        {"reason": req.reason})
    return {"id": txn_id, "kind": "freeze" if req.frozen else "unfreeze", "quantity_kg": movement.quantity_kg,
            "blocks": moved, "journal_seq": seq, "reason": req.reason}
