"""Tokenization consents: the holder's own act (its key) that lets one intermediary onboard it and tokenize
up to ``max_kg`` of one of its accounts. The intermediary presents the consent (``consent_id``); each
tokenization under it counts against ``max_kg``; the holder revokes it at any time.

| rule | code |
|---|---|
| only the holder's own key (a holding role on its own account) grants or revokes a consent | 1002 |
| the named intermediary is a licensed intermediary with an on-chain address | 1002 / 5005 |
| max_kg is a positive integer number of kg | 2003 |
| an intermediary acts on a holder's units only with the holder's active consent naming it and the account | 1002 |
| the kg tokenized under a consent never exceed its max_kg | 1002 |
| a consent is read by its holder, its intermediary, registry officers and the regulator | 1005 |
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from sovcarbon.domain import tokenize as token_rules
from sovcarbon.domain.access import require_controls
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Account, Actor
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import Command, Id, Kg
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

ACTIVE, REVOKED = "active", "revoked"


class TokenConsentIn(Command):
    """The holder (its own key) lets ``intermediary_id`` tokenize up to ``max_kg`` of ``holder_account_id``."""

    holder_account_id: Id
    intermediary_id: Id
    max_kg: Kg


def view(uow: UnitOfWork, consent_id: str) -> dict[str, Any]:
    r = uow.repo.one(t.token_consents, consent_id, "tokenization consent")
    return {"id": r["id"], "holder_participant_id": r["holder_participant_id"],
            "holder_account_id": r["holder_account_id"], "intermediary_id": r["intermediary_id"],
            "max_kg": r["max_kg"], "used_kg": r["used_kg"], "remaining_kg": r["max_kg"] - r["used_kg"],
            "status": r["status"], "granted_by": r["granted_by_key"], "created_at": r["created_at"],
            "revoked_at": r["revoked_at"]}


def get(uow: UnitOfWork, actor: Actor, consent_id: str) -> dict[str, Any]:
    r = uow.repo.one(t.token_consents, consent_id, "tokenization consent")
    if actor.role not in READ_ALL_ROLES and actor.participant_id not in (r["holder_participant_id"],
                                                                         r["intermediary_id"]):
        raise RegistryError(1005, f"tokenization consent {consent_id} not found", id=consent_id)
    return view(uow, consent_id)


def grant(reg: Registry, uow: UnitOfWork, actor: Actor, req: TokenConsentIn) -> dict[str, Any]:
    account = uow.repo.account(req.holder_account_id)
    require_controls(actor, account, "consent to the tokenization of")
    max_kg = require_quantity(req.max_kg, "max_kg")
    intermediary = uow.repo.participant(req.intermediary_id)
    wallet = uow.conn.execute(select(t.participants.c.wallet_address)
                              .where(t.participants.c.id == intermediary.id)).scalar()
    token_rules.check_intermediary(intermediary, wallet)
    consent_id = new_id("tcn")
    uow.repo.insert(t.token_consents, id=consent_id, holder_participant_id=account.participant_id,
                    holder_account_id=account.id, intermediary_id=intermediary.id, max_kg=max_kg, used_kg=0,
                    status=ACTIVE, granted_by_key=actor.key_id, created_at=uow.now, revoked_at=None)
    uow.append("tokenization_consent_granted", {"actor": actor.key_id, "consent_id": consent_id,
                                                "holder_account_id": account.id,
                                                "intermediary_id": intermediary.id, "max_kg": max_kg})
    return view(uow, consent_id)


def revoke(reg: Registry, uow: UnitOfWork, actor: Actor, consent_id: str) -> dict[str, Any]:
    r = uow.repo.one(t.token_consents, consent_id, "tokenization consent")
    require_controls(actor, uow.repo.account(r["holder_account_id"]), "revoke the tokenization consent of")
    if r["status"] != ACTIVE:
        raise RegistryError(1008, f"tokenization consent {consent_id} is {r['status']}", id=consent_id)
    uow.repo.update(t.token_consents, [t.token_consents.c.id == consent_id], status=REVOKED, revoked_at=uow.now)
    uow.append("tokenization_consent_revoked", {"actor": actor.key_id, "consent_id": consent_id})
    return view(uow, consent_id)


def require_consent(uow: UnitOfWork, actor: Actor, consent_id: str | None, holder_participant_id: str,
                    account: Account | None) -> dict[str, Any]:
    """The active consent ``consent_id`` of this holder naming the acting intermediary (and this account)."""
    if consent_id is None:
        raise RegistryError(1002, "an intermediary acts on a holder's units only with the holder's consent "
                                  "(consent_id)", participant_id=holder_participant_id)
    r = uow.repo.one(t.token_consents, consent_id, "tokenization consent")
    if (r["status"] != ACTIVE or r["intermediary_id"] != actor.participant_id
            or r["holder_participant_id"] != holder_participant_id
            or (account is not None and r["holder_account_id"] != account.id)):
        raise RegistryError(1002, f"tokenization consent {consent_id} does not allow this", consent_id=consent_id,
                            status=r["status"])
    return dict(r)


def consume(uow: UnitOfWork, consent: dict[str, Any], quantity_kg: int) -> None:
    """Count ``quantity_kg`` against the consent (1002 past its max_kg)."""
    remaining_kg = int(consent["max_kg"]) - int(consent["used_kg"])
    if quantity_kg > remaining_kg:
        raise RegistryError(1002, f"the holder's consent {consent['id']} allows {remaining_kg} kg more",
                            consent_id=consent["id"], requested_kg=quantity_kg, remaining_kg=remaining_kg)
    uow.repo.update(t.token_consents, [t.token_consents.c.id == consent["id"]],
                    used_kg=int(consent["used_kg"]) + quantity_kg)
