"""Explorer pages: home (supply by state), projects, a serial's lineage, retirements, the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import KG_PER_TONNE
from sovcarbon.services import queries, read_models, retirements
from sovcarbon.services.registry import Registry

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def tonnes(kg: int) -> str:
    whole, rest = divmod(int(kg), KG_PER_TONNE)
    return f"{whole:,}.{rest:03d} t" if rest else f"{whole:,} t"


templates.env.filters["tonnes"] = tonnes
templates.env.filters["kg"] = lambda kg: f"{int(kg):,} kg"


def _reg(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


def _render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    reg = _reg(request)
    return templates.TemplateResponse(request, name, {"profile": reg.profile, **ctx})


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    reg = _reg(request)
    return _render(request, "home.html", **read_models.explorer_home(reg))


@router.get("/explorer/projects/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, project_id: str) -> HTMLResponse:
    reg = _reg(request)
    try:
        page = read_models.explorer_project(reg, project_id)
    except RegistryError as err:
        return _render(request, "error.html", error=err)
    return _render(request, "project.html", **page)


@router.get("/explorer/serial", response_class=HTMLResponse)
def serial_page(request: Request, q: Annotated[str, Query(max_length=80)] = "") -> HTMLResponse:
    reg = _reg(request)
    result = None
    error = None
    if q:
        with reg.store.read() as uow:
            try:
                result = queries.serial(uow, q.strip())
            except RegistryError as err:
                error = err
    return _render(request, "serial.html", q=q, result=result, error=error)


@router.get("/explorer/retirements/{retirement_id}", response_class=HTMLResponse)
def retirement_page(request: Request, retirement_id: str) -> HTMLResponse:
    reg = _reg(request)
    with reg.store.read() as uow:
        try:
            ret = retirements.view(uow, retirement_id)
            cert = retirements.certificate(reg, uow, ret["certificate_id"])
        except RegistryError as err:
            return _render(request, "error.html", error=err)
    return _render(request, "retirement.html", ret=ret, cert=cert)


@router.get("/explorer/journal", response_class=HTMLResponse)
def journal_page(request: Request,
                 after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0) -> HTMLResponse:
    reg = _reg(request)
    with reg.store.read() as uow:
        page = queries.journal_page(uow, after_seq, 50)
        head = queries.journal_head(reg, uow)
    return _render(request, "journal.html", page=page, head=head)
