"""Transfer between accounts of this registry (rules: ``domain.transfer``, ``domain.accounts``, ``domain.access``).

Only the holder moves its units: a holding role on its own participant's account, into a holding account
of an active participant. Officers move units only by an administrative transfer (``admin_transfers``).
"""

from __future__ import annotations

from typing import Any

from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_holder_destination, require_participant_active, require_transfer_pair
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor
from sovcarbon.domain.transfer import plan_transfer
from sovcarbon.services.movements import record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import TransferIn
from sovcarbon.store.uow import UnitOfWork


def transfer(reg: Registry, uow: UnitOfWork, actor: Actor, req: TransferIn) -> dict[str, Any]:
    # one statement for both accounts (a round trip less on PostgreSQL); errors in the same order as before
    source, found = uow.repo.account_pair(req.from_account_id, req.to_account_id)
    if source is None:
        raise RegistryError(1005, f"account {req.from_account_id} not found", id=req.from_account_id)
    require_controls(actor, source, "transfer")
    if found is None:
        raise RegistryError(1005, f"account {req.to_account_id} not found", id=req.to_account_id)
    destination = found
    require_transfer_pair(source, destination)
    require_holder_destination(destination)
    if destination.participant_id != source.participant_id:
        require_participant_active(participant_status(uow, destination.participant_id), destination, "acquiring")
    picks = select_units(uow, source.id, quantity_kg=req.quantity_kg, serials=req.serials,
                         project_id=req.project_id, vintage=req.vintage)
    txn_id = new_id("txn")
    movement = plan_transfer(picks, destination.id, txn_id, lambda: new_id("blk"))
    seq, moved = record(uow, movement, txn_id, "transfer", actor.key_id, source.id, destination.id,
                        {"note": req.note})
    return {"id": txn_id, "kind": "transfer", "from_account_id": source.id, "to_account_id": destination.id,
            "quantity_kg": movement.quantity_kg, "blocks": moved, "journal_seq": seq, "created_at": uow.now,
            "note": req.note}


def participant_status(uow: UnitOfWork, participant_id: str) -> str:
    row = uow.repo.hot.one("SELECT status FROM participants WHERE id = ?", (participant_id,))
    return str(row[0]) if row is not None else "unknown"
