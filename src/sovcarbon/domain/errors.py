"""The one error type of the registry and the stable error codes of RULES.md.

Clients and peer registries key on the numeric code; the name is its UPPER_SNAKE label; the HTTP
status is derived from the code's range so that every layer agrees.
"""

from __future__ import annotations

from typing import Any

# code -> (name, http status)
ERROR_CODES: dict[int, tuple[str, int]] = {
    1001: ("UNAUTHENTICATED", 401),
    1002: ("FORBIDDEN", 403),
    1003: ("INVALID_REQUEST", 400),
    1004: ("IDEMPOTENCY_CONFLICT", 409),
    1005: ("NOT_FOUND", 404),
    1006: ("REGISTRY_READ_ONLY", 503),
    2001: ("SERIAL_EXISTS", 409),
    2002: ("INVALID_SERIAL_RANGE", 422),
    2003: ("QUANTITY_INVALID", 422),
    2004: ("NOT_WHOLE_TONNES", 422),
    2005: ("DUPLICATE_CLAIM", 409),
    3001: ("PROJECT_NOT_REGISTERED", 409),
    3002: ("APPROVAL_REQUIRED", 409),
    3003: ("SAME_APPROVER", 403),
    3004: ("ACCOUNT_NOT_ACTIVE", 409),
    3005: ("SAME_ACCOUNT", 422),
    3006: ("OUTSIDE_CREDITING_PERIOD", 422),
    4001: ("INSUFFICIENT_BALANCE", 409),
    4002: ("UNITS_NOT_HELD", 409),
    4003: ("UNITS_LOCKED", 409),
    4004: ("UNITS_FINAL", 409),
    4005: ("UNITS_EXPORTED", 409),
    4006: ("UNITS_FROZEN", 409),
    5001: ("USE_NOT_ALLOWED", 422),
    5002: ("NOT_EXPORTABLE", 422),
    5003: ("EXCEEDS_VERIFIED", 422),
    5004: ("HOLDER_NOT_ELIGIBLE", 403),
    5005: ("INTERMEDIARY_NOT_LICENSED", 403),
    6001: ("NOT_AUTHORIZED", 422),
    6002: ("AUTHORIZATION_EXCEEDED", 422),
    6003: ("PURPOSE_NOT_AUTHORIZED", 422),
    6004: ("PARTY_NOT_AUTHORIZED", 422),
    6005: ("AUTHORIZATION_LOCKED", 409),
    6006: ("NOT_WHOLE_ITMO", 422),
    6007: ("COVERAGE_CONFLICT", 409),
    7001: ("SUPPLY_MISMATCH", 409),
    7002: ("CHAIN_REJECTED", 409),
    7003: ("LOT_NOT_FOUND", 404),
    7004: ("PLEDGED", 409),
    7005: ("SETTLEMENT_EXPIRED", 409),
    8001: ("UNKNOWN_PEER", 403),
    8002: ("BAD_SIGNATURE", 401),
    8003: ("REPLAYED_MESSAGE", 409),
    8004: ("UNIT_LIVE_ELSEWHERE", 409),
    8005: ("TRANSFER_TIMEOUT", 409),
    9001: ("UNKNOWN_DEVICE", 403),
    9002: ("BAD_DATA_SIGNATURE", 401),
    9003: ("DATA_OUTSIDE_PERIOD", 422),
    9004: ("METHODOLOGY_INPUT_INVALID", 422),
    9005: ("REPORT_NOT_VERIFIED", 409),
}


class RegistryError(Exception):
    """A rule said no. Raised anywhere below the entry points; nothing was changed."""

    def __init__(self, code: int, message: str, **details: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown registry error code {code}")
        super().__init__(f"{code} {ERROR_CODES[code][0]}: {message}")
        self.code = code
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        return ERROR_CODES[self.code][0]

    @property
    def http_status(self) -> int:
        return ERROR_CODES[self.code][1]

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "name": self.name, "message": self.message, "details": self.details}}
