"""The error envelope of RULES.md for every failure, including malformed requests. Never a 5xx for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sovcarbon.domain.errors import RegistryError

log = logging.getLogger("sovcarbon.api")


def error_response(err: RegistryError) -> JSONResponse:
    return JSONResponse(err.envelope(), status_code=err.http_status)


def _validation_error(exc: RequestValidationError) -> RegistryError:
    problems: list[dict[str, Any]] = []
    code = 1003
    for e in exc.errors()[:20]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        field = ".".join(loc)
        problems.append({"field": field, "problem": e.get("msg", ""), "type": e.get("type", "")})
        if loc and loc[-1].endswith("_kg") and e.get("type") != "missing":
            code = 2003
    if code == 2003:
        return RegistryError(2003, "quantities are positive integer numbers of kg", problems=problems)
    summary = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems[:3])
    return RegistryError(1003, f"invalid request: {summary}", problems=problems)


def install(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(RegistryError(1005, "no such resource"))
        if exc.status_code == 405:
            err = RegistryError(1003, "method not allowed on this resource")
            return JSONResponse(err.envelope(), status_code=405)
        err = RegistryError(1003, str(exc.detail))
        return JSONResponse(err.envelope(), status_code=exc.status_code if 400 <= exc.status_code < 500 else 400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse({"error": {"code": 0, "name": "INTERNAL", "message": "internal error; nothing was changed",
                                       "details": {}}}, status_code=500)
