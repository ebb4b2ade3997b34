"""The one error type of the registry and its stable error codes.

`ErrorCode` is the enumeration of every code: the number is what clients and peer registries key
on and never changes meaning; the member name is its UPPER_SNAKE label; `HTTP_STATUS` gives the
status each code answers with, so that every layer agrees. The codes of RULES.md are here as
written; codes the registry added beyond RULES.md (1007, 1008, 3007, 6008) are documented in
docs/errors.md. `RegistryError(ErrorCode.X, ...)` and `RegistryError(<number>, ...)` are the same.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """Every error code of the registry: stable number, stable name."""

    UNAUTHENTICATED = 1001
    FORBIDDEN = 1002
    INVALID_REQUEST = 1003
    IDEMPOTENCY_CONFLICT = 1004
    NOT_FOUND = 1005
    REGISTRY_READ_ONLY = 1006
    CHAIN_NOT_ATTACHED = 1007
    STATE_CONFLICT = 1008
    SERIAL_EXISTS = 2001
    INVALID_SERIAL_RANGE = 2002
    QUANTITY_INVALID = 2003
    NOT_WHOLE_TONNES = 2004
    DUPLICATE_CLAIM = 2005
    PROJECT_NOT_REGISTERED = 3001
    APPROVAL_REQUIRED = 3002
    SAME_APPROVER = 3003
    ACCOUNT_NOT_ACTIVE = 3004
    SAME_ACCOUNT = 3005
    OUTSIDE_CREDITING_PERIOD = 3006
    PROJECT_STATUS_CONFLICT = 3007
    INSUFFICIENT_BALANCE = 4001
    UNITS_NOT_HELD = 4002
    UNITS_LOCKED = 4003
    UNITS_FINAL = 4004
    UNITS_EXPORTED = 4005
    UNITS_FROZEN = 4006
    USE_NOT_ALLOWED = 5001
    NOT_EXPORTABLE = 5002
    EXCEEDS_VERIFIED = 5003
    HOLDER_NOT_ELIGIBLE = 5004
    INTERMEDIARY_NOT_LICENSED = 5005
    NOT_AUTHORIZED = 6001
    AUTHORIZATION_EXCEEDED = 6002
    PURPOSE_NOT_AUTHORIZED = 6003
    PARTY_NOT_AUTHORIZED = 6004
    AUTHORIZATION_LOCKED = 6005
    NOT_WHOLE_ITMO = 6006
    COVERAGE_CONFLICT = 6007
    UNITS_ALREADY_AUTHORIZED = 6008
    SUPPLY_MISMATCH = 7001
    CHAIN_REJECTED = 7002
    LOT_NOT_FOUND = 7003
    PLEDGED = 7004
    SETTLEMENT_EXPIRED = 7005
    UNKNOWN_PEER = 8001
    BAD_SIGNATURE = 8002
    REPLAYED_MESSAGE = 8003
    UNIT_LIVE_ELSEWHERE = 8004
    TRANSFER_TIMEOUT = 8005
    UNKNOWN_DEVICE = 9001
    BAD_DATA_SIGNATURE = 9002
    DATA_OUTSIDE_PERIOD = 9003
    METHODOLOGY_INPUT_INVALID = 9004
    REPORT_NOT_VERIFIED = 9005

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self]


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.REGISTRY_READ_ONLY: 503,
    ErrorCode.CHAIN_NOT_ATTACHED: 503,
    ErrorCode.STATE_CONFLICT: 409,
    ErrorCode.SERIAL_EXISTS: 409,
    ErrorCode.INVALID_SERIAL_RANGE: 422,
    ErrorCode.QUANTITY_INVALID: 422,
    ErrorCode.NOT_WHOLE_TONNES: 422,
    ErrorCode.DUPLICATE_CLAIM: 409,
    ErrorCode.PROJECT_NOT_REGISTERED: 409,
    ErrorCode.APPROVAL_REQUIRED: 409,
    ErrorCode.SAME_APPROVER: 403,
    ErrorCode.ACCOUNT_NOT_ACTIVE: 409,
    ErrorCode.SAME_ACCOUNT: 422,
    ErrorCode.OUTSIDE_CREDITING_PERIOD: 422,
    ErrorCode.PROJECT_STATUS_CONFLICT: 409,
    ErrorCode.INSUFFICIENT_BALANCE: 409,
    ErrorCode.UNITS_NOT_HELD: 409,
    ErrorCode.UNITS_LOCKED: 409,
    ErrorCode.UNITS_FINAL: 409,
    ErrorCode.UNITS_EXPORTED: 409,
    ErrorCode.UNITS_FROZEN: 409,
    ErrorCode.USE_NOT_ALLOWED: 422,
    ErrorCode.NOT_EXPORTABLE: 422,
    ErrorCode.EXCEEDS_VERIFIED: 422,
    ErrorCode.HOLDER_NOT_ELIGIBLE: 403,
    ErrorCode.INTERMEDIARY_NOT_LICENSED: 403,
    ErrorCode.NOT_AUTHORIZED: 422,
    ErrorCode.AUTHORIZATION_EXCEEDED: 422,
    ErrorCode.PURPOSE_NOT_AUTHORIZED: 422,
    ErrorCode.PARTY_NOT_AUTHORIZED: 422,
    ErrorCode.AUTHORIZATION_LOCKED: 409,
    ErrorCode.NOT_WHOLE_ITMO: 422,
    ErrorCode.COVERAGE_CONFLICT: 409,
    ErrorCode.UNITS_ALREADY_AUTHORIZED: 409,
    ErrorCode.SUPPLY_MISMATCH: 409,
    ErrorCode.CHAIN_REJECTED: 409,
    ErrorCode.LOT_NOT_FOUND: 404,
    ErrorCode.PLEDGED: 409,
    ErrorCode.SETTLEMENT_EXPIRED: 409,
    ErrorCode.UNKNOWN_PEER: 403,
    ErrorCode.BAD_SIGNATURE: 401,
    ErrorCode.REPLAYED_MESSAGE: 409,
    ErrorCode.UNIT_LIVE_ELSEWHERE: 409,
    ErrorCode.TRANSFER_TIMEOUT: 409,
    ErrorCode.UNKNOWN_DEVICE: 403,
    ErrorCode.BAD_DATA_SIGNATURE: 401,
    ErrorCode.DATA_OUTSIDE_PERIOD: 422,
    ErrorCode.METHODOLOGY_INPUT_INVALID: 422,
    ErrorCode.REPORT_NOT_VERIFIED: 409,
}

# code -> (name, http status): the same table keyed by plain numbers, for callers that hold a number.
ERROR_CODES: dict[int, tuple[str, int]] = {int(c): (c.name, s) for c, s in HTTP_STATUS.items()}


class RegistryError(Exception):
    """A rule said no. Raised anywhere below the entry points; nothing was changed."""

    def __init__(self, code: int, message: str, **details: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown registry error code {code}")
        self.error_code = ErrorCode(code)
        self.code = int(code)  # a plain int where it is stored or serialized (journal, JSON, database)
        super().__init__(f"{self.code} {self.error_code.name}: {message}")
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        return self.error_code.name

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.error_code]

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "name": self.name, "message": self.message, "details": self.details}}
