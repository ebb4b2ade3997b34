"""Cancellation, four-eyes: a request names the units; the approval re-checks and applies it.

| rule | code |
|---|---|
| the holder (a holding role on its own participant's account) requests a voluntary cancellation of its units | 1002 |
| a registry_admin may request one on any account (correction, buffer reversal); four-eyes applies it | 1002 |
| only a registry_approver who is not the requester approves or rejects (``access.require_four_eyes``) | 3003 / 1002 |
| a cancellation is read by registry officers, the regulator and the holder whose account it concerns | 1005 |
"""

from __future__ import annotations

import json
from typing import Any

from sovcarbon.domain import cancel as rules
from sovcarbon.domain.access import require_controls, require_four_eyes, require_role
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import HOLDING_ROLES, Actor, Role
from sovcarbon.services import article6
from sovcarbon.services.movements import blocks_of_txn, record, select_units
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import CancellationIn, DecisionIn
from sovcarbon.services.views import block_view, cancellation_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

DECIDERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides


def view(uow: UnitOfWork, cancellation_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.cancellations, cancellation_id, "cancellation")
    blocks = [block_view(b) for b in blocks_of_txn(uow, row["txn_id"], "cancelled")] if row["txn_id"] else []
    return cancellation_view(row, blocks)


def get(uow: UnitOfWork, actor: Actor, cancellation_id: str) -> dict[str, Any]:
    """A cancellation as the caller may see it: officers and the regulator, or the account's holder (else 1005)."""
    row = uow.repo.one(t.cancellations, cancellation_id, "cancellation")
    if actor.role not in READ_ALL_ROLES and actor.participant_id != uow.repo.account(row["account_id"]).participant_id:
        raise RegistryError(1005, f"cancellation {cancellation_id} not found", id=cancellation_id)
    return view(uow, cancellation_id)


def request(reg: Registry, uow: UnitOfWork, actor: Actor, req: CancellationIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN, *HOLDING_ROLES], "request cancellation")
    account = uow.repo.account(req.account_id)
    if actor.role != Role.REGISTRY_ADMIN:
        require_controls(actor, account, "cancel")
    require_active(account, "cancelling")
    # Check now that the units are there, so a doomed request fails early; approval checks again.
    article6.check_domestic_exit(uow, select_units(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                                                   project_id=req.project_id, vintage=req.vintage), "a cancellation")
    cancellation_id = new_id("can")
    spec = {"serials": req.serials, "project_id": req.project_id, "vintage": req.vintage}
    uow.repo.insert(t.cancellations, id=cancellation_id, status="pending_approval", account_id=account.id,
                    quantity_kg=req.quantity_kg, serials=json.dumps(spec) if req.serials is not None or
                    req.project_id or req.vintage else None, reason=req.reason, requested_by_key=actor.key_id,
                    requested_by_name=actor.name, decided_by_key=None, txn_id=None, created_at=uow.now,
                    decided_at=None)
    uow.append("cancellation_requested", {"actor": actor.key_id, "cancellation_id": cancellation_id,
                                          "account_id": account.id, "quantity_kg": req.quantity_kg,
                                          "selection": spec, "reason": req.reason})
    return view(uow, cancellation_id)


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, cancellation_id: str) -> dict[str, Any]:
    require_role(actor, DECIDERS, "approve cancellation")
    row = uow.repo.one(t.cancellations, cancellation_id, "cancellation")
    rules.require_pending(row["status"], cancellation_id)
    require_four_eyes(actor, row["requested_by_key"], row["requested_by_name"], "approve cancellation")
    account = uow.repo.account(row["account_id"])
    require_active(account, "cancelling")
    spec = json.loads(row["serials"]) if row["serials"] else {}
    picks = select_units(uow, account.id, quantity_kg=row["quantity_kg"], serials=spec.get("serials"),
                         project_id=spec.get("project_id"), vintage=spec.get("vintage"))
    article6.check_domestic_exit(uow, picks, "a cancellation")  # 6007 / 6006 (Article 6 units never leave silently)
    txn_id = new_id("txn")
    movement = rules.plan_cancellation(picks, txn_id, lambda: new_id("blk"))
    record(uow, movement, txn_id, "cancellation", actor.key_id, account.id, None,
           {"cancellation_id": cancellation_id, "reason": row["reason"], "requested_by": row["requested_by_key"]})
    uow.repo.update(t.cancellations, [t.cancellations.c.id == cancellation_id],
                    status="cancelled", decided_by_key=actor.key_id, txn_id=txn_id, decided_at=uow.now,
                    quantity_kg=movement.quantity_kg)
    return view(uow, cancellation_id)


def reject(reg: Registry, uow: UnitOfWork, actor: Actor, cancellation_id: str, req: DecisionIn) -> dict[str, Any]:
    require_role(actor, DECIDERS, "reject cancellation")
    row = uow.repo.one(t.cancellations, cancellation_id, "cancellation")
    rules.require_pending(row["status"], cancellation_id)
    require_four_eyes(actor, row["requested_by_key"], row["requested_by_name"], "reject cancellation")
    uow.repo.update(t.cancellations, [t.cancellations.c.id == cancellation_id],
                    status="rejected", decided_by_key=actor.key_id, decided_at=uow.now)
    uow.append("cancellation_rejected", {"actor": actor.key_id, "cancellation_id": cancellation_id,
                                         "reason": req.reason})
    return view(uow, cancellation_id)
