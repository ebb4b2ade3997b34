"""Administrative transfer (rules: ``domain.admin_transfer``): a registry_admin requests, with a reason and a
legal reference, that a holder's units move; a registry_approver who is not the requester applies or rejects
it. The units are checked at request (a doomed request fails early) and again at approval."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from sovcarbon.domain import admin_transfer as rules
from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import Account, Actor, Role
from sovcarbon.services import pledges
from sovcarbon.services.movements import blocks_of_txn, record, select_units
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import DecisionIn, Id, _Selection
from sovcarbon.services.transfers import participant_status
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

DECIDERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides
TXN_KIND = "administrative_transfer"  # the transaction row; the journal entry is administrative_transfer_approved


class AdminTransferIn(_Selection):
    from_account_id: Id
    to_account_id: Id
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    legal_reference: Annotated[str, Field(min_length=1, max_length=300,
                                          description="court order number, correction ticket, ...")]


def _accounts(uow: UnitOfWork, from_account_id: str, to_account_id: str) -> tuple[Account, Account]:
    source, destination = uow.repo.account(from_account_id), uow.repo.account(to_account_id)
    rules.check_accounts(source, destination, participant_status(uow, destination.participant_id))
    return source, destination


def _select(uow: UnitOfWork, account_id: str, quantity_kg: int | None, serials: list[str] | None,
            project_id: str | None, vintage: int | None) -> tuple[list[Pick], list[tuple[str, int]]]:
    """By quantity: the free balance first, then the live liens newest first (services/pledges.forced_picks);
    by serials: free units only (pledged serials are 4003). Returns the picks and the kg taken per lien."""
    if serials is None and isinstance(quantity_kg, int) and not isinstance(quantity_kg, bool) and quantity_kg > 0:
        try:
            return select_units(uow, account_id, quantity_kg=quantity_kg, serials=None, project_id=project_id,
                                vintage=vintage), []
        except RegistryError as exc:
            if exc.code not in (4001, 4003):  # short of free units: the liens' units come next
                raise
        return pledges.forced_picks(uow, account_id, quantity_kg, project_id=project_id, vintage=vintage)
    return select_units(uow, account_id, quantity_kg=quantity_kg, serials=serials, project_id=project_id,
                        vintage=vintage), []


def view(uow: UnitOfWork, admin_transfer_id: str) -> dict[str, Any]:
    r = uow.repo.one(t.admin_transfers, admin_transfer_id, "administrative transfer")
    blocks = [block_view(b) for b in blocks_of_txn(uow, r["txn_id"])] if r["txn_id"] else []
    moved = [b for b in blocks if b["account_id"] == r["to_account_id"]]
    return {"id": r["id"], "status": r["status"], "from_account_id": r["from_account_id"],
            "to_account_id": r["to_account_id"], "quantity_kg": r["quantity_kg"],
            "selection": json.loads(r["selection"]) if r["selection"] else None, "reason": r["reason"],
            "legal_reference": r["legal_reference"], "requested_by": r["requested_by_key"],
            "decided_by": r["decided_by_key"], "decision_reason": r["decision_reason"], "txn_id": r["txn_id"],
            "created_at": r["created_at"], "decided_at": r["decided_at"], "blocks": moved}


def get(uow: UnitOfWork, actor: Actor, admin_transfer_id: str) -> dict[str, Any]:
    """Officers and the regulator read every one; a holder those touching its accounts (else 1005)."""
    r = uow.repo.one(t.admin_transfers, admin_transfer_id, "administrative transfer")
    if actor.role not in READ_ALL_ROLES:
        owners = {uow.repo.account(r["from_account_id"]).participant_id,
                  uow.repo.account(r["to_account_id"]).participant_id}
        if actor.participant_id not in owners:
            raise RegistryError(1005, f"administrative transfer {admin_transfer_id} not found", id=admin_transfer_id)
    return view(uow, admin_transfer_id)


def request(reg: Registry, uow: UnitOfWork, actor: Actor, req: AdminTransferIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "request an administrative transfer")
    source, destination = _accounts(uow, req.from_account_id, req.to_account_id)
    _select(uow, source.id, req.quantity_kg, req.serials, req.project_id, req.vintage)
    admin_transfer_id = new_id("adt")
    spec = {"serials": req.serials, "project_id": req.project_id, "vintage": req.vintage}
    uow.repo.insert(t.admin_transfers, id=admin_transfer_id, status=rules.PENDING, from_account_id=source.id,
                    to_account_id=destination.id, quantity_kg=req.quantity_kg,
                    selection=canonical_text(spec),
                    reason=req.reason, legal_reference=req.legal_reference, requested_by_key=actor.key_id,
                    requested_by_name=actor.name, decided_by_key=None, decision_reason=None, txn_id=None,
                    created_at=uow.now, decided_at=None)
    uow.append("administrative_transfer_requested", {
        "actor": actor.key_id, "admin_transfer_id": admin_transfer_id, "from_account_id": source.id,
        "to_account_id": destination.id, "quantity_kg": req.quantity_kg, "selection": spec, "reason": req.reason,
        "legal_reference": req.legal_reference})
    return view(uow, admin_transfer_id)


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, admin_transfer_id: str) -> dict[str, Any]:
    require_role(actor, DECIDERS, "approve an administrative transfer")
    r = uow.repo.one(t.admin_transfers, admin_transfer_id, "administrative transfer")
    rules.require_pending(r["status"], admin_transfer_id)
    require_four_eyes(actor, r["requested_by_key"], r["requested_by_name"], "approve an administrative transfer")
    # Everything checked at request time is checked again: the world may have moved since.
    source, destination = _accounts(uow, r["from_account_id"], r["to_account_id"])
    spec = json.loads(r["selection"]) if r["selection"] else {}
    picks, taken = _select(uow, source.id, r["quantity_kg"], spec.get("serials"), spec.get("project_id"),
                           spec.get("vintage"))
    txn_id = new_id("txn")
    movement = rules.plan(picks, destination.id, txn_id, lambda: new_id("blk"))
    liens = pledges.reduce_for_forced_move(uow, taken, admin_transfer_id, txn_id)
    record(uow, movement, txn_id, TXN_KIND, actor.key_id, source.id, destination.id,
           {"admin_transfer_id": admin_transfer_id, "reason": r["reason"], "legal_reference": r["legal_reference"],
            "requested_by": r["requested_by_key"], **({"liens_taken": liens} if liens else {})},
           journal_kind="administrative_transfer_approved")
    uow.repo.update(t.admin_transfers, [t.admin_transfers.c.id == admin_transfer_id], status=rules.TRANSFERRED,
                    decided_by_key=actor.key_id, txn_id=txn_id, decided_at=uow.now,
                    quantity_kg=movement.quantity_kg)
    return view(uow, admin_transfer_id)


def reject(reg: Registry, uow: UnitOfWork, actor: Actor, admin_transfer_id: str, req: DecisionIn) -> dict[str, Any]:
    require_role(actor, DECIDERS, "reject an administrative transfer")
    r = uow.repo.one(t.admin_transfers, admin_transfer_id, "administrative transfer")
    rules.require_pending(r["status"], admin_transfer_id)
    require_four_eyes(actor, r["requested_by_key"], r["requested_by_name"], "reject an administrative transfer")
    uow.repo.update(t.admin_transfers, [t.admin_transfers.c.id == admin_transfer_id], status=rules.REJECTED,
                    decided_by_key=actor.key_id, decision_reason=req.reason, decided_at=uow.now)
    uow.append("administrative_transfer_rejected", {"actor": actor.key_id, "admin_transfer_id": admin_transfer_id,
                                                    "reason": req.reason})
    return view(uow, admin_transfer_id)
