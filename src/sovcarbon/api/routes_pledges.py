"""Pledges (liens) of registry units to banks (rules: ``domain/pledge.py``; service: ``services/pledges.py``).

Liens of tokens are pledged, released and enforced on chain by the parties' own keys; the bridge records them
from the chain's events and they are read here like the others (a default notice is the registry's record).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from sovcarbon.api.deps import ActorDep, IdemDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.api.routes_core import IdPath, command
from sovcarbon.services import pledges

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)


@router.post("/liens", status_code=201, tags=["pledges"])
def request_lien(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: pledges.LienIn) -> JSONResponse:
    """The holder asks to pledge ``quantity_kg`` of its account to a bank (``pledgee_id``); nothing is locked
    until the bank accepts."""
    return command(reg, actor, "request_lien", body.model_dump(mode="json"),
                   lambda uow: pledges.request(uow, actor, body), key)


@router.post("/liens/{lien_id}/accept", tags=["pledges"])
def accept_lien(reg: RegistryDep, actor: ActorDep, key: IdemDep, lien_id: IdPath) -> JSONResponse:
    """The pledgee accepts: the lien's kg (lowest free serials) become pledged units carrying the lien id."""
    return command(reg, actor, "accept_lien", {"id": lien_id},
                   lambda uow: pledges.accept(uow, actor, lien_id), key, 200)


@router.post("/liens/{lien_id}/withdraw", tags=["pledges"])
def withdraw_lien(reg: RegistryDep, actor: ActorDep, key: IdemDep, lien_id: IdPath) -> JSONResponse:
    """The holder withdraws its request while the bank has not accepted it."""
    return command(reg, actor, "withdraw_lien", {"id": lien_id},
                   lambda uow: pledges.withdraw(uow, actor, lien_id), key, 200)


@router.post("/liens/{lien_id}/release", tags=["pledges"])
def release_lien(reg: RegistryDep, actor: ActorDep, key: IdemDep, lien_id: IdPath,
                 body: Annotated[pledges.LienQuantityIn | None, Body()] = None) -> JSONResponse:
    """The pledgee releases ``quantity_kg`` (all that remains without it): those units are held again."""
    req = body or pledges.LienQuantityIn()
    return command(reg, actor, "release_lien", {"id": lien_id, **req.model_dump(mode="json")},
                   lambda uow: pledges.release(uow, actor, lien_id, req), key, 200)


@router.post("/liens/{lien_id}/default", tags=["pledges"])
def notify_lien_default(reg: RegistryDep, actor: ActorDep, key: IdemDep, lien_id: IdPath) -> JSONResponse:
    """The pledgee notifies the holder's default: enforcement becomes possible."""
    return command(reg, actor, "notify_lien_default", {"id": lien_id},
                   lambda uow: pledges.notify_default(uow, actor, lien_id), key, 200)


@router.post("/liens/{lien_id}/enforce", tags=["pledges"])
def enforce_lien(reg: RegistryDep, actor: ActorDep, key: IdemDep, lien_id: IdPath,
                 body: Annotated[pledges.LienEnforceIn | None, Body()] = None) -> JSONResponse:
    """After a default, the pledgee takes ``quantity_kg`` (all that remains without it) into its own holding
    account (``to_account_id``, default its first active one)."""
    req = body or pledges.LienEnforceIn()
    return command(reg, actor, "enforce_lien", {"id": lien_id, **req.model_dump(mode="json")},
                   lambda uow: pledges.enforce(uow, actor, lien_id, req), key, 200)


@router.get("/liens", tags=["pledges"])
def list_liens(reg: RegistryDep, actor: ActorDep,
               side: Annotated[Literal["pledgor", "pledgee"] | None, Query()] = None,
               status: Annotated[str | None, Query(max_length=12)] = None,
               account_id: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    """A statement of liens: a holder's (``side=pledgor``), a bank's (``side=pledgee``), or both; officers and
    the regulator see all."""
    return {"data": pledges.statement(reg, actor, side=side, status=status, account_id=account_id),
            "next_cursor": None}


@router.get("/liens/{lien_id}", tags=["pledges"])
def get_lien(reg: RegistryDep, actor: ActorDep, lien_id: IdPath) -> dict[str, Any]:
    return pledges.read(reg, actor, lien_id)
