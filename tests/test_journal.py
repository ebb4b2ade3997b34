"""The journal (I5): every change appends one chained entry; tampering is found and located."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from world import Api, make_registry

from sovcarbon.domain import journal as jr
from sovcarbon.services import journal_admin
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.participants import create_participant
from sovcarbon.services.requests import ParticipantIn
from sovcarbon.store import tables as t


def test_entries_chain_and_checkpoints_are_signed(world: Api) -> None:
    page = world.ok("GET", "/v1/journal", None)
    entries = page["data"]
    prev = jr.GENESIS_HASH
    for e in entries:
        assert e["prev_hash"] == prev
        assert jr.chain_hash(prev, e["entry"].encode()) == e["hash"]
        prev = e["hash"]
    kinds = [e["kind"] for e in entries]
    assert kinds[0] == "registry_bootstrapped" and "issuance_approved" in kinds
    result = journal_admin.checkpoint(world.reg)
    head = world.ok("GET", "/v1/journal/head", None)
    assert head["checkpoint"]["seq"] == head["seq"] == result["seq"]
    msg = jr.checkpoint_message(result["seq"], result["head_hash"], result["merkle_root"], result["from_seq"],
                                result["prev_checkpoint_hash"], world.reg.store.registry_id)
    assert jr.verify_signature(head["public_key"], msg, result["signature"])
    assert journal_admin.verify(world.reg)["ok"]


def test_automatic_checkpoints(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    reg = make_registry("sqlite", tmp_path, request, checkpoint_interval=5)
    for i in range(12):
        body = ParticipantIn(name=f"p{i}", kind="company", country="TH")
        reg.execute(SYSTEM_ACTOR, "p", body.model_dump(mode="json"),
                    lambda uow, b=body: create_participant(reg, uow, SYSTEM_ACTOR, b))
    with reg.store.read() as uow:
        seqs = list(uow.conn.execute(select(t.checkpoints.c.seq).order_by(t.checkpoints.c.seq)).scalars())
    assert seqs == [5, 10]
    assert journal_admin.verify(reg)["checkpoints_verified"] == 2
    reg.store.dispose()


def _tamper(world: Api, how: str) -> None:
    with world.reg.store.engine.begin() as conn:
        if how == "alter":
            row = conn.execute(select(t.journal).where(t.journal.c.seq == 5)).mappings().one()
            altered = row["entry"].replace(b'"', b"'", 1)
            conn.execute(update(t.journal).where(t.journal.c.seq == 5).values(entry=altered))
        elif how == "remove":
            conn.execute(delete(t.journal).where(t.journal.c.seq == 5))
        elif how == "reorder":
            a = conn.execute(select(t.journal).where(t.journal.c.seq == 5)).mappings().one()
            b = conn.execute(select(t.journal).where(t.journal.c.seq == 6)).mappings().one()
            for src, dst in ((a, 6), (b, 5)):
                conn.execute(update(t.journal).where(t.journal.c.seq == dst).values(
                    kind=src["kind"], entry=src["entry"], prev_hash=src["prev_hash"], hash=src["hash"]))
        elif how == "truncate_tail":
            last = conn.execute(select(t.journal.c.seq).order_by(t.journal.c.seq.desc()).limit(1)).scalar_one()
            conn.execute(delete(t.journal).where(t.journal.c.seq == last))
        elif how == "rehash_everything":
            # A forger rewrites entry 5 and recomputes every later hash and the head: only the signed
            # checkpoint can tell.
            rows = list(conn.execute(select(t.journal).order_by(t.journal.c.seq)).mappings())
            prev = jr.GENESIS_HASH
            for r in rows:
                # (names are in the private part since format v2: alter the public part's timestamp)
                entry = r["entry"].replace(b'"at":"2', b'"at":"1', 1) if r["seq"] == 5 else r["entry"]
                digest = jr.chain_hash(prev, entry)
                conn.execute(update(t.journal).where(t.journal.c.seq == r["seq"]).values(entry=entry, prev_hash=prev,
                                                                                         hash=digest))
                prev = digest
            conn.execute(update(t.journal_head).values(hash=prev))


@pytest.mark.tampers
@pytest.mark.parametrize(("how", "bad_seq"), [("alter", 5), ("remove", 5), ("reorder", 5), ("truncate_tail", None),
                                               ("rehash_everything", 1)])
def test_tampering_is_found(world: Api, how: str, bad_seq: int | None) -> None:
    if how == "rehash_everything":
        journal_admin.checkpoint(world.reg)
    assert journal_admin.verify(world.reg)["ok"]
    _tamper(world, how)
    result = journal_admin.verify(world.reg)
    assert not result["ok"]
    if bad_seq is not None:
        assert result["first_bad_seq"] == bad_seq, result
    else:
        assert result["first_bad_seq"] is not None


@pytest.mark.tampers
def test_cli_journal_verify_exit_codes(world: Api) -> None:
    env = {"SOVCARBON_DATA_DIR": str(world.reg.settings.data_dir), "PATH": "/usr/bin:/bin",
           "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1",
           "SOVCARBON_DATABASE_URL": world.reg.settings.database_url}
    cmd = [sys.executable, "-m", "sovcarbon.cli", "journal", "verify"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "journal OK" in ok.stdout
    with world.reg.store.engine.begin() as conn:
        entry = conn.execute(select(t.journal.c.entry).where(t.journal.c.seq == 7)).scalar_one()
        assert b'"at":"2' in entry
        conn.execute(update(t.journal).where(t.journal.c.seq == 7).values(entry=entry.replace(b'"at":"2', b'"at":"1')))
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "seq 7" in bad.stdout, bad.stdout


@pytest.mark.tampers
@pytest.mark.parametrize("bad_seq", [3, 9, 17])
def test_parallel_verification_finds_the_first_bad_entry(world: Api, monkeypatch: pytest.MonkeyPatch,
                                                         bad_seq: int) -> None:
    monkeypatch.setattr(journal_admin, "PARALLEL_MIN_ENTRIES", 4)
    good = journal_admin.verify_chain(world.reg, workers=3)
    assert good.ok and good.entries == good.head_seq > 17
    with world.reg.store.engine.begin() as conn:
        entry = conn.execute(select(t.journal.c.entry).where(t.journal.c.seq == bad_seq)).scalar_one()
        conn.execute(update(t.journal).where(t.journal.c.seq == bad_seq).values(entry=entry + b" "))
    bad = journal_admin.verify_chain(world.reg, workers=3)
    assert not bad.ok and bad.first_bad_seq == bad_seq


def test_deep_verification_recomputes_merkle_roots(world: Api) -> None:
    journal_admin.checkpoint(world.reg)
    result = journal_admin.verify(world.reg, deep=True)
    assert result["ok"] and result["merkle_roots_recomputed"] and result["checkpoints_verified"] == 1
