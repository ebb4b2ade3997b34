"""The registry application object: settings, profile, store, and the idempotent command runner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sovcarbon.config import Settings
from sovcarbon.domain.access import require_may_write
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import Clock
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor
from sovcarbon.domain.standards import RegistryProfile
from sovcarbon.store import tables as t
from sovcarbon.store.uow import INTEGRITY_ERRORS, Store, UnitOfWork

MAX_IDEMPOTENCY_KEY_LEN = 200
# Commands that run beside each other on PostgreSQL (store/uow.py, ``Store.write(concurrent=True)``): they lock
# the accounts whose blocks they move (``Repository.account_pair``) and write only blocks and transaction rows.
CONCURRENT_COMMANDS = frozenset({"transfer"})
# What an entry point hands to ``Registry.execute``: the body of one write command, run in its unit of work.
Command = Callable[[UnitOfWork], dict[str, Any]]



@dataclass(frozen=True)
class CommandResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool


class Registry:
    """One registry instance. Entry points hold one of these and call service functions with it."""

    def __init__(self, settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
                 apply_migrations: bool = True) -> None:
        self.settings = settings
        self.profile: RegistryProfile = settings.profile
        self.store = store or Store(settings.database_url, settings.signing_key_path,
                                    apply_migrations=apply_migrations,
                                    registry_id=f"{settings.profile.country}-NR",
                                    checkpoint_interval=settings.checkpoint_interval,
                                    checkpoint_interval_s=settings.checkpoint_interval_s,
                                    data_dir=settings.data_dir,
                                    allow_key_in_data_dir=settings.allow_key_in_data_dir,
                                    read_database_url=settings.read_database_url)
        if clock is not None:
            self.store.clock = clock  # every uow.now (and so every rule reading "now") comes from it
        # Hooks run after every successful write command (e.g. to wake the bridge worker).
        self.on_commit: list[Callable[[], None]] = []

    def execute(self, actor: Actor, command: str, request: dict[str, Any], fn: Callable[[UnitOfWork], dict[str, Any]],
                *, idempotency_key: str | None = None, status_code: int = 201) -> CommandResult:
        """Run ``fn`` in one write transaction, at most once per (caller, idempotency key)."""
        if idempotency_key is not None and (
                not (0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LEN) or not idempotency_key.isprintable()):
            raise RegistryError(1003, f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_LEN} printable characters")
        request_hash = hashlib.sha256(canonical_json({"command": command, "request": request})).hexdigest()
        if command in CONCURRENT_COMMANDS:
            try:
                return self._execute(actor, request_hash, fn, idempotency_key, status_code, concurrent=True)
            except Exception as exc:
                # Two requests with one Idempotency-Key may run side by side, each having read no key row: the
                # second one's key row collides, or its check fails on what the first one moved. Rolled back;
                # run as an ordinary write it replays the first one's response (or fails the same way again).
                if idempotency_key is None or not isinstance(exc, (RegistryError, *INTEGRITY_ERRORS)):
                    raise
        return self._execute(actor, request_hash, fn, idempotency_key, status_code, concurrent=False)

    def _execute(self, actor: Actor, request_hash: str, fn: Callable[[UnitOfWork], dict[str, Any]],
                 idempotency_key: str | None, status_code: int, *, concurrent: bool) -> CommandResult:
        with self.store.write(concurrent=concurrent) as uow:
            if idempotency_key is not None:
                row = uow.repo.hot.one("SELECT request_hash, status_code, response FROM idempotency "
                                       "WHERE scope = ? AND key = ?", (actor.key_id, idempotency_key))
                if row is not None:
                    if row[0] != request_hash:
                        raise RegistryError(1004, "this Idempotency-Key was used with a different request",
                                            idempotency_key=idempotency_key)
                    return CommandResult(int(row[1]), json.loads(bytes(row[2])), replayed=True)
            if actor.participant_id is not None:  # suspended or closed participants only read (domain.access)
                row = uow.repo.hot.one("SELECT status FROM participants WHERE id = ?", (actor.participant_id,))
                require_may_write(actor, None if row is None else str(row[0]))
            body = fn(uow)
            # The response is rendered (strict JSON, as the HTTP layer will) before the commit: a body that
            # cannot be sent (NaN, a non-JSON value) rolls the command back instead of failing after it.
            json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            if idempotency_key is not None:
                uow.repo.insert(t.idempotency, scope=actor.key_id, key=idempotency_key, request_hash=request_hash,
                                status_code=status_code, response=canonical_json(body), created_at=uow.now)
            uow.after_commit.extend(self.on_commit)
        return CommandResult(status_code, body, replayed=False)
