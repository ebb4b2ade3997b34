"""The error envelope of RULES.md for every failure, including malformed requests. Never a 5xx for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sovcarbon.domain.errors import RegistryError

log = logging.getLogger("sovcarbon.api")

INTERNAL_ERROR_MESSAGE = ("internal error: the outcome is unknown; query the resource, or retry with the same "
                          "Idempotency-Key (a retry never applies a command twice)")


class ErrorBody(BaseModel):
    code: int = Field(description="stable RULES.md code, e.g. 1003")
    name: str = Field(description="the code's UPPER_SNAKE name, e.g. INVALID_REQUEST")
    message: str
    details: dict[str, Any]


class ErrorEnvelope(BaseModel):
    """Every refusal: HTTP 4xx with this body; the request changed nothing."""

    error: ErrorBody


def _described(text: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": text}


# Declared on every API route so that clients (and schemathesis) know the envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _described("invalid request (1003): malformed body, unknown field, wrong type, out of range"),
    401: _described("no, unknown, expired or revoked API key (1001)"),
    403: _described("the caller's role or participant may not do this (1002 and rule codes)"),
    404: _described("no such resource, or not visible to the caller (1005)"),
    409: _described("state conflict: idempotency (1004), already done or wrong state (1008, 3007, 6008), "
                    "holdings, sequence (docs/errors.md)"),
    413: _described("request body larger than the limit (1003)"),
    422: _described("a rule refused the values (quantities 2003, serial ranges, Article 6 ...)"),
    429: _described("too many failed authentications from this address; see Retry-After"),
    500: _described("internal error; the outcome is unknown: query the resource or retry with the same "
                    "Idempotency-Key"),
    503: _described("the registry cannot serve this now: the ledger is busy, read-only (1006), or no chain is "
                    "attached to this process (1007); retry"),
}


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
        return JSONResponse({"error": {"code": 0, "name": "INTERNAL", "message": INTERNAL_ERROR_MESSAGE,
                                       "details": {}}}, status_code=500)
