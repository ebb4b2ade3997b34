"""The NDC implementation period (AEF Table 1): read, and set by a registry officer (API) or the operator (CLI).

Stored in registry settings (``ndc_first_year`` / ``ndc_last_year``, configuration, not a ledger table), every
change journaled as ``ndc_period_set`` with the period before. Validated first (domain.article6.require_ndc_period:
within 2021-2100, first <= last, at most ten years). Unset, the AEF reports the updated NDC's 2021-2030.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import aef
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import Command
from sovcarbon.store.uow import UnitOfWork

CLI_ACTOR = "operator:cli"  # the journal's actor for a change made on the registry host


class NdcPeriodIn(Command):
    first_year: Annotated[int, Field(strict=True, ge=1000, le=9999)]
    last_year: Annotated[int, Field(strict=True, ge=1000, le=9999)]


def view(uow: UnitOfWork) -> dict[str, Any]:
    first, last = aef.ndc_period(uow)
    recorded = uow.repo.setting(aef.NDC_FIRST_YEAR_SETTING) is not None
    return {"first_year": first, "last_year": last, "source": "recorded" if recorded else "default"}


def get(uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    require_role(actor, READ_ALL_ROLES, "read the NDC implementation period")
    return view(uow)


def set_period(reg: Registry, uow: UnitOfWork, actor: Actor | None, req: NdcPeriodIn) -> dict[str, Any]:
    """Set the period; ``actor`` None is the operator on the registry host (CLI)."""
    if actor is not None:
        require_role(actor, [Role.REGISTRY_ADMIN], "set the NDC implementation period")
    rules.require_ndc_period(req.first_year, req.last_year)
    before = view(uow)
    uow.repo.set_setting(aef.NDC_FIRST_YEAR_SETTING, str(req.first_year))
    uow.repo.set_setting(aef.NDC_LAST_YEAR_SETTING, str(req.last_year))
    uow.append("ndc_period_set", {"actor": actor.key_id if actor is not None else CLI_ACTOR,
                                  "before": {"first_year": before["first_year"], "last_year": before["last_year"],
                                             "source": before["source"]},
                                  "first_year": req.first_year, "last_year": req.last_year})
    return view(uow)
