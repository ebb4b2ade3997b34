"""Request dependencies: the registry, the calling actor, the idempotency key, pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from sovcarbon.api.guard import actor_from_scope
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor
from sovcarbon.services import auth
from sovcarbon.services.registry import Registry

MAX_PAGE = 500


# The dependencies are ``async def``: they do not block (the guard authenticated already), and FastAPI runs
# a plain ``def`` dependency in the thread pool, one thread hop each, on every request.
async def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.registry
    return reg


async def actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    known = actor_from_scope(request.scope)  # authenticated by the HTTP guard before the body was read
    if known is not None:
        return known
    reg: Registry = request.app.state.registry
    if authorization is None:
        raise RegistryError(1001, "missing credential: send 'Authorization: Bearer <api key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise RegistryError(1001, "use 'Authorization: Bearer <api key>'")
    return await run_in_threadpool(auth.authenticate, reg, key.strip())  # a database read: off the event loop


async def optional_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor | None:
    return await actor(request, authorization) if authorization else None


async def idempotency_key(idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
                          ) -> str | None:
    return idempotency_key


class Page:
    def __init__(self, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                 cursor: Annotated[str | None, Query(max_length=100)] = None) -> None:
        self.limit = limit
        self.cursor = cursor


RegistryDep = Annotated[Registry, Depends(registry)]
ActorDep = Annotated[Actor, Depends(actor)]
OptionalActorDep = Annotated[Actor | None, Depends(optional_actor)]
IdemDep = Annotated[str | None, Depends(idempotency_key)]
PageDep = Annotated[Page, Depends(Page)]
