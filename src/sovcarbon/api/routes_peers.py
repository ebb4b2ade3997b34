"""Peer registries (RULES.md 8xxx): registration under four-eyes, cross-border transfers, the signed message
endpoint other registries call, status queries, reconciliation. Each handler calls ``services.interop``.

``POST /v1/peer/messages``, ``/v1/peer/status`` and ``/v1/peer/holdings`` take no API key: the caller is
authenticated by the JWS signature under the key registered for its registry id (8001 / 8002).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sovcarbon.api.deps import ActorDep, IdemDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.api.routes_core import IdPath, command
from sovcarbon.domain.access import require_role
from sovcarbon.domain.model import Role
from sovcarbon.services import cadt_export, interop, peer_reconcile
from sovcarbon.services.interop import DeliveryIn, PeerIn, PeerKeyIn, PeerTransferIn
from sovcarbon.services.queries import READ_ALL_ROLES

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)
PeerIdPath = Annotated[str, Path(min_length=2, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]


class SignedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jws: str = Field(min_length=10, max_length=256_000, description="a compact JWS signed by the calling registry")


@router.get("/peer/identity", tags=["peers"])
def identity(reg: RegistryDep) -> dict[str, Any]:
    """This registry's id, Party and public key: what a peer's admin registers."""
    return interop.identity(reg)


@router.post("/peer/messages", tags=["peers"])
def peer_message(reg: RegistryDep, body: SignedIn) -> dict[str, Any]:
    """A signed protocol message from a peer registry; the answer is the next signed message."""
    return {"jws": interop.receive(reg, body.jws)}


@router.post("/peer/status", tags=["peers"])
def peer_status(reg: RegistryDep, body: SignedIn) -> dict[str, Any]:
    """A peer's signed status query about one transfer; a signed answer (nothing is written)."""
    return {"jws": interop.status_answer(reg, body.jws)}


@router.post("/peer/holdings", tags=["peers"])
def peer_holdings(reg: RegistryDep, body: SignedIn) -> dict[str, Any]:
    """A peer's signed reconciliation query: live ranges of the shared serial prefixes, message hashes."""
    return {"jws": peer_reconcile.holdings_answer(reg, body.jws)}


@router.post("/peers", status_code=201, tags=["peers"])
def request_peer(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: PeerIn) -> JSONResponse:
    return command(reg, actor, "request_peer", body.model_dump(mode="json"),
                   lambda uow: interop.request_peer(reg, uow, actor, body), key)


@router.post("/peers/{peer_id}/approval", status_code=200, tags=["peers"])
def approve_peer(reg: RegistryDep, actor: ActorDep, key: IdemDep, peer_id: PeerIdPath) -> JSONResponse:
    return command(reg, actor, "approve_peer", {"peer_id": peer_id},
                   lambda uow: interop.decide_peer(reg, uow, actor, peer_id, True), key, 200)


@router.post("/peers/{peer_id}/rejection", status_code=200, tags=["peers"])
def reject_peer(reg: RegistryDep, actor: ActorDep, key: IdemDep, peer_id: PeerIdPath) -> JSONResponse:
    return command(reg, actor, "reject_peer", {"peer_id": peer_id},
                   lambda uow: interop.decide_peer(reg, uow, actor, peer_id, False), key, 200)


