"""The one derivation of operation ids: the 32 bytes a contract accepts once per operation (its own
idempotency on chain), derived from the NR's key for that operation, so a retry carries the same id.

``op_id(key)`` = SHA-256(``sovcarbon-<scope>:`` + key). Scopes: ``op`` for token outbox rows (key: the
row id), ``dvp`` for DvP orders on the escrow (key: the order id). Ids already stored or already used on
chain were derived this way; the derivation never changes (``tests/domain/test_op_ids.py`` pins it).
"""

from __future__ import annotations

import hashlib

OUTBOX_SCOPE, DVP_SCOPE = "op", "dvp"


def op_id(key: str | bytes, *, scope: str = OUTBOX_SCOPE) -> bytes:
    """The 32-byte op id of ``key`` (same key and scope, same id)."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    return hashlib.sha256(b"sovcarbon-" + scope.encode("ascii") + b":" + raw).digest()


def op_id_hex(key: str | bytes, *, scope: str = OUTBOX_SCOPE) -> str:
    """``op_id`` as stored in the NR's tables: ``0x`` + 64 hex digits."""
    return "0x" + op_id(key, scope=scope).hex()
