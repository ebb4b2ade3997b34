"""Token holders and the chain's identity registry: onboarding a holder with its intermediary, and the
identity-registry calls (through the outbox) that make the chain follow each participant's NR record
(KYC, licence, suspension, address). Rules: ``domain.tokenize``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import tokenize as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.chain_ops import SetIdentity, SetIntermediary
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import HOLDING_ROLES, Actor, ParticipantKind, Role
from sovcarbon.services import token_consents
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_outbox import PENDING, enqueue
from sovcarbon.services.token_requests import TokenHolderIn
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork


# ------------------------------------------------------------------------------------------- identity
def wallet_of(uow: UnitOfWork, participant_id: str) -> str | None:
    value = uow.conn.execute(select(t.participants.c.wallet_address)
                             .where(t.participants.c.id == participant_id)).scalar()
    return str(value).lower() if value else None


def serving_intermediary(uow: UnitOfWork, participant_id: str) -> str | None:
    value = uow.conn.execute(select(tt.token_holders.c.intermediary_id)
                             .where(tt.token_holders.c.participant_id == participant_id)).scalar()
    return str(value) if value else None


def want_identity(uow: UnitOfWork, participant_id: str, address: str, role: str, eligible: bool,
                   intermediary_address: str | None) -> None:
    """Record what the chain's identity registry must say about ``address`` and enqueue the call."""
    if role == "intermediary":
        outbox_id = enqueue(uow, SetIntermediary(intermediary=address, licensed=eligible))
    else:
        assert intermediary_address is not None
        outbox_id = enqueue(uow, SetIdentity(holder=address, kyc_verified=eligible, intermediary=intermediary_address))
    c = tt.token_identity_sync.c
    values = dict(participant_id=participant_id, role=role, eligible=eligible,
                  intermediary_address=intermediary_address, outbox_id=outbox_id, status=PENDING,
                  updated_at=uow.now)
    if uow.conn.execute(select(c.address).where(c.address == address)).first() is None:
        uow.repo.insert(tt.token_identity_sync, address=address, **values)
    else:
        uow.repo.update(tt.token_identity_sync, [c.address == address], **values)


def sync_identity(uow: UnitOfWork, participant_id: str, previous: Mapping[Any, Any] | None = None) -> list[str]:
    """Enqueue the identity-registry calls that make the chain follow this participant's NR record:
    an intermediary's licence (and its clients, if its address moved), a served holder's KYC status,
    suspension and address. ``previous`` is the participant row before the change. Returns the
    addresses enqueued; participants unrelated to tokens enqueue nothing."""
    p = uow.repo.participant(participant_id)
    wallet = wallet_of(uow, participant_id)
    old_wallet = str(previous["wallet_address"]).lower() if previous and previous["wallet_address"] else None
    touched: list[str] = []
    if p.kind == ParticipantKind.INTERMEDIARY:
        if old_wallet and old_wallet != wallet:
            want_identity(uow, p.id, old_wallet, "intermediary", False, None)
            touched.append(old_wallet)
        if wallet:
            want_identity(uow, p.id, wallet, "intermediary", rules.intermediary_licensed(p), None)
            touched.append(wallet)
            if old_wallet and old_wallet != wallet:
                clients = uow.conn.execute(select(tt.token_holders.c.participant_id)
                                           .where(tt.token_holders.c.intermediary_id == p.id)).scalars()
                for client in list(clients):
                    touched += sync_identity(uow, str(client))
    served_by = serving_intermediary(uow, participant_id)
    if served_by is not None:
        intermediary_wallet = wallet_of(uow, served_by)
        if intermediary_wallet is not None:
            if old_wallet and old_wallet != wallet and p.kind != ParticipantKind.INTERMEDIARY:
                want_identity(uow, p.id, old_wallet, "holder", False, intermediary_wallet)
                touched.append(old_wallet)
            if wallet:
                want_identity(uow, p.id, wallet, "holder", rules.holder_eligible(p), intermediary_wallet)
                touched.append(wallet)
    return touched


def onboard_holder(reg: Registry, uow: UnitOfWork, actor: Actor, req: TokenHolderIn) -> dict[str, Any]:
    """Needs the holder's act: either the holder's own key names the licensed intermediary that will serve it,
    or that intermediary presents the holder's consent (``consent_id``, ``services.token_consents``). Nobody
    else onboards a holder (1002)."""
    consent_id: str | None = None
    if actor.role == Role.INTERMEDIARY and actor.participant_id != req.participant_id:
        consent_id = token_consents.require_consent(uow, actor, req.consent_id, req.participant_id, None)["id"]
        intermediary_id: str | None = actor.participant_id
    else:
        require_role(actor, HOLDING_ROLES, "onboard a token holder (the holder names its intermediary)")
        if actor.participant_id != req.participant_id:
            raise RegistryError(1002, "a holder is onboarded by its own act (its key names the intermediary) or "
                                      "by the intermediary presenting its consent", participant_id=req.participant_id)
        intermediary_id = req.intermediary_id
    if intermediary_id is None:
        raise RegistryError(1003, "intermediary_id is required: name the intermediary that serves you")
    intermediary = uow.repo.participant(intermediary_id)
    rules.check_intermediary(intermediary, wallet_of(uow, intermediary.id))
    holder = uow.repo.participant(req.participant_id)
    rules.check_holder(holder, wallet_of(uow, holder.id), None, None)
    served_by = serving_intermediary(uow, holder.id)
    if served_by is not None and served_by != intermediary.id:
        raise RegistryError(5004, f"holder {holder.id} is served by intermediary {served_by}", served_by=served_by)
    if served_by is None:
        uow.repo.insert(tt.token_holders, participant_id=holder.id, intermediary_id=intermediary.id,
                        onboarded_by=actor.key_id, created_at=uow.now)
        uow.append("token_holder_onboarded", {"actor": actor.key_id, "participant_id": holder.id,
                                              "intermediary_id": intermediary.id,
                                              "wallet_address": wallet_of(uow, holder.id),
                                              "consent": consent_id or "holder_key"})
        sync_identity(uow, holder.id)
    return {"participant_id": holder.id, "intermediary_id": intermediary.id,
            "wallet_address": wallet_of(uow, holder.id)}
