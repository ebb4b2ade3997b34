"""The FastAPI application: routers, error envelope, the HTTP guard (authentication before the body,
body and JSON bounds, security headers, failed-authentication throttling), the explorer pages."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from sovcarbon import __version__
from sovcarbon.api import (
    errors,
    routes_article6,
    routes_core,
    routes_peers,
    routes_pledges,
    routes_settlement,
    routes_tokens,
)
from sovcarbon.api.errors import ERROR_RESPONSES
from sovcarbon.api.guard import MAX_BODY_BYTES, FailedAuthThrottle, HttpGuard, declare_bearer_auth
from sovcarbon.services.registry import Registry

__all__ = ["MAX_BODY_BYTES", "create_app"]


def create_app(reg: Registry, *, throttle: FailedAuthThrottle | None = None) -> FastAPI:
    # Swagger UI and ReDoc assets are served by the registry itself: no CDN, works on a closed network.
    app = FastAPIOffline(title="sovcarbon national carbon registry", version=__version__,
                  description="Registry of record for serialized carbon credits: issuance, transfer, retirement, "
                              "cancellation, a hash-chained journal, and public verification. Quantities are "
                              "integer kilograms of CO2e in fields ending `_kg`. Every refusal is the error "
                              "envelope `{\"error\": {code, name, message, details}}` with a stable code.")
    app.state.registry = reg
    errors.install(app)
    app.add_middleware(HttpGuard, registry=reg, routes=app.router.routes, throttle=throttle)

    app.include_router(routes_core.router, responses=ERROR_RESPONSES)
    app.include_router(routes_article6.router, responses=ERROR_RESPONSES)
    app.include_router(routes_tokens.router, responses=ERROR_RESPONSES)
    app.include_router(routes_peers.router, responses=ERROR_RESPONSES)
    app.include_router(routes_settlement.router, responses=ERROR_RESPONSES)
    app.include_router(routes_pledges.router, responses=ERROR_RESPONSES)

    from sovcarbon.web import pages

    app.include_router(pages.router)

    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = generate_openapi()
        return declare_bearer_auth(schema, app.router.routes) if fresh else schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


SERVE_RECURSION_LIMIT = 4000


def limit_recursion() -> int:
    """Bring Python's recursion limit back to what the C stack holds, in the serving process.

    ``py_ecc`` (imported by the chain stack) and ``eth`` (py-evm) raise it to 100,000 at import time, so that
    a deeply nested input makes C code (json, repr, ...) overflow the stack and the process dies with a
    segmentation fault instead of a RecursionError. Import them first (their side effect happens once),
    then set the limit. Returns the limit in force.
    """
    import contextlib
    import importlib
    import sys

    for name in ("py_ecc", "eth"):
        with contextlib.suppress(ImportError):  # both are dependencies; the limit is set regardless
            importlib.import_module(name)
    sys.setrecursionlimit(SERVE_RECURSION_LIMIT)
    return sys.getrecursionlimit()
