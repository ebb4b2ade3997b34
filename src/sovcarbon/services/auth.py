"""API keys: created by an operator, bound to a participant and a role, stored as SHA-256 hashes.

A key may carry an expiry (``expires_at``) and can be revoked (``revoked_at``); both are honoured by
:func:`authenticate`. Creation and revocation are ledger writes: one journal entry each.

Key lookups are cached per database for ``AUTH_CACHE_TTL_S`` (the HTTP guard then authenticates without
a database read or a thread hop). The bound on revocation: a revocation committed by this process
(``revoke_key``, through any registry object on the same database) empties the cache at its commit, so it
is effective on the next request; one committed by another process (``sovcarbon admin revoke-key`` while
``serve`` runs, another ``serve --workers`` process) is effective within ``AUTH_CACHE_TTL_S`` seconds.
Expiry is compared with the registry clock on every request, cached or not.
Unknown keys are never cached (failed guesses are throttled by the HTTP guard instead).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id, utc_now
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.uow import Store

KEY_PREFIX = "sk_"
MAX_EXPIRY_DAYS = 3650
AUTH_CACHE_TTL_S = 2.0  # how long another process's revocation may go unnoticed (see the module text)
AUTH_CACHE_MAX_KEYS = 4096


class _KeyCache:
    """key hash -> (monotonic time fetched, the key's row as authenticate needs it); LRU-bounded."""

    def __init__(self) -> None:
        self.rows: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key_hash: str) -> dict[str, Any] | None:
        with self.lock:
            hit = self.rows.get(key_hash)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > AUTH_CACHE_TTL_S:
                del self.rows[key_hash]
                return None
            self.rows.move_to_end(key_hash)
            return hit[1]

    def put(self, key_hash: str, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows[key_hash] = (time.monotonic(), row)
            self.rows.move_to_end(key_hash)
            while len(self.rows) > AUTH_CACHE_MAX_KEYS:
                self.rows.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.rows.clear()


# One cache per database (not per Store object): a revocation through any Store of this process (the CLI's
# own registry object, say) empties the cache every Store of the same database reads.
_KEY_CACHES: dict[str, _KeyCache] = {}


def _key_cache(store: Store) -> _KeyCache:
    database = store.engine.url.render_as_string(hide_password=True)
    cache = _KEY_CACHES.get(database)
    if cache is None:
        cache = _KEY_CACHES.setdefault(database, _KeyCache())
    return cache


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
        uow.after_commit.append(_key_cache(reg.store).clear)  # effective on this process's next request
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
    row = cached_key(reg, key)
    if row is None:
        digest = hash_key(key)
        with reg.store.read() as uow:
            found = uow.conn.execute(select(t.api_keys).where(t.api_keys.c.key_hash == digest)).mappings().first()
        if found is None:
            raise RegistryError(1001, "unknown, expired or revoked API key")
        row = dict(found)
        _key_cache(reg.store).put(digest, row)
    return _actor(reg, row, now)


def cached_key(reg: Registry, key: str) -> dict[str, Any] | None:
    """The key's row if a lookup of the last ``AUTH_CACHE_TTL_S`` seconds has it (no database read)."""
    return _key_cache(reg.store).get(hash_key(key))


def authenticate_cached(reg: Registry, key: str) -> Actor | None:
    """``authenticate`` when it needs no database read (the key's row is cached), else None."""
    row = cached_key(reg, key) if 0 < len(key) <= 200 else None
    return None if row is None else _actor(reg, row, None)


def _actor(reg: Registry, row: dict[str, Any], now: str | None) -> Actor:
    if row["revoked_at"] is not None or (
            row["expires_at"] is not None and row["expires_at"] <= (now or utc_now(reg.store.clock))):
        raise RegistryError(1001, "unknown, expired or revoked API key")
    return Actor(key_id=row["id"], role=Role(row["role"]), participant_id=row["participant_id"], name=row["name"])


SYSTEM_ACTOR = Actor(key_id="key_system", role=Role.REGISTRY_ADMIN, participant_id=None, name="registry system")
