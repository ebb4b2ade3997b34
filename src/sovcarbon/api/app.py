"""The FastAPI application: routers, error envelope, body-size limit, the explorer pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline

from sovcarbon import __version__
from sovcarbon.api import errors, routes_article6, routes_core, routes_tokens
from sovcarbon.api.errors import error_response
from sovcarbon.domain.errors import RegistryError
from sovcarbon.services.registry import Registry

MAX_BODY_BYTES = 2 * 1024 * 1024


def create_app(reg: Registry) -> FastAPI:
    # Swagger UI and ReDoc assets are served by the registry itself: no CDN, works on a closed network.
    app = FastAPIOffline(title="sovcarbon national carbon registry", version=__version__,
                  description="Registry of record for serialized carbon credits: issuance, transfer, retirement, "
                              "cancellation, a hash-chained journal, and public verification. Quantities are "
                              "integer kilograms of CO2e in fields ending `_kg`.")
    app.state.registry = reg
    errors.install(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return error_response(RegistryError(1003, f"request body larger than {MAX_BODY_BYTES} bytes"))
        return await call_next(request)

    app.include_router(routes_core.router)
    app.include_router(routes_article6.router)
    app.include_router(routes_tokens.router)

    from sovcarbon.web import pages

    app.include_router(pages.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
