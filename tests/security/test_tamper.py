"""The journal is the authority: edits of the ledger tables behind the journal's back, made on a stopped
store (straight SQL, no registry code), are each detected by the replay and named (table, row, column);
`sovcarbon check` exits 1 naming them; a server whose start-up check finds one goes read-only."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import served
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from world import Api

from sovcarbon.domain import journal as jr
from sovcarbon.domain.model import Role
from sovcarbon.services import auth, journal_admin, ledger_audit
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.row_images import GUARDED, GUARDED_TABLE_NAMES, UNGUARDED_TABLES, undecided_tables


def _retire(world: Api, quantity_kg: int = 1_000_000) -> dict[str, Any]:
    return world.ok("POST", "/v1/retirements", "proponent", {
        "account_id": world.ids["foundation_acc"], "quantity_kg": quantity_kg,
        "beneficiary": {"name": "Siam Cement", "country": "TH"}, "purpose": "voluntary", "claim_year": 2026})


def _leaf(conn: Connection, account_id: str, state: str = "held") -> Any:
    c = t.blocks.c
    return conn.execute(select(t.blocks).where(c.is_leaf, c.account_id == account_id, c.state == state)
                        .order_by(c.serial_prefix, c.first_kg).limit(1)).mappings().one()


def _steal(world: Api, conn: Connection) -> tuple[str, str, str]:
    leaf = _leaf(conn, world.ids["foundation_acc"])
    conn.execute(update(t.blocks).where(t.blocks.c.id == leaf["id"]).values(account_id=world.ids["other_acc"]))
    return "blocks", leaf["id"], "account_id"


def _rehome(world: Api, conn: Connection) -> tuple[str, str, str]:
    # The block's kilograms moved under other serials (another issuance's prefix): lineage and supply lie.
    leaf = _leaf(conn, world.ids["foundation_acc"])
    conn.execute(update(t.blocks).where(t.blocks.c.id == leaf["id"]).values(serial_prefix="TH-PTVER-00099-2025-001"))
    return "blocks", leaf["id"], "serial_prefix"


def _unretire(world: Api, conn: Connection) -> tuple[str, str, str]:
    leaf = _leaf(conn, world.ids["foundation_acc"], "retired")
    conn.execute(update(t.blocks).where(t.blocks.c.id == leaf["id"]).values(state="held"))
    return "blocks", leaf["id"], "state"


def _inflate_supply(world: Api, conn: Connection) -> tuple[str, str, str]:
    # Supply sums quantity_kg; the invariant checker reads first_kg/last_kg: the replay reads every column.
    leaf = _leaf(conn, world.ids["foundation_acc"])
    conn.execute(update(t.blocks).where(t.blocks.c.id == leaf["id"]).values(quantity_kg=leaf["quantity_kg"] * 2))
    return "blocks", leaf["id"], "quantity_kg"


def _insert_issuance(world: Api, conn: Connection) -> tuple[str, str, str]:
    iss = dict(conn.execute(select(t.issuances).where(t.issuances.c.id == world.ids["issuance"])).mappings().one())
    iss.update(id="iss_forged0000000000000000000000001", number=2, serial_prefix="TH-PTVER-00001-2025-002",
               period_start="2024-01-01", period_end="2024-12-31", vintage=2024, quantity_kg=5_000_000)
    conn.execute(insert(t.issuances).values(**iss))
    leaf = dict(_leaf(conn, world.ids["foundation_acc"]))
    leaf.update(id="blk_forged0000000000000000000000001", issuance_id=iss["id"], serial_prefix=iss["serial_prefix"],
                vintage=2024, first_kg=1, last_kg=5_000_000, quantity_kg=5_000_000, parent_id=None)
    conn.execute(insert(t.blocks).values(**leaf))
    return "blocks", leaf["id"], "(row)"  # the first unjournaled row named (blocks sort before issuances)


def _raise_role(world: Api, conn: Connection) -> tuple[str, str, str]:
    key_id = conn.execute(select(t.api_keys.c.id).where(t.api_keys.c.role == str(Role.HOLDER))
                          .order_by(t.api_keys.c.id).limit(1)).scalar_one()
    conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(role=str(Role.REGISTRY_ADMIN)))
    return "api_keys", key_id, "role"


def _kyc(world: Api, conn: Connection) -> tuple[str, str, str]:
    conn.execute(update(t.participants).where(t.participants.c.id == world.ids["other"]).values(kyc_status="pending"))
    return "participants", world.ids["other"], "kyc_status"


def _drop_retirement(world: Api, conn: Connection) -> tuple[str, str, str]:
    # The retirement's transaction row vanishes (the retirement row itself is held by a foreign key).
    txn_id = conn.execute(select(t.retirements.c.txn_id).where(t.retirements.c.id == world.ids["retirement"])
                          ).scalar_one()
    conn.execute(delete(t.transactions).where(t.transactions.c.id == txn_id))
    return "transactions", txn_id, "(missing)"


def _private_part(world: Api, conn: Connection) -> tuple[str, str, str]:
    # Rewriting a row image in the journal's private part to match a stolen block: the private hash is chained.
    seq = conn.execute(select(t.journal.c.seq).order_by(t.journal.c.seq.desc()).limit(1)).scalar_one()
    private = conn.execute(select(t.journal.c.private).where(t.journal.c.seq == seq)).scalar_one()
    doc = json.loads(private)
    doc["payload"]["forged"] = True
    conn.execute(update(t.journal).where(t.journal.c.seq == seq).values(private=jr.canonical_json(doc)))
    return "journal", str(seq), "(private part)"


EDITS: dict[str, Callable[[Api, Connection], tuple[str, str, str]]] = {
    "steal_block": _steal, "rehome_block": _rehome, "unretire": _unretire, "inflate_supply": _inflate_supply,
    "insert_issuance": _insert_issuance, "raise_key_role": _raise_role, "change_kyc": _kyc,
    "drop_retirement": _drop_retirement, "rewrite_private_part": _private_part,
}


NEEDS_RETIREMENT = {"unretire", "drop_retirement"}


def _tamper(world: Api, how: str) -> tuple[str, str, str]:
    if how in NEEDS_RETIREMENT:  # a real retirement through the registry first; only the edit is behind its back
        world.ids["retirement"] = _retire(world)["id"]
    with world.reg.store.engine.begin() as conn:
        return EDITS[how](world, conn)


@pytest.mark.tampers
@pytest.mark.parametrize("how", sorted(EDITS))
def test_each_edit_behind_the_journal_is_detected_and_named(world: Api, how: str) -> None:
    assert ledger_audit.replay(world.reg).ok
    table, key, column = _tamper(world, how)
    result = ledger_audit.replay(world.reg)
    assert not result.ok and result.first is not None
    first = result.first
    assert (first.table, first.key) == (table, key), result.message
    if column == "(row)":
        assert first.kind == "not_journaled"
    elif column == "(missing)":
        assert first.kind == "missing"
    elif column == "(private part)":
        assert first.kind == "private_part"
    else:
        assert first.kind == "differs" and first.column == column, result.message
        assert first.last_seq is not None and first.journal_value != first.table_value
    # The journal itself still verifies: only the replay can tell (except for its own private part).
    assert journal_admin.verify(world.reg)["ok"]


@pytest.mark.tampers
def test_supply_and_the_checker_read_the_same_columns(world: Api) -> None:
    """Supply counts kilograms from the serial range, as the invariant checker does: inflating quantity_kg
    behind the journal's back changes neither; the replay names the edit."""
    path = f"/v1/supply?project_id={world.ids['project']}"
    before = world.ok("GET", path, None)
    account = world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")
    with world.reg.store.engine.begin() as conn:
        _inflate_supply(world, conn)
    assert world.ok("GET", path, None) == before
    assert world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")["totals_kg"] == \
        account["totals_kg"]
    result = ledger_audit.replay(world.reg)
    assert result.first is not None and result.first.column == "quantity_kg"


