"""API keys: created by an operator, bound to a participant and a role, stored as SHA-256 hashes.

A key may carry an expiry (``expires_at``) and can be revoked (``revoked_at``); both are honoured by
:func:`authenticate`. Creation and revocation are ledger writes: one journal entry each.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id, utc_now
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t

KEY_PREFIX = "sk_"
MAX_EXPIRY_DAYS = 3650


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _timestamp(moment: datetime) -> str:
    """Same fixed-width UTC format as ``utc_now`` so that timestamps compare as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_key(reg: Registry, role: Role, participant_id: str | None, name: str,
               expires_in_days: int | None = None) -> tuple[str, str]:
    """Create an API key; returns (key id, the key). The key itself is shown once and never stored."""
    if role not in (Role.REGISTRY_ADMIN, Role.REGISTRY_APPROVER, Role.REGULATOR) and participant_id is None:
        raise RegistryError(1003, f"a {role} key must belong to a participant (--participant)")
    if expires_in_days is not None and not (0 < expires_in_days <= MAX_EXPIRY_DAYS):
        raise RegistryError(1003, f"expiry must be 1-{MAX_EXPIRY_DAYS} days")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = new_id("key")
    with reg.store.write() as uow:
        if participant_id is None:
            participant_id = uow.repo.setting("registry_participant_id")
        else:
            uow.repo.participant(participant_id)
        expires_at = (None if expires_in_days is None
                      else _timestamp(reg.store.clock.now() + timedelta(days=expires_in_days)))
        uow.repo.insert(t.api_keys, id=key_id, key_hash=hash_key(key), participant_id=participant_id,
                        role=str(role), name=name or key_id, created_at=uow.now, expires_at=expires_at)
        uow.append("api_key_created", {"key_id": key_id, "role": str(role), "participant_id": participant_id,
                                       "name": name or key_id, "expires_at": expires_at})
    return key_id, key


def revoke_key(reg: Registry, key_id: str, reason: str = "") -> dict[str, Any]:
    """Revoke a key for good: every later request with it is 1001. Revoking twice is refused (1008)."""
    with reg.store.write() as uow:
        row = uow.repo.one(t.api_keys, key_id, "API key")
        if row["revoked_at"] is not None:
            raise RegistryError(1008, f"API key {key_id} was already revoked at {row['revoked_at']}", id=key_id)
        uow.repo.update(t.api_keys, [t.api_keys.c.id == key_id], revoked_at=uow.now)  # row image journaled
        uow.append("api_key_revoked", {"key_id": key_id, "reason": reason[:500]})
        return {**key_view(row), "revoked_at": uow.now}


def key_view(row: Any) -> dict[str, Any]:
    """What an operator may see of a key: never the key, never its hash."""
    return {"id": row["id"], "role": row["role"], "participant_id": row["participant_id"], "name": row["name"],
            "created_at": row["created_at"], "expires_at": row["expires_at"], "revoked_at": row["revoked_at"]}


def list_keys(reg: Registry) -> list[dict[str, Any]]:
    with reg.store.read() as uow:
        rows = uow.conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)).mappings()
        return [key_view(r) for r in rows]


def authenticate(reg: Registry, key: str | None, *, now: str | None = None) -> Actor:
    """The actor behind ``key``; 1001 if unknown, revoked or expired at ``now`` (default: this instant)."""
    if not key:
        raise RegistryError(1001, "missing credential: send 'Authorization: Bearer <api key>'")
    if len(key) > 200 or not key.isascii() or not key.isprintable():
        raise RegistryError(1001, "unknown, expired or revoked API key")
    with reg.store.read() as uow:
        row = uow.conn.execute(select(t.api_keys).where(t.api_keys.c.key_hash == hash_key(key))).mappings().first()
    if row is None or row["revoked_at"] is not None or (
            row["expires_at"] is not None and row["expires_at"] <= (now or utc_now(reg.store.clock))):
        raise RegistryError(1001, "unknown, expired or revoked API key")
    return Actor(key_id=row["id"], role=Role(row["role"]), participant_id=row["participant_id"], name=row["name"])


SYSTEM_ACTOR = Actor(key_id="key_system", role=Role.REGISTRY_ADMIN, participant_id=None, name="registry system")
