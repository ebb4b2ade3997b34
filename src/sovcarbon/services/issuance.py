"""Issuance: an admin requests, a second officer approves; approval creates the serial blocks.

Rules: ``domain.issue.check_issue_request`` / ``check_issue_approval``; this module reads their facts and
applies their plans."""

from __future__ import annotations

from typing import Any

from sovcarbon.domain import issue as rules
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor, Issuance, IssuanceStatus, Project
from sovcarbon.domain.serials import format_prefix
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import DecisionIn, IssuanceIn
from sovcarbon.services.views import block_view, issuance_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def view(uow: UnitOfWork, issuance_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.issuances, issuance_id, "issuance")
    blocks = [block_view(b) for b in uow.repo.blocks.issuance_roots(issuance_id)]
    return issuance_view(row, blocks)


def load_request_facts(reg: Registry, uow: UnitOfWork, actor: Actor, req: IssuanceIn) -> rules.RequestFacts:
    project = find_project(uow, req.project_id)
    account = uow.repo.find_account(req.account_id)
    start, end = req.monitoring_period.start, req.monitoring_period.end
    overlapping: list[str] = []
    prefix = None
    number = 0
    prefix_issued = prefix_in_blocks = False
    standard = reg.profile.standards.get(project.standard) if project is not None else None
    if project is not None and account is not None:
        overlapping = uow.repo.overlapping_issuances(project.id, start.isoformat(), end.isoformat())
        if standard is not None:
            number = uow.repo.next_issuance_number(project.id, req.vintage)
            prefix = format_prefix(reg.profile.country, standard.serial_code, project.number, req.vintage, number)
            prefix_issued = uow.repo.issuance_by_prefix(prefix) is not None
            prefix_in_blocks = uow.repo.blocks.serial_prefix_used(prefix)
    return rules.RequestFacts(
        actor=actor, project_id=req.project_id, account_id=req.account_id, project=project, account=account,
        standard=standard, vintage=req.vintage, period_start=start, period_end=end, quantity_kg=req.quantity_kg,
        buffer_kg=req.buffer_kg, verified_kg=req.verified_kg, overlapping_issuance_ids=tuple(overlapping),
        number=number, serial_prefix=prefix, prefix_issued=prefix_issued, prefix_in_blocks=prefix_in_blocks)


def request(reg: Registry, uow: UnitOfWork, actor: Actor, req: IssuanceIn) -> dict[str, Any]:
    plan = rules.check_issue_request(load_request_facts(reg, uow, actor, req))
    buffer_account_id = uow.repo.setting("buffer_account_id")
    assert buffer_account_id, "registry not bootstrapped"
    issuance_id = new_id("iss")
    uow.repo.insert(t.issuances, id=issuance_id, project_id=plan.project.id, number=plan.number, vintage=req.vintage,
                    period_start=req.monitoring_period.start.isoformat(),
                    period_end=req.monitoring_period.end.isoformat(), quantity_kg=plan.quantity_kg,
                    buffer_kg=plan.buffer_kg, account_id=plan.account.id, buffer_account_id=buffer_account_id,
                    status=str(IssuanceStatus.PENDING_APPROVAL), serial_prefix=plan.serial_prefix,
                    requested_by_key=actor.key_id, requested_by_name=actor.name, decided_by_key=None,
                    verification_ref=req.verification_ref, verified_kg=req.verified_kg, created_at=uow.now,
                    decided_at=None, mitigation_type=req.mitigation_type)
    result = view(uow, issuance_id)
    uow.append("issuance_requested", {"actor": actor.key_id, "issuance": result})
    return result


def find_project(uow: UnitOfWork, project_id: str) -> Project | None:
    return uow.repo.project(project_id) if uow.repo.find(t.projects, project_id) is not None else None


def find_issuance(uow: UnitOfWork, issuance_id: str) -> tuple[Issuance | None, Any]:
    row = uow.repo.find(t.issuances, issuance_id)
    return (uow.repo.issuance(issuance_id) if row is not None else None), row


def load_approval_facts(reg: Registry, uow: UnitOfWork, actor: Actor, issuance_id: str) -> rules.ApprovalFacts:
    issuance, row = find_issuance(uow, issuance_id)
    project = account = standard = None
    overlapping: list[str] = []
    prefix_in_blocks = False
    if issuance is not None and issuance.status == IssuanceStatus.PENDING_APPROVAL:
        project = uow.repo.project(issuance.project_id)
        standard = reg.profile.standards.get(project.standard)
        overlapping = uow.repo.overlapping_issuances(project.id, issuance.period_start, issuance.period_end,
                                                     exclude_id=issuance.id)
        account = uow.repo.account(issuance.account_id)
        prefix_in_blocks = uow.repo.blocks.serial_prefix_used(issuance.serial_prefix)
    return rules.ApprovalFacts(actor=actor, issuance_id=issuance_id, issuance=issuance, project=project,
                               standard=standard, verified_kg=row["verified_kg"] if row is not None else None,
                               overlapping_issuance_ids=tuple(overlapping), account=account,
                               prefix_in_blocks=prefix_in_blocks)


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, issuance_id: str) -> dict[str, Any]:
    facts = load_approval_facts(reg, uow, actor, issuance_id)
    issuance = rules.check_issue_approval(facts)
    assert facts.project is not None
    txn_id = new_id("txn")
    blocks = rules.root_blocks(issuance, facts.project, txn_id, lambda: new_id("blk"))
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
    rules.check_decision(actor, issuance_id, find_issuance(uow, issuance_id)[0], "reject issuance")
    uow.repo.update(t.issuances, [t.issuances.c.id == issuance_id],
                    status=str(IssuanceStatus.REJECTED), decided_by_key=actor.key_id, decided_at=uow.now)
    uow.append("issuance_rejected", {"actor": actor.key_id, "issuance_id": issuance_id, "reason": req.reason})
    return view(uow, issuance_id)
