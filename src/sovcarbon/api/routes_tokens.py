"""Token resources: onboarding token holders, tokenization, lots, reconciliation and the bridge's queues.
Each handler: authenticate, call one service (``services.tokens``) or the registry's bridge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sovcarbon.api.deps import ActorDep, IdemDep, PageDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.api.routes_core import IdPath, command
from sovcarbon.bridge import Bridge, attached
from sovcarbon.bridge.events import dead_letter_view
from sovcarbon.bridge.reconcile import latest_reports
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Role
from sovcarbon.services import bridge_officer, read_models, token_consents, token_identity, tokenization
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_requests import DeadLetterStatus, OutboxStatus, TokenHolderIn, TokenizationIn

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)
OPERATORS = [Role.REGISTRY_ADMIN, Role.REGISTRY_APPROVER, Role.REGULATOR]


def _bridge(reg: Registry) -> Bridge:
    bridge = attached(reg)
    if bridge is None:
        raise RegistryError(1007, "no chain is attached to this registry (start it with `sovcarbon serve`)")
    return bridge


@router.post("/token-holders", status_code=201, tags=["tokens"])
def onboard_holder(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: TokenHolderIn) -> JSONResponse:
    """The holder's own act (its key) names the licensed intermediary serving it; the chain's identity registry
    follows. Neither an intermediary nor an officer onboards a holder (1002)."""
    return command(reg, actor, "onboard_token_holder", body.model_dump(mode="json"),
                   lambda uow: token_identity.onboard_holder(reg, uow, actor, body), key)


@router.post("/token-consents", status_code=201, tags=["tokens"])
def grant_token_consent(reg: RegistryDep, actor: ActorDep, key: IdemDep,
                        body: token_consents.TokenConsentIn) -> JSONResponse:
    """The holder's own key lets one licensed intermediary onboard it and tokenize up to max_kg of one of its
    accounts; the intermediary presents the consent's id."""
    return command(reg, actor, "grant_token_consent", body.model_dump(mode="json"),
                   lambda uow: token_consents.grant(reg, uow, actor, body), key)


@router.get("/token-consents/{consent_id}", tags=["tokens"])
def get_token_consent(reg: RegistryDep, actor: ActorDep, consent_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return token_consents.get(uow, actor, consent_id)


@router.post("/token-consents/{consent_id}/revocation", tags=["tokens"])
def revoke_token_consent(reg: RegistryDep, actor: ActorDep, key: IdemDep, consent_id: IdPath) -> JSONResponse:
    return command(reg, actor, "revoke_token_consent", {"id": consent_id},
                   lambda uow: token_consents.revoke(reg, uow, actor, consent_id), key, 200)


@router.post("/tokenizations", status_code=201, tags=["tokens"])
def tokenize(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: TokenizationIn) -> JSONResponse:
    """The holder's request (its key, its account): immobilize units in the custody account of the intermediary
    serving it as a lot; the bridge mints 1 token per kg. An intermediary cannot tokenize a holder's units (1002)."""
    return command(reg, actor, "tokenize", body.model_dump(mode="json"),
                   lambda uow: tokenization.tokenize(reg, uow, actor, body), key)


@router.get("/lots", tags=["tokens"])
def list_lots(reg: RegistryDep, actor: ActorDep, page: PageDep) -> dict[str, Any]:
    return read_models.lots_page(reg, actor, page.limit, page.cursor)


@router.get("/lots/{lot_id}", tags=["tokens"])
def get_lot(reg: RegistryDep, actor: ActorDep, lot_id: IdPath) -> dict[str, Any]:
    """A lot with its serials, blocks, token holders (mirrored from chain events) and outbox rows."""
    view = read_models.lot(reg, actor, lot_id)
    bridge = attached(reg)
    if bridge is not None:
        info = bridge.token.lot_info(int(view["chain_lot_id"]))
        view["chain"] = {"open": info.open, "total_supply_kg": info.total_supply_kg, "retired_kg": info.retired_kg,
                         "redeemed_kg": info.redeemed_kg, "frozen": info.frozen, "contract": bridge.token.address}
    return view


@router.post("/reconciliation", tags=["tokens"])
def reconcile(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    """Compare every lot with the chain (I4). A mismatch freezes the lot here and on chain and is reported
    with code 7001; nothing is corrected."""
    require_role(actor, [Role.REGISTRY_ADMIN], "run a reconciliation")
    return _bridge(reg).reconcile()


@router.get("/reconciliation", tags=["tokens"])
def reconciliation_reports(reg: RegistryDep, actor: ActorDep,
                           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    require_role(actor, OPERATORS, "read reconciliation reports")
    return {"data": latest_reports(reg, limit), "next_cursor": None}


@router.get("/bridge", tags=["tokens"])
def bridge_status(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    require_role(actor, OPERATORS, "read the bridge status")
    return _bridge(reg).status()


@router.get("/bridge/outbox", tags=["tokens"])
def bridge_outbox(reg: RegistryDep, actor: ActorDep, page: PageDep,
                  status: OutboxStatus | None = None) -> dict[str, Any]:
    require_role(actor, OPERATORS, "read the bridge outbox")
    return read_models.outbox_page(reg, status, page.limit, page.cursor)


@router.get("/bridge/dead-letters", tags=["tokens"])
def dead_letters(reg: RegistryDep, actor: ActorDep, page: PageDep,
                 status: DeadLetterStatus | None = None) -> dict[str, Any]:
    require_role(actor, OPERATORS, "read the bridge's dead letters")
    rows = read_models.dead_letter_rows_page(reg, status, page.limit, page.cursor)
    return {"data": [dead_letter_view(r) for r in rows["data"]], "next_cursor": rows["next_cursor"]}


@router.post("/bridge/actions", status_code=201, tags=["tokens"])
def request_bridge_action(reg: RegistryDep, actor: ActorDep, key: IdemDep,
                          body: bridge_officer.BridgeActionIn) -> JSONResponse:
    """An officer (registry_admin) requests unfreezing a lot or an address, or resolving a dead letter; it takes
    effect when another person (registry_approver) approves it (3003 if the same person)."""
    return command(reg, actor, "request_bridge_action", body.model_dump(mode="json"),
                   lambda uow: bridge_officer.request_action(uow, actor, body.kind, body.target, body.reason), key)


@router.post("/bridge/actions/{action_id}/approval", tags=["tokens"])
def approve_bridge_action(reg: RegistryDep, actor: ActorDep, key: IdemDep, action_id: IdPath) -> JSONResponse:
    return command(reg, actor, "approve_bridge_action", {"id": action_id},
                   lambda uow: bridge_officer.approve_action(uow, actor, action_id), key, status_code=200)


@router.get("/bridge/actions", tags=["tokens"])
def bridge_actions(reg: RegistryDep, actor: ActorDep, page: PageDep) -> dict[str, Any]:
    require_role(actor, OPERATORS, "read bridge actions")
    return read_models.bridge_actions_page(reg, page.limit, page.cursor)


@router.post("/bridge/dead-letters/{dead_letter_id}/retry", tags=["tokens"])
def retry_dead_letter(reg: RegistryDep, actor: ActorDep, dead_letter_id: IdPath) -> dict[str, Any]:
    """Apply a dead-lettered chain event now (after the cause was fixed); it stays listed until it applies."""
    require_role(actor, [Role.REGISTRY_ADMIN], "retry dead letters")
    bridge = _bridge(reg)
    with bridge.cycle_lock:
        return bridge.events.retry(dead_letter_id)
