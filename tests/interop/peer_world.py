"""Two real registries of record on loopback: Thailand (the demo, SQLite) and Indonesia (the Indonesian
profile, on PostgreSQL when SOVCARBON_TEST_DATABASE_URL is set, else SQLite), each its own `sovcarbon serve`
process, data dir, database and signing key. Helpers to restart either with a fault point, and to read
both ledgers (I1-I7 on each via `sovcarbon check`, and where every kg of a serial prefix lives)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import served
from served import CLI, clean_env, free_port
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from sovcarbon.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
IDN_CONFIG = ROOT / "docs" / "examples" / "indonesia.toml"
PG_URL = os.environ.get("SOVCARBON_TEST_DATABASE_URL")


@dataclass
class Node:
    name: str
    env: dict[str, str]
    port: int
    demo: bool
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    server: served.Served | None = None  # the running `sovcarbon serve` (tests/served.py), None while stopped
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[str] | None:
        return None if self.server is None else self.server.proc

    def start(self, fault: str | None = None, wait: bool = True) -> None:
        env = dict(self.env)
        if fault:
            env["SOVCARBON_PEER_FAULT"] = fault
        assert self.log_path is not None
        self.server = served.start(env, *(["--demo"] if self.demo else []), port=self.port, log_path=self.log_path)
        if wait:
            self.wait_up()

    def wait_up(self, timeout_s: float = 180) -> None:
        assert self.server is not None
        self.server.wait_until(lambda: served.healthy(self.base), timeout_s, f"{self.name}'s /healthz")

    def log(self) -> str:
        return self.log_path.read_text()[-3000:] if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout_s=20)
        self.server = None

    def wait_dead(self, timeout_s: float = 30) -> int:
        assert self.server is not None
        code = self.server.proc.wait(timeout=timeout_s)
        self.server.stop()  # already exited: collects it
        self.server = None
        return code

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=300)

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.keys[who]}"}

    def post(self, path: str, who: str | None, body: Any = None, **params: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers=self.headers(who), params=params, timeout=60)

    def get(self, path: str, who: str | None = None, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers(who), params=params, timeout=60)

    def ok(self, method: str, path: str, who: str | None, body: Any = None, **params: Any) -> Any:
        resp = self.post(path, who, body, **params) if method == "POST" else self.get(path, who, **params)
        assert resp.status_code in (200, 201), f"{self.name} {method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def check(self) -> None:
        """I1-I6 (and the journal replay) on this registry, through the real CLI."""
        out = self.cli("check")
        assert out.returncode == 0, f"{self.name} check failed: {out.stdout}\n{out.stderr}"

    def supply(self) -> dict[str, Any]:
        data: dict[str, Any] = self.ok("GET", "/v1/supply", None)
        return data


def _pg_database() -> tuple[str, Any]:
    assert PG_URL
    base = make_engine(PG_URL)
    name = f"sovcarbon_peer_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.url, isolation_level="AUTOCOMMIT")
    for attempt in range(20):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            break
        except OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.5)
    url = base.url.set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@dataclass
class Pair:
    th: Node
    id: Node

    def leaves(self, node: Node, prefix: str) -> list[tuple[int, int, str]]:
        """(first, last, state) of every leaf of the serial prefix in ``node`` (public read)."""
        resp = node.get(f"/v1/peer/leaves/{prefix}")
        if resp.status_code == 404:
            return []
        assert resp.status_code == 200, resp.text
        return [(b[0], b[1], b[2]) for b in resp.json()["leaves"]]

    def single_home(self, prefix: str) -> dict[str, int]:
        """I7: no kg of the prefix is at home (any state but ``exported``) in both registries. Returns the kg
        at home on each side and the kg at home in neither (left by a plain export before the protocol)."""
        homes: list[tuple[int, int, str]] = []
        issued = 0
        for node in (self.th, self.id):
            for first, last, state in self.leaves(node, prefix):
                issued = max(issued, last)
                if state != "exported":
                    homes.append((first, last, node.name))
        homes.sort()
        position = 1
        nowhere = 0
        for first, last, _who in homes:
            assert first >= position, f"{prefix}: kg {first}..{position - 1} at home in both registries ({homes})"
            nowhere += first - position
            position = last + 1
        nowhere += issued + 1 - position
        counts = {name: sum(b - a + 1 for a, b, w in homes if w == name) for name in ("TH", "ID")}
        return {**counts, "nowhere": nowhere}

def _clean_env() -> dict[str, str]:
    """This process's environment without its SOVCARBON_* settings (``served.clean_env`` adds a data dir)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}


