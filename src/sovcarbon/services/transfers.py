"""Transfer between accounts of this registry (rules: ``domain.transfer.check_transfer``).

Only the holder moves its units: a holding role on its own participant's account, into a holding account
of an active participant. Officers move units only by an administrative transfer (``admin_transfers``).
"""

from __future__ import annotations

from typing import Any

from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor
from sovcarbon.domain.transfer import TransferFacts, check_transfer
from sovcarbon.services.movements import load_selection, record
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import TransferIn
from sovcarbon.store.uow import UnitOfWork


def load_facts(uow: UnitOfWork, actor: Actor, req: TransferIn) -> TransferFacts:
    """Read what ``check_transfer`` needs: both accounts in one statement (a round trip less on PostgreSQL),
    the acquiring participant's status when it is another participant, and the units when both exist."""
    source, destination = uow.repo.account_pair(req.from_account_id, req.to_account_id)
    status = None
    units = None
    if source is not None and destination is not None:
        if destination.participant_id != source.participant_id:
            status = participant_status(uow, destination.participant_id)
        units = load_selection(uow, source.id, quantity_kg=req.quantity_kg, serials=req.serials,
                               project_id=req.project_id, vintage=req.vintage)
    return TransferFacts(actor=actor, from_account_id=req.from_account_id, to_account_id=req.to_account_id,
                         source=source, destination=destination, destination_participant_status=status, units=units)


def transfer(reg: Registry, uow: UnitOfWork, actor: Actor, req: TransferIn) -> dict[str, Any]:
    plan = check_transfer(load_facts(uow, actor, req))
    source, destination = plan.source, plan.destination
    txn_id = new_id("txn")
    movement = plan.movement(txn_id, lambda: new_id("blk"))
    seq, moved = record(uow, movement, txn_id, "transfer", actor.key_id, source.id, destination.id,
                        {"note": req.note})
    return {"id": txn_id, "kind": "transfer", "from_account_id": source.id, "to_account_id": destination.id,
            "quantity_kg": movement.quantity_kg, "blocks": moved, "journal_seq": seq, "created_at": uow.now,
            "note": req.note}


def participant_status(uow: UnitOfWork, participant_id: str) -> str:
    row = uow.repo.hot.one("SELECT status FROM participants WHERE id = ?", (participant_id,))
    return str(row[0]) if row is not None else "unknown"
