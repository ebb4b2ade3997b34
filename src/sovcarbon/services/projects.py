"""Projects: submit (proponent or admin), validate (VVB), register (admin)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import projects as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor, ProjectStatus, Role
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import MitigationTypeIn, ProjectIn, ValidationIn
from sovcarbon.services.views import project_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def registrations_of(uow: UnitOfWork, project_id: str) -> list[dict[str, str]]:
    c = t.project_registrations.c
    rows = uow.conn.execute(select(c.programme, c.external_id).where(c.project_id == project_id)
                            .order_by(c.programme)).all()
    return [{"programme": r[0], "id": r[1]} for r in rows]


def view(uow: UnitOfWork, project_id: str) -> dict[str, Any]:
    return project_view(uow.repo.one(t.projects, project_id, "project"), registrations_of(uow, project_id))


def submit(reg: Registry, uow: UnitOfWork, actor: Actor, req: ProjectIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN, Role.PROPONENT], "submit projects")
    if actor.role == Role.PROPONENT and actor.participant_id != req.proponent_id:
        raise RegistryError(1002, "a proponent submits projects for its own participant only")
    standard = reg.profile.standard(req.standard)
    proponent = uow.repo.participant(req.proponent_id)
    rules.require_period(req.crediting_period.start, req.crediting_period.end, "crediting period")
    conflicts = []
    for other in req.other_registrations:
        existing = uow.conn.execute(select(t.project_registrations).where(
            t.project_registrations.c.programme == other.programme,
            t.project_registrations.c.external_id == other.id)).mappings().first()
        if existing is not None:
            conflicts.append((other.programme, other.id, existing["project_id"]))
    rules.require_no_other_registration(conflicts)
    if len({(o.programme, o.id) for o in req.other_registrations}) != len(req.other_registrations):
        raise RegistryError(1003, "other_registrations names the same registration twice")
    project_id = new_id("prj")
    row = dict(id=project_id, number=uow.repo.next_project_number(), name=req.name, standard=standard.code,
               methodology=req.methodology, host_country=req.host_country, proponent_id=proponent.id,
               crediting_start=req.crediting_period.start.isoformat(),
               crediting_end=req.crediting_period.end.isoformat(), location=json.dumps(req.location),
               status=str(ProjectStatus.SUBMITTED), description=req.description, submitted_by=actor.key_id,
               validated_by=None, validation_report=None, registered_by=None, created_at=uow.now,
               mitigation_type=req.mitigation_type)
    uow.repo.insert(t.projects, **row)
    for other in req.other_registrations:
        uow.repo.insert(t.project_registrations, programme=other.programme, external_id=other.id,
                        project_id=project_id)
    result = view(uow, project_id)
    uow.append("project_submitted", {"actor": actor.key_id, "project": {k: v for k, v in result.items()
                                                                       if k != "location"},
                                     "location_sha256": _sha(json.dumps(req.location))})
    return result


def validate(reg: Registry, uow: UnitOfWork, actor: Actor, project_id: str, req: ValidationIn) -> dict[str, Any]:
    require_role(actor, [Role.VVB], "validate projects")
    project = uow.repo.project(project_id)
    status = rules.next_status_on_validation(project) if req.approved else ProjectStatus.REJECTED
    if not req.approved and project.status != ProjectStatus.SUBMITTED:
        rules.next_status_on_validation(project)
    uow.repo.update(t.projects, [t.projects.c.id == project_id],
                    status=str(status), validated_by=actor.participant_id, validation_report=req.report)
    uow.append("project_validated", {"actor": actor.key_id, "project_id": project_id, "status": str(status),
                                     "vvb_id": actor.participant_id, "report": req.report})
    return view(uow, project_id)


def register(reg: Registry, uow: UnitOfWork, actor: Actor, project_id: str) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "register projects")
    project = uow.repo.project(project_id)
    status = rules.next_status_on_registration(project, reg.profile.standard(project.standard).domestic)
    uow.repo.update(t.projects, [t.projects.c.id == project_id],
                    status=str(status), registered_by=actor.key_id)
    uow.append("project_registered", {"actor": actor.key_id, "project_id": project_id, "number": project.number})
    return view(uow, project_id)


def set_mitigation_type(reg: Registry, uow: UnitOfWork, actor: Actor, project_id: str,
                        req: MitigationTypeIn) -> dict[str, Any]:
    """Record (or correct) a project's mitigation type, e.g. for a project recorded before migration 0015.
    Journaled with the value before; the AEF reports it for every issuance that does not override it."""
    require_role(actor, [Role.REGISTRY_ADMIN], "set a project's mitigation type")
    before = uow.repo.one(t.projects, project_id, "project")["mitigation_type"]
    uow.repo.update(t.projects, [t.projects.c.id == project_id], mitigation_type=req.mitigation_type)
    uow.append("project_mitigation_type_set", {"actor": actor.key_id, "project_id": project_id,
                                               "before": before, "mitigation_type": req.mitigation_type})
    return view(uow, project_id)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
