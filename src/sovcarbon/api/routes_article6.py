"""Article 6 resources: authorizations (LoA), units under them, exports, labels, ITMO look-ups, and the
AEF report. Each handler: authenticate, call one service (``services.article6``, ``article6_export``,
``aef``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response

from sovcarbon.api.deps import ActorDep, IdemDep, PageDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.api.routes_core import IdPath, command
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.serials import parse_serial
from sovcarbon.services import (
    aef,
    aef_holdings,
    article6,
    article6_attach,
    article6_export,
    article6_serials,
    ndc_period,
    queries,
    read_models,
)
from sovcarbon.services.article6_requests import (
    AttachIn,
    AuthorizationIn,
    ExportIn,
    LabelIn,
    RevocationIn,
)
from sovcarbon.services.requests import DecisionIn

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)
Year = Annotated[int, Path(ge=aef_holdings.MIN_YEAR, le=aef_holdings.MAX_YEAR)]


# --- authorizations -----------------------------------------------------------------------------------------
@router.post("/authorizations", status_code=201, tags=["article 6"])
def request_authorization(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: AuthorizationIn) -> JSONResponse:
    """Request an LoA (registry admin); it is granted when a second officer approves it."""
    return command(reg, actor, "request_authorization", body.model_dump(mode="json"),
                   lambda uow: article6.request_grant(reg, uow, actor, body), key)


@router.get("/authorizations", tags=["article 6"])
def list_authorizations(reg: RegistryDep, page: PageDep) -> dict[str, Any]:
    return read_models.authorizations_page(reg, page.limit, page.cursor)


@router.get("/authorizations/{loa_id}", tags=["article 6"])
def get_authorization(reg: RegistryDep, loa_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return article6.view(reg, uow, loa_id)


@router.get("/authorizations/{loa_id}/document", tags=["article 6"])
def get_authorization_document(reg: RegistryDep, loa_id: IdPath,
                               version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """The signed LoA as stored (by SHA-256); ``ETag`` is its hash."""
    with reg.store.read() as uow:
        loa = article6.view(reg, uow, loa_id)
        meta = loa["document"]
        if version is not None:
            match = [v for v in loa["versions"] if v["version"] == version]
            if not match:
                raise RegistryError(1005, f"version {version} of authorization {loa_id} not found")
            meta = match[0]["document"]
        if meta is None:
            raise RegistryError(1005, "no document stored for this version")
        content, media_type, name = article6.document(uow, meta["sha256"])
    return Response(content, media_type=media_type, headers={
        "ETag": f'"{meta["sha256"]}"', "Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/authorizations/{loa_id}/approval", tags=["article 6"])
def approve_authorization(reg: RegistryDep, actor: ActorDep, key: IdemDep, loa_id: IdPath) -> JSONResponse:
    """Approve the version awaiting approval (grant, amendment or revocation); never by its requester."""
    return command(reg, actor, "approve_authorization", {"id": loa_id},
                   lambda uow: article6.approve(reg, uow, actor, loa_id), key, 200)


@router.post("/authorizations/{loa_id}/rejection", tags=["article 6"])
def reject_authorization(reg: RegistryDep, actor: ActorDep, key: IdemDep, loa_id: IdPath,
                         body: Annotated[DecisionIn | None, Body()] = None) -> JSONResponse:
    req = body or DecisionIn()
    return command(reg, actor, "reject_authorization", {"id": loa_id, **req.model_dump(mode="json")},
                   lambda uow: article6.reject(reg, uow, actor, loa_id, req), key, 200)


@router.post("/authorizations/{loa_id}/amendments", status_code=201, tags=["article 6"])
def amend_authorization(reg: RegistryDep, actor: ActorDep, key: IdemDep, loa_id: IdPath,
                        body: AuthorizationIn) -> JSONResponse:
    """Request a new version (the complete LoA as amended); approved like the grant."""
    return command(reg, actor, "amend_authorization", {"id": loa_id, **body.model_dump(mode="json")},
                   lambda uow: article6.request_amendment(reg, uow, actor, loa_id, body), key)


@router.post("/authorizations/{loa_id}/revocation", status_code=201, tags=["article 6"])
def revoke_authorization(reg: RegistryDep, actor: ActorDep, key: IdemDep, loa_id: IdPath,
                         body: RevocationIn) -> JSONResponse:
    """Request revocation of the LoA or of named units; only units not yet first-transferred (6005)."""
    return command(reg, actor, "revoke_authorization", {"id": loa_id, **body.model_dump(mode="json")},
                   lambda uow: article6.request_revocation(reg, uow, actor, loa_id, body), key)


@router.post("/authorizations/{loa_id}/units", status_code=201, tags=["article 6"])
def attach_units(reg: RegistryDep, actor: ActorDep, key: IdemDep, loa_id: IdPath, body: AttachIn) -> JSONResponse:
    """Place issued Premium T-VER units under the LoA (serials, or a quantity from an account)."""
    return command(reg, actor, "attach_units", {"id": loa_id, **body.model_dump(mode="json")},
                   lambda uow: article6_attach.attach(reg, uow, actor, loa_id, body), key)


# --- exports ------------------------------------------------------------------------------------------------
@router.post("/exports", status_code=201, tags=["article 6"])
def export(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: ExportIn) -> JSONResponse:
    """Export units to a foreign registry under an LoA; first transfer and CA when the rules say so."""
    return command(reg, actor, "export", body.model_dump(mode="json"),
                   lambda uow: article6_export.export(reg, uow, actor, body), key)


@router.get("/exports", tags=["article 6"])
def list_exports(reg: RegistryDep, actor: ActorDep, page: PageDep) -> dict[str, Any]:
    return read_models.exports_page(reg, actor, page.limit, page.cursor)


@router.get("/exports/{export_id}", tags=["article 6"])
def get_export(reg: RegistryDep, actor: ActorDep, export_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        result = article6_export.view(reg, uow, export_id)
        owner = uow.repo.account(result["account_id"]).participant_id
        if not queries.can_read_account(actor, owner):
            raise RegistryError(1005, f"export {export_id} not found", id=export_id)
        return result


# --- labels, serials, ITMO ids ------------------------------------------------------------------------------
@router.post("/labels", status_code=201, tags=["article 6"])
def set_label(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: LabelIn) -> JSONResponse:
    """Label units CORSIA-eligible (with the host attestation reference) or ICVCM CCP."""
    return command(reg, actor, "set_label", body.model_dump(mode="json"),
                   lambda uow: article6_serials.set_label(reg, uow, actor, body), key)


@router.get("/labels", tags=["article 6"])
def get_labels(reg: RegistryDep, serial: Annotated[str, Query(max_length=80)]) -> dict[str, Any]:
    with reg.store.read() as uow:
        return {"serial": serial, "data": article6_serials.labels_of(uow, parse_serial(serial))}


@router.get("/article6/serials/{serial}", tags=["article 6"])
def get_serial_article6(reg: RegistryDep, serial: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    """Authorization, first transfers, labels and ITMO unique ids of a serial range."""
    with reg.store.read() as uow:
        return article6_serials.serial_status(reg, uow, parse_serial(serial))


@router.get("/itmos/{itmo_id}", tags=["article 6"])
def get_itmo(reg: RegistryDep, itmo_id: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    """Resolve an ITMO unique id back to its serial, state, authorization and first transfer."""
    with reg.store.read() as uow:
        return article6_serials.itmo(reg, uow, itmo_id)


# --- AEF ----------------------------------------------------------------------------------------------------
@router.get("/article6/ndc-period", tags=["article 6"])
def get_ndc_period(reg: RegistryDep, actor: ActorDep) -> dict[str, Any]:
    """The NDC implementation period the AEF reports (Table 1): recorded, or the default 2021-2030."""
    with reg.store.read() as uow:
        return ndc_period.get(uow, actor)


@router.put("/article6/ndc-period", tags=["article 6"])
def set_ndc_period(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: ndc_period.NdcPeriodIn) -> JSONResponse:
    """Set the NDC implementation period (registry admin; first <= last, 2021-2100, at most ten years). Journaled."""
    return command(reg, actor, "set_ndc_period", body.model_dump(mode="json"),
                   lambda uow: ndc_period.set_period(reg, uow, actor, body), key, 200)


@router.post("/reports/aef/{year}/close", status_code=201, tags=["article 6"])
def close_year(reg: RegistryDep, actor: ActorDep, key: IdemDep, year: Year) -> JSONResponse:
    """Close the reporting year: holdings at 31 December are frozen and never recomputed."""
    return command(reg, actor, "close_year", {"year": year},
                   lambda uow: aef_holdings.close_year(reg, uow, actor, year), key)


@router.post("/reports/aef/{year}/submissions", status_code=201, tags=["article 6"])
def submit_aef(reg: RegistryDep, actor: ActorDep, key: IdemDep, year: Year) -> JSONResponse:
    """Record a submission of the year's AEF (a closed year): version 1.0, then 1.1, 1.2, ... on resubmission."""
    return command(reg, actor, "submit_aef", {"year": year}, lambda uow: aef.submit(reg, uow, actor, year), key)


@router.get("/reports/aef/{year}", tags=["article 6"], response_model=None)
def get_aef(reg: RegistryDep, actor: ActorDep, year: Year,
            format: Annotated[Literal["json", "xlsx"], Query()] = "json") -> dict[str, Any] | Response:
    """The AEF for the year: submission, authorizations, actions, holdings, authorized entities."""
    with reg.store.read() as uow:
        rep = aef.report(reg, uow, actor, year)
    if format == "xlsx":
        return Response(aef.xlsx_bytes(rep), media_type=aef.XLSX_MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{rep["file_name"]}"'})
    return rep
