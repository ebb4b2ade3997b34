"""Settlement resources: DvP orders by licensed intermediaries (rules: ``domain/settlement.py``; the escrow's
steps are recorded by the bridge from chain events, never posted here)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from sovcarbon.api.deps import ActorDep, IdemDep, RegistryDep
from sovcarbon.api.guard import ParsedBodyRoute
from sovcarbon.api.routes_core import IdPath, command
from sovcarbon.services import settlement

router = APIRouter(prefix="/v1", route_class=ParsedBodyRoute)


@router.post("/dvp-orders", status_code=201, tags=["settlement"])
def create_dvp_order(reg: RegistryDep, actor: ActorDep, key: IdemDep, body: settlement.DvpOrderIn) -> JSONResponse:
    """A licensed intermediary orders a DvP: seller, buyer, lot, kg, integer satang per tonne, deadline. The
    answer carries ``chain_dvp_id`` and the exact terms to create on the escrow."""
    return command(reg, actor, "create_dvp_order", body.model_dump(mode="json"),
                   lambda uow: settlement.create_order(uow, actor, body), key)


@router.get("/dvp-orders", tags=["settlement"])
def list_dvp_orders(reg: RegistryDep, actor: ActorDep,
                    status: Annotated[str | None, Query(max_length=20)] = None) -> dict[str, Any]:
    """The orders the caller may see: its own (operator, seller, buyer), or all for officers and the regulator."""
    with reg.store.read() as uow:
        return {"data": settlement.list_orders(uow, actor, status), "next_cursor": None}


@router.get("/dvp-orders/{order_id}", tags=["settlement"])
def get_dvp_order(reg: RegistryDep, actor: ActorDep, order_id: IdPath) -> dict[str, Any]:
    with reg.store.read() as uow:
        return settlement.get_order(uow, actor, order_id)
