"""Signing keys live outside the data dir; checkpoints come by time as well as by count (and at
shutdown); a journal head moved back behind a signed checkpoint, or a checkpoint under a foreign key,
is found by ``journal verify`` and by ``check`` (security issue, item 4)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update
from world import BACKENDS, make_registry

from sovcarbon.config import load_settings
from sovcarbon.domain import checkpoints as cpt
from sovcarbon.domain import journal as jr
from sovcarbon.services import invariants, journal_admin, queries
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.participants import bootstrap, create_participant
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import ParticipantIn
from sovcarbon.store import tables as t
from sovcarbon.store.signing import SigningKeyError, write_new_key
from sovcarbon.store.uow import Store

INTERVAL_S = 1.0


@pytest.fixture(params=BACKENDS)
def timed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A registry whose time interval is short and whose count interval is never reached."""
    reg = make_registry(request.param, tmp_path, request, checkpoint_interval=1_000_000,
                        checkpoint_interval_s=INTERVAL_S)
    reg.store.last_checkpoint_monotonic = time.monotonic()  # the clock starts after the (slow) setup
    yield reg
    try:
        if request.node.get_closest_marker("tampers") is None:
            assert not invariants.check(reg)
    finally:
        reg.store.dispose()


def _write(reg: Registry, name: str) -> None:
    body = ParticipantIn(name=name, kind="company", country="TH")
    reg.execute(SYSTEM_ACTOR, "participant", body.model_dump(mode="json"),
                lambda uow: create_participant(reg, uow, SYSTEM_ACTOR, body))


def _checkpoint_seqs(reg: Registry) -> list[int]:
    with reg.store.read() as uow:
        return list(uow.conn.execute(select(t.checkpoints.c.seq).order_by(t.checkpoints.c.seq)).scalars())


def _head_seq(reg: Registry) -> int:
    with reg.store.read() as uow:
        return int(uow.conn.execute(select(t.journal_head.c.seq)).scalar_one())


# --- the signing key -------------------------------------------------------------------------------------

def test_key_inside_the_data_dir_is_refused_without_the_demo_opt_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(data_dir=str(data_dir), allow_key_in_data_dir=False)
    with pytest.raises(SigningKeyError, match="SOVCARBON_SIGNING_KEY_FILE") as exc:
        Registry(settings)
    assert "\n" not in str(exc.value)
    # Refused before anything was created: no key generated, no ledger.
    assert not settings.signing_key_path.exists()
    assert not (data_dir / "registry.sqlite").exists()