@pytest.mark.tampers
def test_check_command_names_the_first_difference(world: Api) -> None:
    env = {"SOVCARBON_DATA_DIR": str(world.reg.settings.data_dir), "PATH": "/usr/bin:/bin",
           "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1", "SOVCARBON_DATABASE_URL": world.reg.settings.database_url}
    cmd = [sys.executable, "-m", "sovcarbon.cli", "check"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "replay OK" in ok.stdout
    with world.reg.store.engine.begin() as conn:
        _, block_id, _ = _steal(world, conn)
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"blocks {block_id}: column account_id" in bad.stdout, bad.stdout
    assert world.ids["other_acc"] in bad.stdout and world.ids["foundation_acc"] in bad.stdout


@pytest.mark.tampers
def test_startup_check_in_its_own_process_makes_the_registry_read_only(world: Api) -> None:
    """What `serve` runs: the check in a spawned process (no GIL shared with the requests), its verdict applied
    by the server's watcher thread; GET /v1/registry shows the state."""
    watcher = ledger_audit.startup_check(world.reg, log_line=lambda m: None)
    assert watcher is not None
    watcher.join(timeout=180)
    info = world.ok("GET", "/v1/registry", None)
    assert info["startup_check"] == "ok" and info["read_only"] is False, info
    with world.reg.store.engine.begin() as conn:
        _raise_role(world, conn)
    lines: list[str] = []
    watcher = ledger_audit.startup_check(world.reg, log_line=lines.append)
    assert watcher is not None
    assert world.ok("GET", "/v1/registry", None)["startup_check"] in ("running", "read-only")
    watcher.join(timeout=180)
    assert lines and "READ-ONLY" in lines[0] and "api_keys" in lines[0], lines
    info = world.ok("GET", "/v1/registry", None)
    assert info["startup_check"] == "read-only" and info["read_only"] is True and "role" in info["reason"], info


@pytest.mark.tampers
def test_startup_check_makes_the_registry_read_only(world: Api) -> None:
    ledger_audit.startup_check(world.reg, background=False, log_line=lambda m: None)
    assert world.ok("GET", "/v1/registry", None)["read_only"] is False
    with world.reg.store.engine.begin() as conn:
        _raise_role(world, conn)
    lines: list[str] = []
    ledger_audit.startup_check(world.reg, background=False, log_line=lines.append)
    assert lines and "READ-ONLY" in lines[0] and "api_keys" in lines[0]
    info = world.ok("GET", "/v1/registry", None)
    assert info["read_only"] is True and "role" in info["reason"]
    before = world.ok("GET", "/v1/journal/head", None)["seq"]
    resp = world.post("/v1/participants", "admin", {"name": "New", "kind": "company", "country": "TH",
                                                    "kyc_status": "verified"})
    assert resp.status_code == 503, resp.text
    body = resp.json()["error"]
    assert body["code"] == 1006 and body["name"] == "REGISTRY_READ_ONLY" and "sovcarbon check" in body["message"]
    assert world.ok("GET", "/v1/journal/head", None)["seq"] == before
    # reads still work
    assert world.ok("GET", f"/v1/issuances/{world.ids['issuance']}", None)["id"] == world.ids["issuance"]


def test_key_creation_and_role_changes_are_journaled(registry: Registry) -> None:
    key_id, _ = auth.create_key(registry, Role.REGULATOR, None, "auditor")
    with registry.store.read() as uow:
        private = uow.conn.execute(select(t.journal.c.private).order_by(t.journal.c.seq.desc()).limit(1)).scalar_one()
    rows = json.loads(private)["rows"]
    assert rows["api_keys"][key_id]["role"] == str(Role.REGULATOR)
    # A revocation or role change written through the repository lands in the journal too.
    with registry.store.write() as uow:
        uow.repo.update(t.api_keys, [t.api_keys.c.id == key_id], revoked_at=uow.now)
    with registry.store.read() as uow:
        last = uow.conn.execute(select(t.journal.c.kind, t.journal.c.private)
                                .order_by(t.journal.c.seq.desc()).limit(1)).one()
    assert json.loads(last[1])["rows"]["api_keys"][key_id]["revoked_at"] is not None
    assert ledger_audit.replay(registry).ok


def test_every_table_has_a_journal_decision() -> None:
    """A new table must be declared guarded (row images journaled, replayed) or unguarded, with a reason."""
    assert undecided_tables() == []
    assert not (GUARDED_TABLE_NAMES & set(UNGUARDED_TABLES))
    assert set(GUARDED) == GUARDED_TABLE_NAMES & set(t.metadata.tables)


@pytest.mark.tampers
def test_a_journal_of_format_v1_is_refused_by_replay_not_called_tampered(registry: Registry) -> None:
    """Entries written before migration 0005 (payload in the chained bytes, no row images) still verify link
    by link; the replay refuses them with a message naming the format, and the start-up check leaves writes on."""
    with registry.store.engine.begin() as conn:
        rows = list(conn.execute(select(t.journal).order_by(t.journal.c.seq)).mappings())
        prev = jr.GENESIS_HASH
        for r in rows:  # rewrite the journal as an old registry wrote it
            payload = json.loads(r["private"])["payload"]
            entry = jr.entry_bytes_v1(r["seq"], r["kind"], r["created_at"], payload)
            digest = jr.chain_hash(prev, entry)
            conn.execute(update(t.journal).where(t.journal.c.seq == r["seq"]).values(
                entry=entry, prev_hash=prev, hash=digest, private=None))
            prev = digest
        conn.execute(update(t.journal_head).values(hash=prev))
        conn.execute(delete(t.checkpoints))
    assert journal_admin.verify(registry)["ok"]
    result = ledger_audit.replay(registry)
    assert result.refused and not result.ok
    assert "journal entry 1 is format v1" in result.message and "replay REFUSED" in result.message
    lines: list[str] = []
    ledger_audit.startup_check(registry, background=False, log_line=lines.append)
    assert registry.store.read_only_reason is None and lines and "format v1" in lines[0]


def test_a_real_server_starts_read_only_on_a_tampered_ledger(tmp_path: Path) -> None:
    """`sovcarbon serve` on a ledger edited while stopped: the port opens, the background start-up check finds
    the raised role, writes answer 503 / 1006, /v1/registry says read_only with the reason, and the log is loud."""
    data_dir = tmp_path / "data"
    env = served.clean_env(data_dir, SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1")
    assert served.run_cli(env, "admin", "init", timeout_s=120).returncode == 0
    admin_key = served.run_cli(env, "admin", "create-key", "--role", "registry_admin", "--name", "ops",
                               timeout_s=120).stdout.strip()
    assert served.run_cli(env, "admin", "create-key", "--role", "regulator", "--name", "auditor",
                          timeout_s=120).returncode == 0
    with sqlite3.connect(data_dir / "registry.sqlite") as conn:  # the stopped store, edited behind the journal
        conn.execute("UPDATE api_keys SET role = 'registry_admin' WHERE role = 'regulator'")
    server = served.start(env)
    try:
        info: dict[str, Any] = {}

        def read_only() -> bool:
            nonlocal info
            try:
                info = httpx.get(f"{server.base}/v1/registry", timeout=2).json()
            except httpx.HTTPError:
                return False
            return info.get("read_only") is True

        server.wait_until(read_only, 120, "read-only mode")
        assert "api_keys" in info["reason"] and "role" in info["reason"], info
        resp = httpx.post(f"{server.base}/v1/participants", headers={"Authorization": f"Bearer {admin_key}"},
                          timeout=10, json={"name": "New Co", "kind": "company", "country": "TH",
                                            "kyc_status": "verified"})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == 1006, resp.text
    finally:
        out = server.stop()
    assert "REGISTRY READ-ONLY" in out and "api_keys" in out
