"""Prefixed identifiers (``acc_``, ``blk_``, ...) and RFC 3339 UTC timestamps."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

PREFIXES = frozenset({"par", "acc", "prj", "iss", "blk", "txn", "ret", "can", "cert", "key", "lot", "loa", "exp",
                      "itmo", "ca", "out", "evt", "plg", "dvp", "frz", "dev", "obs", "rep", "msg", "peer"})


def new_id(prefix: str) -> str:
    assert prefix in PREFIXES, prefix
    return f"{prefix}_{secrets.token_hex(10)}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
