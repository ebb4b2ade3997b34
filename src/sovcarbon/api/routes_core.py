"""Core resources of the registry of record (API.md). Each handler: authenticate, call one service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response

from sovcarbon.api.deps import ActorDep, IdemDep, OptionalActorDep, PageDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.domain.access import require_role
from sovcarbon.domain.model import Actor
from sovcarbon.services import (
    admin_transfers,
    cancellations,
    freezes,
    invariants,
    issuance,
    participants,
    projects,
    queries,
    read_models,
    retirements,
    transfers,
)
from sovcarbon.services.registry import Command, Registry
from sovcarbon.services.requests import (
    AccountIn,
    AccountStatusIn,
    CancellationIn,
    DecisionIn,
    FreezeIn,
    IssuanceIn,
    MitigationTypeIn,
    ParticipantIn,
    ParticipantUpdate,
    ProjectIn,
    RetirementIn,
    TransferIn,
    ValidationIn,
)

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)
IdPath = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[a-z]{2,5}_[0-9a-zA-Z]{1,34}$")]


def command(reg: Registry, actor: Actor, name: str, request: dict[str, Any],
            fn: Command, key: str | None, status_code: int = 201) -> JSONResponse:
    result = reg.execute(actor, name, request, fn, idempotency_key=key, status_code=status_code)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


# --- participants and accounts ------------------------------------------------------------------------------
@router.post("/participants", status_code=201, tags=["participants"])
def create_participant(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: ParticipantIn) -> JSONResponse:
    return command(reg, actor, "create_participant", body.model_dump(mode="json"),
                   lambda uow: participants.create_participant(reg, uow, actor, body), key)


@router.get("/participants", tags=["participants"])
def list_participants(reg: RegistryDep, actor: ActorDep, page: PageDep) -> dict[str, Any]:
    return read_models.participants_page(reg, actor, page.limit, page.cursor)


@router.get("/participants/{participant_id}", tags=["participants"])
def get_participant(reg: RegistryDep, actor: ActorDep, participant_id: IdPath) -> dict[str, Any]:
    return read_models.participant(reg, actor, participant_id)


@router.patch("/participants/{participant_id}", tags=["participants"])
def update_participant(reg: RegistryDep, actor: ActorDep, key: IdemDep, participant_id: IdPath,
                       body: ParticipantUpdate) -> JSONResponse:
    return command(reg, actor, "update_participant", {"id": participant_id, **body.model_dump(mode="json")},
                   lambda uow: participants.update_participant(reg, uow, actor, participant_id, body), key, 200)


@router.post("/accounts", status_code=201, tags=["accounts"])
def open_account(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: AccountIn) -> JSONResponse:
    return command(reg, actor, "open_account", body.model_dump(mode="json"),
                   lambda uow: participants.open_account(reg, uow, actor, body), key)


@router.get("/accounts", tags=["accounts"])
def list_accounts(reg: RegistryDep, actor: ActorDep, page: PageDep) -> dict[str, Any]:
    return read_models.accounts_page(reg, actor, page.limit, page.cursor)


@router.get("/accounts/{account_id}", tags=["accounts"])
def get_account(reg: RegistryDep, actor: ActorDep, account_id: IdPath) -> dict[str, Any]:
    return read_models.account(reg, actor, account_id)


@router.post("/accounts/{account_id}/status", tags=["accounts"])
def set_account_status(reg: RegistryDep, actor: ActorDep, key: IdemDep, account_id: IdPath,
                       body: AccountStatusIn) -> JSONResponse:
    return command(reg, actor, "set_account_status", {"id": account_id, **body.model_dump(mode="json")},
                   lambda uow: participants.set_account_status(reg, uow, actor, account_id, body), key, 200)


@router.get("/accounts/{account_id}/holdings", tags=["accounts"])
def account_holdings(reg: RegistryDep, actor: ActorDep, account_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return queries.holdings(uow, actor, account_id)


# --- projects ---------------------------------------------------------------------------------------------------
@router.post("/projects", status_code=201, tags=["projects"])
def submit_project(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: ProjectIn) -> JSONResponse:
    return command(reg, actor, "submit_project", body.model_dump(mode="json"),
                   lambda uow: projects.submit(reg, uow, actor, body), key)


@router.get("/projects", tags=["projects"])
def list_projects(reg: RegistryDep, page: PageDep) -> dict[str, Any]:
    return read_models.projects_page(reg, page.limit, page.cursor)


@router.get("/projects/{project_id}", tags=["projects"])
def get_project(reg: RegistryDep, project_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return projects.view(uow, project_id)


@router.post("/projects/{project_id}/validation", tags=["projects"])
def validate_project(reg: RegistryDep, actor: ActorDep, key: IdemDep, project_id: IdPath,
                     body: Annotated[ValidationIn | None, Body()] = None) -> JSONResponse:
    req = body or ValidationIn()
    return command(reg, actor, "validate_project", {"id": project_id, **req.model_dump(mode="json")},
                   lambda uow: projects.validate(reg, uow, actor, project_id, req), key, 200)


@router.post("/projects/{project_id}/registration", tags=["projects"])
def register_project(reg: RegistryDep, actor: ActorDep, key: IdemDep, project_id: IdPath) -> JSONResponse:
    return command(reg, actor, "register_project", {"id": project_id},
                   lambda uow: projects.register(reg, uow, actor, project_id), key, 200)


@router.put("/projects/{project_id}/mitigation-type", tags=["projects"])
def set_project_mitigation_type(reg: RegistryDep, actor: ActorDep, key: IdemDep, project_id: IdPath,
                                body: MitigationTypeIn) -> JSONResponse:
    """Record a project's mitigation type (AEF tables 2-4), e.g. for one recorded before it was asked. Admin."""
    return command(reg, actor, "set_project_mitigation_type", {"id": project_id, **body.model_dump(mode="json")},
                   lambda uow: projects.set_mitigation_type(reg, uow, actor, project_id, body), key, 200)


