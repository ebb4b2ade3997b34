"""Participants, accounts and the registry's own bootstrap records."""

from __future__ import annotations

from typing import Any

from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import (
    LOCKED_STATES,
    AccountKind,
    AccountStatus,
    Actor,
    BlockState,
    KycStatus,
    ParticipantKind,
    ParticipantStatus,
    Role,
)
from sovcarbon.services import token_identity
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import AccountIn, AccountStatusIn, ParticipantIn, ParticipantUpdate
from sovcarbon.services.views import account_view, participant_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def bootstrap(reg: Registry) -> dict[str, str]:
    """Create the registry's own participant and its buffer account once; return their ids."""
    with reg.store.write() as uow:
        par_id = uow.repo.setting("registry_participant_id")
        if par_id is not None:
            return {"participant_id": par_id, "buffer_account_id": uow.repo.setting("buffer_account_id") or ""}
        par_id, buf_id = new_id("par"), new_id("acc")
        p = reg.profile
        uow.repo.insert(t.participants, id=par_id, name=p.agency_name, kind=str(ParticipantKind.GOVERNMENT),
                        country=p.country, kyc_status=str(KycStatus.VERIFIED), status=str(ParticipantStatus.ACTIVE),
                        license_kind=None, license_number=None, wallet_address=None, created_at=uow.now)
        uow.repo.insert(t.accounts, id=buf_id, participant_id=par_id, kind=str(AccountKind.BUFFER),
                        status=str(AccountStatus.ACTIVE), name="National buffer pool", created_at=uow.now)
        uow.repo.set_setting("registry_participant_id", par_id)
        uow.repo.set_setting("buffer_account_id", buf_id)
        uow.append("registry_bootstrapped", {"registry": p.registry_name, "country": p.country,
                                             "participant_id": par_id, "buffer_account_id": buf_id,
                                             "public_key": reg.store.public_key_hex})
        return {"participant_id": par_id, "buffer_account_id": buf_id}


def create_participant(reg: Registry, uow: UnitOfWork, actor: Actor, req: ParticipantIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "create participants")
    if req.license is not None and req.kind not in (ParticipantKind.INTERMEDIARY, ParticipantKind.BANK):
        raise RegistryError(1003, "only intermediaries and banks carry a licence")
    participant_id = new_id("par")
    row = dict(id=participant_id, name=req.name, kind=str(req.kind), country=req.country,
               kyc_status=str(req.kyc_status), status=str(ParticipantStatus.ACTIVE),
               license_kind=req.license.kind if req.license else None,
               license_number=req.license.number if req.license else None,
               wallet_address=req.wallet_address.lower() if req.wallet_address else None, created_at=uow.now)
    uow.repo.insert(t.participants, **row)
    view = participant_view(row)
    uow.append("participant_created", {"actor": actor.key_id, "participant": view})
    token_identity.sync_identity(uow, participant_id)  # an intermediary's licence reaches the chain's identity registry
    return view


def update_participant(reg: Registry, uow: UnitOfWork, actor: Actor, participant_id: str,
                       req: ParticipantUpdate) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "update participants")
    current = uow.repo.one(t.participants, participant_id, "participant")
    changes: dict[str, Any] = {}
    if req.kyc_status is not None:
        changes["kyc_status"] = str(req.kyc_status)
    if req.status is not None:
        wanted = ParticipantStatus(req.status)
        if current["status"] == ParticipantStatus.CLOSED and wanted != ParticipantStatus.CLOSED:
            raise RegistryError(1008, "a closed participant stays closed", participant_id=participant_id)
        if current["id"] == uow.repo.setting("registry_participant_id") and wanted != ParticipantStatus.ACTIVE:
            raise RegistryError(1003, "the registry's own participant stays active", participant_id=participant_id)
        changes["status"] = req.status
    if req.license is not None:
        if current["kind"] not in (ParticipantKind.INTERMEDIARY, ParticipantKind.BANK):
            raise RegistryError(1003, "only intermediaries and banks carry a licence")
        changes["license_kind"], changes["license_number"] = req.license.kind, req.license.number
    if req.wallet_address is not None:
        changes["wallet_address"] = req.wallet_address.lower()
    if not changes:
        raise RegistryError(1003, "nothing to change")
    uow.repo.update(t.participants, [t.participants.c.id == participant_id], **changes)
    view = participant_view(uow.repo.one(t.participants, participant_id, "participant"))
    uow.append("participant_updated", {"actor": actor.key_id, "participant_id": participant_id, "changes": changes})
    token_identity.sync_identity(uow, participant_id, previous=current)  # KYC, licence, suspension, address -> chain
    return view


def open_account(reg: Registry, uow: UnitOfWork, actor: Actor, req: AccountIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "open accounts")
    participant = uow.repo.participant(req.participant_id)
    if req.kind == AccountKind.CUSTODY and participant.kind != ParticipantKind.INTERMEDIARY:
        raise RegistryError(1003, "custody accounts belong to intermediaries")
    if req.kind == AccountKind.BUFFER and participant.kind != ParticipantKind.GOVERNMENT:
        raise RegistryError(1003, "buffer accounts belong to the registry")
    row = dict(id=new_id("acc"), participant_id=participant.id, kind=str(req.kind), status=str(AccountStatus.ACTIVE),
               name=req.name or f"{participant.name} {req.kind}", created_at=uow.now)
    uow.repo.insert(t.accounts, **row)
    view = account_view(row)
    uow.append("account_opened", {"actor": actor.key_id, "account": view})
    return view


def set_account_status(reg: Registry, uow: UnitOfWork, actor: Actor, account_id: str,
                       req: AccountStatusIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "change account status")
    account = uow.repo.account(account_id)
    if account.status == AccountStatus.CLOSED:
        raise RegistryError(3004, "a closed account stays closed", account_id=account_id)
    if req.status == AccountStatus.CLOSED:
        live_states = {str(s) for s in (BlockState.HELD, *LOCKED_STATES)}
        live = {k: v for k, v in uow.repo.blocks.balance_by_state(account_id).items() if k in live_states}
        if live:
            raise RegistryError(1003, "an account is closed only once it holds no live units", balances=live)
    uow.repo.update(t.accounts, [t.accounts.c.id == account_id], status=str(req.status))
    uow.append("account_status_changed", {"actor": actor.key_id, "account_id": account_id, "from": str(account.status),
                                          "to": str(req.status), "reason": req.reason})
    return account_view(uow.repo.one(t.accounts, account_id, "account"))
