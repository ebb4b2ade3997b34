"""Project lifecycle under a crediting standard: submitted -> validated (VVB) -> registered (admin).

| rule | code |
|---|---|
| a proponent submits projects for its own participant; registry admins for anyone | 1002 |
| crediting period start is before its end | 1003 |
| the standard is one the registry knows | 1003 |
| only a VVB validates, only a submitted project | 1002 / 3007 PROJECT_STATUS_CONFLICT |
| only a registry admin registers, only a validated project (recorded international units: submitted or validated) | 1002 / 3007 PROJECT_STATUS_CONFLICT |
| a project already credited under another programme (CDM, VCS, GS id) is not recorded twice | 2005 DUPLICATE_CLAIM |
"""

from __future__ import annotations

from datetime import date

from sovcarbon.domain.errors import ErrorCode, RegistryError
from sovcarbon.domain.model import Project, ProjectStatus


def require_period(start: date, end: date, what: str) -> None:
    if start > end:
        raise RegistryError(1003, f"{what} starts after it ends", start=start.isoformat(), end=end.isoformat())


def next_status_on_validation(project: Project) -> ProjectStatus:
    if project.status != ProjectStatus.SUBMITTED:
        raise RegistryError(ErrorCode.PROJECT_STATUS_CONFLICT, f"only a submitted project can be validated (status {project.status})",
                            project_id=project.id)
    return ProjectStatus.VALIDATED


def next_status_on_registration(project: Project, standard_is_domestic: bool) -> ProjectStatus:
    allowed = {ProjectStatus.VALIDATED} if standard_is_domestic else {ProjectStatus.SUBMITTED, ProjectStatus.VALIDATED}
    if project.status not in allowed:
        raise RegistryError(ErrorCode.PROJECT_STATUS_CONFLICT, f"project cannot be registered from status {project.status}",
                            project_id=project.id, status=str(project.status))
    return ProjectStatus.REGISTERED


def require_no_other_registration(conflicts: list[tuple[str, str, str]]) -> None:
    """``conflicts`` lists (programme, id, project_id) already recorded for another project."""
    if conflicts:
        programme, ext_id, other = conflicts[0]
        raise RegistryError(2005, f"{programme} {ext_id} is already recorded for project {other}",
                            programme=programme, external_id=ext_id, project_id=other)
