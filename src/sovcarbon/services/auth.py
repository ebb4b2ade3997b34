"""API keys: created by an operator, bound to a participant and a role, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t

KEY_PREFIX = "sk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(reg: Registry, role: Role, participant_id: str | None, name: str) -> tuple[str, str]:
    """Create an API key; returns (key id, the key). The key itself is shown once and never stored."""
    if role not in (Role.REGISTRY_ADMIN, Role.REGISTRY_APPROVER, Role.REGULATOR) and participant_id is None:
        raise RegistryError(1003, f"a {role} key must belong to a participant (--participant)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = new_id("key")
    with reg.store.write() as uow:
        if participant_id is None:
            participant_id = uow.repo.setting("registry_participant_id")
        else:
            uow.repo.participant(participant_id)
        uow.repo.insert(t.api_keys, id=key_id, key_hash=hash_key(key), participant_id=participant_id,
                        role=str(role), name=name or key_id, created_at=uow.now)
        uow.append("api_key_created", {"key_id": key_id, "role": str(role), "participant_id": participant_id,
                                       "name": name or key_id})
    return key_id, key


def authenticate(reg: Registry, key: str | None) -> Actor:
    if not key:
        raise RegistryError(1001, "missing credential: send 'Authorization: Bearer <api key>'")
    with reg.store.read() as uow:
        row = uow.conn.execute(select(t.api_keys).where(t.api_keys.c.key_hash == hash_key(key))).mappings().first()
    if row is None or row["revoked_at"] is not None:
        raise RegistryError(1001, "unknown or revoked API key")
    return Actor(key_id=row["id"], role=Role(row["role"]), participant_id=row["participant_id"], name=row["name"])


SYSTEM_ACTOR = Actor(key_id="key_system", role=Role.REGISTRY_ADMIN, participant_id=None, name="registry system")