def start_pair(tmp: Path) -> Iterator[Pair]:
    drops = []
    th_env = clean_env(tmp / "th", SOVCARBON_CHECKPOINT_INTERVAL_S="3600", SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1")
    id_env = clean_env(tmp / "id", SOVCARBON_CONFIG=str(IDN_CONFIG), SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1",
                       SOVCARBON_CHECKPOINT_INTERVAL_S="3600")
    if PG_URL:
        url, drop = _pg_database()
        id_env["SOVCARBON_DATABASE_URL"] = url
        drops.append(drop)
    th = Node("TH", th_env, free_port(), demo=False, log_path=tmp / "th.log")
    idn = Node("ID", id_env, free_port(), demo=False, log_path=tmp / "id.log")
    try:
        th.start(wait=False)
        idn.start()
        th.wait_up()
        keys_file = tmp / "th" / "demo-keys.json"
        # The demo is loaded into the running registry (as `make run` does it, from a second process) once
        # its start-up check has finished (serve --demo races that check: see the closing note).
        wait_startup_check(th)
        out = th.cli("demo", "--url", th.base)
        assert out.returncode == 0, f"demo failed: {out.stderr[-3000:]}"
        th.keys = json.loads(keys_file.read_text())
        for who, role in (("admin", "registry_admin"), ("approver", "registry_approver"),
                          ("regulator", "regulator")):
            out = idn.cli("admin", "create-key", "--role", role, "--name", f"idn {who}")
            assert out.returncode == 0, out.stderr
            idn.keys[who] = out.stdout.strip()
        par = idn.ok("POST", "/v1/participants", "admin",
                     {"name": "PT Nusantara Hijau", "kind": "company", "country": "ID"})
        acc = idn.ok("POST", "/v1/accounts", "admin", {"participant_id": par["id"], "kind": "holding"})
        idn.ids.update(company=par["id"], company_acc=acc["id"])
        out = idn.cli("admin", "create-key", "--role", "holder", "--participant", par["id"], "--name", "nusantara")
        assert out.returncode == 0, out.stderr
        idn.keys["company"] = out.stdout.strip()
        accounts = th.ok("GET", "/v1/accounts", "admin")["data"]
        th.ids["foundation_acc"] = next(a["id"] for a in accounts if a["name"].startswith("Mae Fah Luang"))
        th.ids["cement_acc"] = next(a["id"] for a in accounts if a["name"].startswith("Chao Phraya"))
        th.ids["loa"] = th.ok("GET", "/v1/authorizations", "admin")["data"][0]["id"]
        # The demo's story 6 leaves 300,000 kg of the foundation's units pledged to its bank: the bank releases
        # them, so that 500,000 kg are free; 300,000 kg go under the demo LoA (the tests send from them), the rest
        # stays free for tests that place units under an LoA of their own.
        for lien in [x for x in th.ok("GET", "/v1/liens", "admin")["data"] if x["remaining_kg"] > 0]:
            th.ok("POST", f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": lien["remaining_kg"]})
        th.ok("POST", f"/v1/authorizations/{th.ids['loa']}/units", "admin",
              {"account_id": th.ids["foundation_acc"], "quantity_kg": 300_000})
        register_peers(th, idn)
        yield Pair(th, idn)
    finally:
        th.stop()
        idn.stop()
        for drop in drops:
            drop()


def wait_startup_check(node: Node, settle_s: float = 2.0) -> None:
    """The start-up check of an empty ledger runs in the background for a moment after the port opens."""
    time.sleep(settle_s)
    info = node.ok("GET", "/v1/registry", None)
    assert not info["read_only"], info


def register_peers(a: Node, b: Node) -> None:
    for me, other in ((a, b), (b, a)):
        ident = other.ok("GET", "/v1/peer/identity", None)
        me.ok("POST", "/v1/peers", "admin", {"id": ident["registry_id"], "base_url": other.base,
                                              "public_key": ident["public_key"], "party_code": ident["party_code"],
                                              "country": ident["country"]})
        me.ok("POST", f"/v1/peers/{ident['registry_id']}/approval", "approver")