def test_key_file_must_exist_and_be_readable_by_its_owner_only(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "registry.pem"
    settings = load_settings(data_dir=str(tmp_path / "data"), signing_key_file=str(key_path),
                             allow_key_in_data_dir=False)
    with pytest.raises(SigningKeyError, match="create-signing-key"):
        Registry(settings)
    assert not key_path.exists()  # a production key is never generated implicitly
    key = write_new_key(key_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    os.chmod(key_path, 0o644)
    with pytest.raises(SigningKeyError, match=f"chmod 600 {key_path}"):
        Registry(settings)
    os.chmod(key_path, 0o600)
    reg = Registry(settings)
    try:
        assert reg.store.public_key_hex == key.public_key().public_bytes_raw().hex()
        assert key_path.parent != settings.data_dir and not (settings.data_dir / "registry_signing_key.pem").exists()
    finally:
        reg.store.dispose()


def test_key_file_pointing_into_the_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key_path = data_dir / "keys" / "k.pem"
    write_new_key(key_path)
    settings = load_settings(data_dir=str(data_dir), signing_key_file=str(key_path), allow_key_in_data_dir=False)
    with pytest.raises(SigningKeyError, match="inside the data directory"):
        Registry(settings)


def test_cli_creates_a_signing_key_once(tmp_path: Path) -> None:
    key_path = tmp_path / "k.pem"
    cmd = [sys.executable, "-m", "sovcarbon.cli", "admin", "create-signing-key", str(key_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) == 64 and key_path.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "never overwritten" in again.stderr


# --- checkpoints by time, by count and at shutdown ------------------------------------------------------

def test_a_small_registry_gets_checkpoints_by_time(timed: Registry) -> None:
    _write(timed, "a")
    assert _checkpoint_seqs(timed) == []  # neither interval reached yet
    time.sleep(INTERVAL_S + 0.1)
    _write(timed, "b")  # the next write after the interval signs a checkpoint covering itself
    assert _checkpoint_seqs(timed) == [_head_seq(timed)]
    result = journal_admin.verify(timed)
    assert result["ok"] and result["checkpoints_verified"] == 1


def test_checkpoint_if_due_and_at_shutdown(timed: Registry) -> None:
    _write(timed, "a")
    assert journal_admin.checkpoint_if_due(timed) is None  # the interval has not passed
    cp = journal_admin.checkpoint_if_due(timed, force=True)  # shutdown: whatever the time
    assert cp is not None and cp["seq"] == _head_seq(timed)
    time.sleep(INTERVAL_S + 0.1)
    assert journal_admin.checkpoint_if_due(timed) is None  # nothing written since: no new checkpoint
    assert _checkpoint_seqs(timed) == [cp["seq"]]


def test_timer_checkpoints_an_idle_registry_and_once_more_at_stop(timed: Registry) -> None:
    timer = journal_admin.CheckpointTimer(timed).start()
    try:
        _write(timed, "a")
        deadline = time.monotonic() + 10
        while _checkpoint_seqs(timed) != [_head_seq(timed)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _checkpoint_seqs(timed) == [_head_seq(timed)]  # no further write was needed
        _write(timed, "b")
    finally:
        timer.stop()
    assert _checkpoint_seqs(timed)[-1] == _head_seq(timed)  # the last entries got signed at stop


def test_checkpoint_message_is_anchorable(timed: Registry) -> None:
    _write(timed, "a")
    cp = journal_admin.checkpoint(timed)
    message = jr.checkpoint_message(cp["seq"], cp["head_hash"], cp["merkle_root"], cp["from_seq"],
                                    cp["prev_checkpoint_hash"], timed.store.registry_id)
    assert b'"type":"sovcarbon.checkpoint.v1"' in message and timed.store.registry_id.encode() in message
    # The 32 bytes an anchor publishes: SHA-256 of the signed message, recomputable from the row.
    assert cp["checkpoint_hash"] == hashlib.sha256(message).hexdigest()
    assert jr.verify_signature(timed.store.public_key_hex, message, cp["signature"])
    with timed.store.read() as uow:  # published with the head (GET /v1/journal/head), for anchors and auditors
        head = queries.journal_head(timed, uow)
    assert head["checkpoint"]["checkpoint_hash"] == cp["checkpoint_hash"]


# --- forgeries after the last checkpoint ----------------------------------------------------------------

@pytest.mark.tampers
def test_head_moved_back_behind_a_checkpoint_is_found(timed: Registry) -> None:
    for name in ("a", "b", "c"):
        _write(timed, name)
    time.sleep(INTERVAL_S + 0.1)
    _write(timed, "d")  # a small registry: signed by time
    head = _head_seq(timed)
    assert _checkpoint_seqs(timed) == [head]
    keep = head - 2
    with timed.store.engine.begin() as conn:  # the forger deletes the tail and moves the head back
        kept_hash = conn.execute(select(t.journal.c.hash).where(t.journal.c.seq == keep)).scalar_one()
        conn.execute(delete(t.journal).where(t.journal.c.seq > keep))
        conn.execute(update(t.journal_head).values(seq=keep, hash=kept_hash))
    assert journal_admin.verify_chain(timed).ok  # the chain alone cannot tell
    result = journal_admin.verify(timed)
    assert not result["ok"] and result["first_bad_seq"] == keep + 1
    assert f"behind signed checkpoint #{head}" in result["reason"]
    violations = invariants.check(timed)  # `sovcarbon check` too
    assert any(v.invariant == "I5" and "behind signed checkpoint" in v.message for v in violations), violations


@pytest.mark.tampers
def test_checkpoint_signed_by_another_key_is_found(timed: Registry) -> None:
    _write(timed, "a")
    cp = journal_admin.checkpoint(timed)
    forger = Ed25519PrivateKey.generate()
    message = cpt.message_of(cp, timed.store.registry_id)
    forged_key = forger.public_key().public_bytes_raw().hex()
    with timed.store.engine.begin() as conn:
        conn.execute(update(t.checkpoints).where(t.checkpoints.c.seq == cp["seq"])
                     .values(signature=forger.sign(message).hex(), public_key=forged_key))
    result = journal_admin.verify(timed)
    assert not result["ok"] and "not this registry's" in result["reason"]
    assert "does not verify under this registry's key" in result["reason"]
    assert any(v.invariant == "I5" for v in invariants.check(timed))


@pytest.mark.tampers
def test_rewritten_entry_at_a_checkpoint_is_found_by_check(timed: Registry) -> None:
    for name in ("a", "b"):
        _write(timed, name)
    cp = journal_admin.checkpoint(timed)
    with timed.store.engine.begin() as conn:  # the forger rewrites the whole chain and the head
        rows = list(conn.execute(select(t.journal).order_by(t.journal.c.seq)).mappings())
        prev = jr.GENESIS_HASH
        for r in rows:
            entry = bytes(r["entry"])
            if r["seq"] == cp["seq"] - 1:
                entry = entry.replace(b'"at":"2', b'"at":"3', 1)
            digest = jr.chain_hash(prev, entry)
            conn.execute(update(t.journal).where(t.journal.c.seq == r["seq"]).values(entry=entry, prev_hash=prev,
                                                                                     hash=digest))
            prev = digest
        conn.execute(update(t.journal_head).values(hash=prev))
    violations = invariants.check(timed)
    assert any(v.invariant == "I5" and "checkpoint head hash differs" in v.message for v in violations), violations


class _TokenSigner:
    """Another ``Signer`` implementation, as an HSM adapter would be: the store only sees the protocol."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.signed = 0

    @property
    def public_key_hex(self) -> str:
        return self._key.public_key().public_bytes_raw().hex()

    def sign(self, message: bytes) -> bytes:
        self.signed += 1
        return self._key.sign(message)


def test_any_signer_plugs_into_the_store(tmp_path: Path) -> None:
    signer = _TokenSigner()
    settings = load_settings(data_dir=str(tmp_path / "data"), allow_key_in_data_dir=False)
    reg = Registry(settings, store=Store(settings.database_url, signer, registry_id="TH-NR",
                                         data_dir=settings.data_dir))
    try:
        bootstrap(reg)
        _write(reg, "a")
        cp = journal_admin.checkpoint(reg)
        assert signer.signed == 1 and cp["public_key"] == signer.public_key_hex
        assert not settings.signing_key_path.exists()  # no key file anywhere near the data
        result = journal_admin.verify(reg)
        assert result["ok"] and result["checkpoints_verified"] == 1
    finally:
        reg.store.dispose()


def test_serve_signs_a_checkpoint_at_shutdown(tmp_path: Path) -> None:
    """A real `sovcarbon serve`: entries written while it runs (here by the CLI on its data dir) are signed when
    it stops, though neither the count nor the time interval was reached."""
    import sqlite3

    import httpx
    import served

    data_dir = tmp_path / "data"
    env = served.clean_env(data_dir, SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1", SOVCARBON_CHECKPOINT_INTERVAL_S="3600")
    server = served.start(env)
    try:
        server.wait_healthy()
        before = httpx.get(f"{server.base}/v1/journal/head", timeout=10).json()["seq"]
        created = served.run_cli(env, "admin", "create-key", "--role", "regulator", "--name", "auditor",
                                 timeout_s=120)
        assert created.returncode == 0, created.stderr
        head = httpx.get(f"{server.base}/v1/journal/head", timeout=10).json()
        assert head["seq"] > before and (head["checkpoint"] is None or head["checkpoint"]["seq"] < head["seq"])
    finally:
        output = server.stop()  # SIGTERM: uvicorn shuts down; its shutdown event signs the pending entries
    with sqlite3.connect(data_dir / "registry.sqlite") as conn:
        last = conn.execute("SELECT max(seq) FROM checkpoints").fetchone()[0]
    assert last == head["seq"], output


def test_verify_inside_the_serving_process_keeps_its_sqlite_locks(tmp_path: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    """`journal verify` runs inside `serve` (start-up check). It must not open and close the ledger file beside
    the live SQLite connections: that drops the process's locks, another process closing the database then
    deletes the WAL this process still commits into, and those commits (a shutdown checkpoint) are lost."""
    reg = make_registry("sqlite", tmp_path, request)
    db = str(reg.settings.data_dir / "registry.sqlite")
    peek = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(c.execute('SELECT seq FROM journal_head').fetchone()[0]); c.close()")
    try:
        _write(reg, "a")
        assert journal_admin.verify(reg)["ok"]
        other = subprocess.run([sys.executable, "-c", peek, db], capture_output=True, text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        _write(reg, "b")
        seen = subprocess.run([sys.executable, "-c", peek, db], capture_output=True, text=True, timeout=60)
        assert seen.returncode == 0 and int(seen.stdout) == _head_seq(reg), seen.stdout + seen.stderr
    finally:
        reg.store.dispose()
