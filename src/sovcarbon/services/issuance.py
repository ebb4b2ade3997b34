"""Issuance: an admin requests, a second officer approves; approval creates the serial blocks."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import issue as rules
from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.accounts import TRANSFERABLE_KINDS, require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import AccountKind, Actor, IssuanceStatus, Role
from sovcarbon.domain.serials import format_prefix
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import DecisionIn, IssuanceIn
from sovcarbon.services.views import block_view, issuance_view
from sovcarbon.store import tables as t
from sovcarbon.store.repository import block_from_row
from sovcarbon.store.uow import UnitOfWork

APPROVERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides


def view(uow: UnitOfWork, issuance_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.issuances, issuance_id, "issuance")
    blocks = [block_view(block_from_row(r)) for r in uow.conn.execute(
        select(t.blocks).where(t.blocks.c.issuance_id == issuance_id, t.blocks.c.parent_id.is_(None))
        .order_by(t.blocks.c.first_kg)).mappings()]
    return issuance_view(row, blocks)


def request(reg: Registry, uow: UnitOfWork, actor: Actor, req: IssuanceIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "request issuance")
    project = uow.repo.project(req.project_id)
    account = uow.repo.account(req.account_id)
    if account.kind not in TRANSFERABLE_KINDS or account.kind == AccountKind.BUFFER:
        raise RegistryError(1003, f"credits are issued into a holding or custody account, not {account.kind}")
    overlapping = uow.repo.overlapping_issuances(project.id, req.monitoring_period.start.isoformat(),
                                                 req.monitoring_period.end.isoformat())
    standard = reg.profile.standard(project.standard)
    quantity_kg, buffer_kg = rules.check_request(project, req.vintage, req.monitoring_period.start,
                                                 req.monitoring_period.end, req.quantity_kg, req.buffer_kg,
                                                 overlapping, verified_kg=req.verified_kg, standard=standard)
    require_active(account, "receiving")
    number = uow.repo.next_issuance_number(project.id, req.vintage)
    prefix = format_prefix(reg.profile.country, standard.serial_code, project.number, req.vintage, number)
    rules.require_new_serials(prefix, issuance_holds_prefix=uow.repo.issuance_by_prefix(prefix) is not None,
                              blocks_carry_prefix=uow.repo.serial_prefix_used(prefix))
    buffer_account_id = uow.repo.setting("buffer_account_id")
    assert buffer_account_id, "registry not bootstrapped"
    issuance_id = new_id("iss")
    uow.repo.insert(t.issuances, id=issuance_id, project_id=project.id, number=number, vintage=req.vintage,
                    period_start=req.monitoring_period.start.isoformat(),
                    period_end=req.monitoring_period.end.isoformat(), quantity_kg=quantity_kg, buffer_kg=buffer_kg,
                    account_id=account.id, buffer_account_id=buffer_account_id,
                    status=str(IssuanceStatus.PENDING_APPROVAL), serial_prefix=prefix,
                    requested_by_key=actor.key_id, requested_by_name=actor.name, decided_by_key=None,
                    verification_ref=req.verification_ref, verified_kg=req.verified_kg, created_at=uow.now,
                    decided_at=None, mitigation_type=req.mitigation_type)
    result = view(uow, issuance_id)
    uow.append("issuance_requested", {"actor": actor.key_id, "issuance": result})
    return result


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, issuance_id: str) -> dict[str, Any]:
    require_role(actor, APPROVERS, "approve issuance")
    issuance = uow.repo.issuance(issuance_id)
    rules.require_pending(issuance)
    require_four_eyes(actor, issuance.requested_by_key, issuance.requested_by_name, "approve issuance")
    project = uow.repo.project(issuance.project_id)
    # Everything checked at request time is checked again: the world may have moved since.
    overlapping = uow.repo.overlapping_issuances(project.id, issuance.period_start, issuance.period_end,
                                                 exclude_id=issuance.id)
    verified_kg = uow.repo.one(t.issuances, issuance_id, "issuance")["verified_kg"]
    rules.check_request(project, issuance.vintage, date.fromisoformat(issuance.period_start),
                        date.fromisoformat(issuance.period_end), issuance.quantity_kg, issuance.buffer_kg, overlapping,
                        verified_kg=verified_kg, standard=reg.profile.standard(project.standard))
    require_active(uow.repo.account(issuance.account_id), "receiving")
    rules.require_new_serials(issuance.serial_prefix, issuance_holds_prefix=False,
                              blocks_carry_prefix=uow.repo.serial_prefix_used(issuance.serial_prefix))
    txn_id = new_id("txn")
    blocks = rules.root_blocks(issuance, project, txn_id, lambda: new_id("blk"))
    uow.repo.apply_movement([], blocks, txn_id, uow.now)
    uow.repo.update(t.issuances, [t.issuances.c.id == issuance_id],
                    status=str(IssuanceStatus.ISSUED), decided_by_key=actor.key_id, decided_at=uow.now)
    entry = uow.append("issuance_approved", {"actor": actor.key_id, "issuance_id": issuance_id, "txn_id": txn_id,
                                             "blocks": [block_view(b) for b in blocks]})
    uow.repo.insert(t.transactions, id=txn_id, kind="issuance", account_id=issuance.account_id,
                    counterparty_account_id=None, quantity_kg=issuance.quantity_kg, actor_key_id=actor.key_id,
                    journal_seq=entry.seq, created_at=uow.now)
    return view(uow, issuance_id)


def reject(reg: Registry, uow: UnitOfWork, actor: Actor, issuance_id: str, req: DecisionIn) -> dict[str, Any]:
    require_role(actor, APPROVERS, "reject issuance")
    issuance = uow.repo.issuance(issuance_id)
    rules.require_pending(issuance)
    require_four_eyes(actor, issuance.requested_by_key, issuance.requested_by_name, "reject issuance")
    uow.repo.update(t.issuances, [t.issuances.c.id == issuance_id],
                    status=str(IssuanceStatus.REJECTED), decided_by_key=actor.key_id, decided_at=uow.now)
    uow.append("issuance_rejected", {"actor": actor.key_id, "issuance_id": issuance_id, "reason": req.reason})
    return view(uow, issuance_id)
