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
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor
from sovcarbon.services import article6_use
from sovcarbon.services.movements import blocks_of_txn, load_selection, record
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import CancellationIn, DecisionIn
from sovcarbon.services.views import block_view, cancellation_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


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


def load_request_facts(uow: UnitOfWork, actor: Actor, req: CancellationIn) -> rules.RequestFacts:
    account = uow.repo.find_account(req.account_id)
    units = None
    if account is not None:
        units = load_selection(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                               project_id=req.project_id, vintage=req.vintage)
    return rules.RequestFacts(actor=actor, account_id=req.account_id, account=account, units=units)


def request(reg: Registry, uow: UnitOfWork, actor: Actor, req: CancellationIn) -> dict[str, Any]:
    # The units are checked now, so that a doomed request fails early; approval checks again.
    plan = rules.check_request(load_request_facts(uow, actor, req))
    account = plan.account
    article6_use.check_domestic_exit(uow, list(plan.picks), "a cancellation")
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


def _pending(row: Any) -> rules.Pending | None:
    return None if row is None else rules.Pending(id=row["id"], status=row["status"],
                                                  requested_by_key=row["requested_by_key"],
                                                  requested_by_name=row["requested_by_name"])


def load_approval_facts(uow: UnitOfWork, actor: Actor, cancellation_id: str) -> rules.ApprovalFacts:
    row = uow.repo.find(t.cancellations, cancellation_id)
    account = uow.repo.find_account(row["account_id"]) if row is not None else None
    units = None
    if row is not None and account is not None and row["status"] == "pending_approval":
        spec = json.loads(row["serials"]) if row["serials"] else {}
        units = load_selection(uow, account.id, quantity_kg=row["quantity_kg"], serials=spec.get("serials"),
                               project_id=spec.get("project_id"), vintage=spec.get("vintage"))
    return rules.ApprovalFacts(actor=actor, cancellation_id=cancellation_id, cancellation=_pending(row),
                               account=account, units=units)


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, cancellation_id: str) -> dict[str, Any]:
    plan = rules.check_approval(load_approval_facts(uow, actor, cancellation_id))
    article6_use.check_domestic_exit(uow, list(plan.picks), "a cancellation")  # 6007 / 6006
    row = uow.repo.one(t.cancellations, cancellation_id, "cancellation")
    txn_id = new_id("txn")
    movement = plan.movement(txn_id, lambda: new_id("blk"))
    record(uow, movement, txn_id, "cancellation", actor.key_id, plan.account.id, None,
           {"cancellation_id": cancellation_id, "reason": row["reason"], "requested_by": row["requested_by_key"]})
    uow.repo.update(t.cancellations, [t.cancellations.c.id == cancellation_id],
                    status="cancelled", decided_by_key=actor.key_id, txn_id=txn_id, decided_at=uow.now,
                    quantity_kg=movement.quantity_kg)
    return view(uow, cancellation_id)


def reject(reg: Registry, uow: UnitOfWork, actor: Actor, cancellation_id: str, req: DecisionIn) -> dict[str, Any]:
    rules.check_decision(actor, cancellation_id, _pending(uow.repo.find(t.cancellations, cancellation_id)),
                         "reject cancellation")
    uow.repo.update(t.cancellations, [t.cancellations.c.id == cancellation_id],
                    status="rejected", decided_by_key=actor.key_id, decided_at=uow.now)
    uow.append("cancellation_rejected", {"actor": actor.key_id, "cancellation_id": cancellation_id,
                                         "reason": req.reason})
    return view(uow, cancellation_id)
