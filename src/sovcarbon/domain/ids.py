"""Prefixed identifiers (``acc_``, ``blk_``, ...) and RFC 3339 UTC timestamps."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

PREFIXES = frozenset({"par", "acc", "prj", "iss", "blk", "txn", "ret", "can", "cert", "key", "lot", "loa", "exp",
                      "itmo", "ca", "out", "evt", "plg", "dvp", "frz", "dev", "obs", "rep", "msg", "peer"})


def new_id(prefix: str) -> str:
    """``prefix_`` + 12 hex digits of milliseconds + 80 random bits.

    Time-ordered ids land at the right edge of B-tree primary keys (cheap inserts in a store with
    millions of blocks); the random part keeps them unguessable and collision-free.
    """
    assert prefix in PREFIXES, prefix
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