# --- issuance ---------------------------------------------------------------------------------------------------
@router.post("/issuances", status_code=201, tags=["issuance"])
def request_issuance(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: IssuanceIn) -> JSONResponse:
    return command(reg, actor, "request_issuance", body.model_dump(mode="json"),
                   lambda uow: issuance.request(reg, uow, actor, body), key)


@router.get("/issuances", tags=["issuance"])
def list_issuances(reg: RegistryDep, page: PageDep,
                   project_id: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    return read_models.issuances_page(reg, project_id, page.limit, page.cursor)


@router.get("/issuances/{issuance_id}", tags=["issuance"])
def get_issuance(reg: RegistryDep, issuance_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return issuance.view(uow, issuance_id)


@router.post("/issuances/{issuance_id}/approval", tags=["issuance"])
def approve_issuance(reg: RegistryDep, actor: ActorDep, key: IdemDep, issuance_id: IdPath) -> JSONResponse:
    return command(reg, actor, "approve_issuance", {"id": issuance_id},
                   lambda uow: issuance.approve(reg, uow, actor, issuance_id), key, 200)


@router.post("/issuances/{issuance_id}/rejection", tags=["issuance"])
def reject_issuance(reg: RegistryDep, actor: ActorDep, key: IdemDep, issuance_id: IdPath,
                    body: Annotated[DecisionIn | None, Body()] = None) -> JSONResponse:
    req = body or DecisionIn()
    return command(reg, actor, "reject_issuance", {"id": issuance_id, **req.model_dump(mode="json")},
                   lambda uow: issuance.reject(reg, uow, actor, issuance_id, req), key, 200)


# --- movements ----------------------------------------------------------------------------------------------------
@router.post("/transfers", status_code=201, tags=["movements"])
def transfer(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: TransferIn) -> JSONResponse:
    return command(reg, actor, "transfer", body.model_dump(mode="json"),
                   lambda uow: transfers.transfer(reg, uow, actor, body), key)


@router.get("/transactions/{txn_id}", tags=["movements"])
def get_transaction(reg: RegistryDep, actor: ActorDep, txn_id: IdPath) -> dict[str, Any]:
    return read_models.transaction(reg, actor, txn_id)


@router.post("/retirements", status_code=201, tags=["movements"])
def retire(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: RetirementIn) -> JSONResponse:
    return command(reg, actor, "retire", body.model_dump(mode="json"),
                   lambda uow: retirements.retire(reg, uow, actor, body), key)


@router.get("/retirements", tags=["movements"])
def list_retirements(reg: RegistryDep, page: PageDep) -> dict[str, Any]:
    return read_models.retirements_page(reg, page.limit, page.cursor)


@router.get("/retirements/{retirement_id}", tags=["movements"])
def get_retirement(reg: RegistryDep, retirement_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return retirements.view(uow, retirement_id)


@router.get("/certificates/{certificate_id}", tags=["transparency"])
def get_certificate(reg: RegistryDep, certificate_id: IdPath) -> Response:
    """The certificate exactly as signed and stored at retirement (byte for byte)."""
    with reg.store.read() as uow:
        return Response(retirements.certificate_document(uow, certificate_id), media_type="application/json")


@router.post("/certificates/verify", tags=["transparency"])
def verify_certificate(reg: RegistryDep, document: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    result = retirements.verify_certificate(document, reg.store.public_key_hex)
    result["issued_by_this_registry"] = result["signed_by_this_registry"]
    return result


@router.post("/cancellations", status_code=201, tags=["movements"])
def request_cancellation(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: CancellationIn) -> JSONResponse:
    return command(reg, actor, "request_cancellation", body.model_dump(mode="json"),
                   lambda uow: cancellations.request(reg, uow, actor, body), key)


@router.get("/cancellations/{cancellation_id}", tags=["movements"])
def get_cancellation(reg: RegistryDep, actor: ActorDep, cancellation_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return cancellations.get(uow, actor, cancellation_id)


@router.post("/cancellations/{cancellation_id}/approval", tags=["movements"])
def approve_cancellation(reg: RegistryDep, actor: ActorDep, key: IdemDep, cancellation_id: IdPath) -> JSONResponse:
    return command(reg, actor, "approve_cancellation", {"id": cancellation_id},
                   lambda uow: cancellations.approve(reg, uow, actor, cancellation_id), key, 200)


@router.post("/cancellations/{cancellation_id}/rejection", tags=["movements"])
def reject_cancellation(reg: RegistryDep, actor: ActorDep, key: IdemDep, cancellation_id: IdPath,
                        body: Annotated[DecisionIn | None, Body()] = None) -> JSONResponse:
    req = body or DecisionIn()
    return command(reg, actor, "reject_cancellation", {"id": cancellation_id, **req.model_dump(mode="json")},
                   lambda uow: cancellations.reject(reg, uow, actor, cancellation_id, req), key, 200)


@router.post("/admin-transfers", status_code=201, tags=["movements"])
def request_admin_transfer(reg: RegistryDep, actor: ActorDep, key: IdemDep,
                           body: admin_transfers.AdminTransferIn) -> JSONResponse:
    """An officer's transfer of a holder's units (court order, correction): a registry_admin requests with a
    reason and a legal reference; a registry_approver applies it (four-eyes)."""
    return command(reg, actor, "request_admin_transfer", body.model_dump(mode="json"),
                   lambda uow: admin_transfers.request(reg, uow, actor, body), key)


@router.get("/admin-transfers/{admin_transfer_id}", tags=["movements"])
def get_admin_transfer(reg: RegistryDep, actor: ActorDep, admin_transfer_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return admin_transfers.get(uow, actor, admin_transfer_id)


@router.post("/admin-transfers/{admin_transfer_id}/approval", tags=["movements"])
def approve_admin_transfer(reg: RegistryDep, actor: ActorDep, key: IdemDep, admin_transfer_id: IdPath) -> JSONResponse:
    return command(reg, actor, "approve_admin_transfer", {"id": admin_transfer_id},
                   lambda uow: admin_transfers.approve(reg, uow, actor, admin_transfer_id), key, 200)


@router.post("/admin-transfers/{admin_transfer_id}/rejection", tags=["movements"])
def reject_admin_transfer(reg: RegistryDep, actor: ActorDep, key: IdemDep, admin_transfer_id: IdPath,
                          body: Annotated[DecisionIn | None, Body()] = None) -> JSONResponse:
    req = body or DecisionIn()
    return command(reg, actor, "reject_admin_transfer", {"id": admin_transfer_id, **req.model_dump(mode="json")},
                   lambda uow: admin_transfers.reject(reg, uow, actor, admin_transfer_id, req), key, 200)


@router.post("/freezes", status_code=201, tags=["movements"])
def freeze(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: FreezeIn) -> JSONResponse:
    return command(reg, actor, "freeze", body.model_dump(mode="json"),
                   lambda uow: freezes.set_frozen(reg, uow, actor, body), key)


# --- public reads ---------------------------------------------------------------------------------------------------
@router.get("/serials/{serial}", tags=["transparency"])
def get_serial(reg: RegistryDep, serial: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    with reg.store.read() as uow:
        return queries.serial(uow, serial)


@router.get("/supply", tags=["transparency"])
def get_supply(reg: RegistryDep, project_id: Annotated[str | None, Query(max_length=40)] = None,
               vintage: Annotated[int | None, Query(ge=1000, le=9999)] = None) -> dict[str, Any]:
    with reg.store.read() as uow:
        return queries.supply(uow, project_id, vintage)


@router.get("/journal", tags=["transparency"])
def get_journal(reg: RegistryDep, actor: OptionalActorDep,
                after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None) -> dict[str, Any]:
    """Public: each entry's chained bytes (public part + hash of the private part), enough to verify the
    whole chain. The regulator and registry officers also get the private parts."""
    private = actor is not None and actor.role in queries.READ_ALL_ROLES
    with reg.store.read() as uow:
        return queries.journal_page(uow, int(cursor) if cursor else after_seq, limit, private=private)


@router.get("/journal/head", tags=["transparency"])
def get_journal_head(reg: RegistryDep) -> dict[str, Any]:
    with reg.store.read() as uow:
        return queries.journal_head(reg, uow)


@router.get("/registry", tags=["transparency"])
def get_registry(reg: RegistryDep) -> dict[str, Any]:
    with reg.store.read() as uow:
        return queries.registry_info(reg, uow)


@router.get("/invariants", tags=["transparency"])
def get_invariants(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    require_role(actor, queries.READ_ALL_ROLES, "run the invariant check")
    violations = invariants.check(reg)
    return {"ok": not violations, "violations": [v.__dict__ for v in violations]}