@router.get("/peers", tags=["peers"])
def list_peers(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    with reg.store.read() as uow:
        return interop.list_peers(uow)


@router.get("/peers/{peer_id}", tags=["peers"])
def get_peer(reg: RegistryDep, actor: ActorDep, peer_id: PeerIdPath) -> dict[str, Any]:
    """One peer registry with its keys (rotations: each key's cutover and four-eyes status)."""
    with reg.store.read() as uow:
        return interop.peer(uow, peer_id)


@router.post("/peers/{peer_id}/keys", status_code=201, tags=["peers"])
def request_peer_key(reg: RegistryDep, actor: ActorDep, key: IdemDep, peer_id: PeerIdPath,
                     body: PeerKeyIn) -> JSONResponse:
    """Register the new public key a peer announced, with its cutover (admin; an approver approves): messages
    signed with the old key are accepted until the cutover, then refused (8002)."""
    return command(reg, actor, "request_peer_key", {"peer_id": peer_id, **body.model_dump(mode="json")},
                   lambda uow: interop.request_peer_key(reg, uow, actor, peer_id, body), key)


@router.post("/peers/{peer_id}/keys/{key_id}/approval", status_code=200, tags=["peers"])
def approve_peer_key(reg: RegistryDep, actor: ActorDep, key: IdemDep, peer_id: PeerIdPath,
                     key_id: IdPath) -> JSONResponse:
    return command(reg, actor, "approve_peer_key", {"peer_id": peer_id, "key_id": key_id},
                   lambda uow: interop.decide_peer_key(reg, uow, actor, peer_id, key_id, True), key, 200)


@router.post("/peers/{peer_id}/keys/{key_id}/rejection", status_code=200, tags=["peers"])
def reject_peer_key(reg: RegistryDep, actor: ActorDep, key: IdemDep, peer_id: PeerIdPath,
                    key_id: IdPath) -> JSONResponse:
    return command(reg, actor, "reject_peer_key", {"peer_id": peer_id, "key_id": key_id},
                   lambda uow: interop.decide_peer_key(reg, uow, actor, peer_id, key_id, False), key, 200)


@router.post("/peer-transfers", status_code=201, tags=["peers"])
def start_transfer(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: PeerTransferIn) -> JSONResponse:
    """Send units to a peer registry: lock, propose, commit here, suspense there, final. The answer shows the
    state reached (``completed``, or where it waits: ``sovcarbon peers sync`` and the server's worker resume)."""
    view, replayed = interop.start_and_drive(reg, actor, body, key)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(view, status_code=201, headers=headers)


@router.get("/peer-transfers", tags=["peers"])
def list_transfers(reg: RegistryDep, actor: ActorDep, state: str | None = None) -> dict[str, Any]:
    require_role(actor, READ_ALL_ROLES, "list peer transfers")
    with reg.store.read() as uow:
        return interop.list_transfers(uow, state)


@router.get("/peer-transfers/{transfer_id}", tags=["peers"])
def get_transfer(reg: RegistryDep, actor: ActorDep, transfer_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        view = interop.transfer_view(uow, transfer_id)
        if actor.role not in READ_ALL_ROLES:
            interop.require_own_transfer(uow, actor, view)
        return view


@router.post("/peer/sync", status_code=200, tags=["peers"])
def sync(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    """Recovery now (the server's worker also runs it): drive open transfers, resolve in-doubt ones."""
    require_role(actor, {Role.REGISTRY_ADMIN}, "run the peer recovery")
    return interop.sync(reg)


@router.post("/peer/reconciliations", status_code=200, tags=["peers"])
def reconcile(reg: RegistryDep, actor: ActorDep, peer_id: str) -> dict[str, Any]:
    """I7 against one peer: totals, then blocks, then the message audit trail; kg live in both are frozen."""
    require_role(actor, {Role.REGISTRY_ADMIN}, "reconcile with a peer registry")
    return peer_reconcile.reconcile(reg, peer_id)


@router.get("/peer/leaves/{serial_prefix}", tags=["peers"])
def leaves(reg: RegistryDep, serial_prefix: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
    """Every leaf block of one issuance (serial prefix) here: where each kg is, public like serial look-ups.
    ``exported`` kg live in another registry; any other state is at home here (I7)."""
    return peer_reconcile.leaves_view(reg, serial_prefix)


@router.get("/peer/messages/{transfer_id}", tags=["peers"])
def messages(reg: RegistryDep, actor: ActorDep, transfer_id: IdPath) -> dict[str, Any]:
    """The signed messages of one transfer or retirement notice (the audit trail), for officers and the regulator."""
    require_role(actor, READ_ALL_ROLES, "read peer messages")
    with reg.store.read() as uow:
        return interop.messages_of(uow, transfer_id)


@router.get("/peer/uses-abroad", tags=["peers"])
def uses_abroad(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    """Retirements of this registry's units reported by the registries that held them (signed notices)."""
    require_role(actor, READ_ALL_ROLES, "read uses abroad")
    with reg.store.read() as uow:
        return interop.uses_abroad(uow)


@router.get("/peer/entity-uses", tags=["peers"])
def entity_uses(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    """Uses by this country's entities, in a peer registry, of units that Party authorized for ours (signed
    notices, e.g. tokens retired on the peer's chain)."""
    require_role(actor, READ_ALL_ROLES, "read uses by our entities abroad")
    with reg.store.read() as uow:
        return interop.entity_uses(uow)


@router.post("/peer-deliveries", status_code=201, tags=["peers"])
def deliver_export(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: DeliveryIn) -> JSONResponse:
    """Deliver an export made before the peer protocol (e.g. the demo's) to the peer registry of its Party:
    PROPOSE/ACCEPT, then COMMIT (its commit point, the export, has passed) and FINAL; the exporter's key."""
    view, replayed = interop.deliver_and_drive(reg, actor, body, key)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(view, status_code=201, headers=headers)


@router.get("/reports/cadt", tags=["peers"])
def cadt(reg: RegistryDep, actor: ActorDep, base_url: Annotated[str, Query(max_length=200)] = "") -> dict[str, Any]:
    """Programs, projects, locations, issuances, units and labels in the CAD Trust v2.0.2 data model (apiField
    names, insert order), with the required fields the ledger cannot fill yet (``unfilled_required``)."""
    require_role(actor, READ_ALL_ROLES, "export to the CAD Trust")
    with reg.store.read() as uow:
        return cadt_export.export(reg, uow, base_url.rstrip("/"))
