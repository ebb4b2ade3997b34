"""Test support shared by every test module: a registry on each store, an HTTP client with one key
per role, a populated world, and assertions on the error envelope. Import from here (``from world
import ...``), never from ``conftest`` (several conftest modules exist and their names collide)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from sovcarbon.api.app import create_app
from sovcarbon.config import load_settings
from sovcarbon.domain.ids import Clock, FixedClock
from sovcarbon.domain.model import Role
from sovcarbon.services import auth, invariants, ledger_audit
from sovcarbon.services.participants import bootstrap
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.engine import make_engine, migrate
from sovcarbon.store.uow import Store

PG_URL = os.environ.get("SOVCARBON_TEST_DATABASE_URL")
# Every test registry runs on a clock set to this instant (ticking from it), never the wall clock: the suite
# answers the same in any year. Date-bound test data (crediting periods 2021-2030, vintage 2025, LoA
# timeframes, AEF years) is chosen around it; tests/test_clock.py runs a scenario with the clock in 2031.
TEST_NOW = "2026-06-15T12:00:00Z"
# Test registries keep (and generate) their signing key in their temporary data dir: the explicit
# demo/test opt-in (production refuses a key inside the data dir). Inherited by subprocesses.
os.environ.setdefault("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tampers: the test alters the journal on purpose; skip the invariant check")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session, migrated once, dropped at the end."""
    assert PG_URL
    base = make_engine(PG_URL)
    name = f"sovcarbon_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.url, isolation_level="AUTOCOMMIT")
    for attempt in range(20):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            break
        except OperationalError:
            # Another session creating a database at the same moment holds template1 briefly.
            if attempt == 19:
                raise
            time.sleep(0.5)
    url = base.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{tbl.name}"' for tbl in t.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} CASCADE"))
    engine.dispose()


def make_registry(backend: str, tmp_path: Path, request: pytest.FixtureRequest, *, clock: Clock | None = None,
                  **overrides: Any) -> Registry:
    """A registry on ``backend`` running on ``clock`` (default: a FixedClock at TEST_NOW, ticking)."""
    clock = clock or FixedClock(TEST_NOW)
    data_dir = tmp_path / "data"
    if backend == "sqlite":
        settings = load_settings(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'registry.sqlite'}",
                                 **overrides)
        reg = Registry(settings, clock=clock)
    else:
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
        settings = load_settings(data_dir=str(data_dir), database_url=url, **overrides)
        reg = Registry(settings, store=Store(url, settings.signing_key_path, registry_id="TH-NR",
                                             checkpoint_interval=settings.checkpoint_interval,
                                             checkpoint_interval_s=settings.checkpoint_interval_s,
                                             data_dir=settings.data_dir,
                                             allow_key_in_data_dir=settings.allow_key_in_data_dir,
                                             apply_migrations=False), clock=clock)
    bootstrap(reg)
    return reg


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    reg = make_registry(request.param, tmp_path, request)
    yield reg
    try:
        if request.node.get_closest_marker("tampers") is None:
            violations = invariants.check(reg)
            assert not violations, f"invariants violated after the test: {violations}"
            # The journal is the authority: every ledger write of the test was journaled (row images).
            replayed = ledger_audit.replay(reg)
            assert replayed.ok, f"ledger tables differ from the journal after the test: {replayed.message}"
    finally:
        reg.store.dispose()


@dataclass
class Api:
    """An HTTP client (FastAPI TestClient over the real app) with one API key per role."""

    client: TestClient
    reg: Registry
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def key(self, who: str, role: Role, participant_id: str | None = None) -> str:
        self.keys[who] = auth.create_key(self.reg, role, participant_id, who)[1]
        return self.keys[who]

    def headers(self, who: str | None, idem: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        if idem:
            h["Idempotency-Key"] = idem
        return h

    def post(self, path: str, who: str | None, body: Any = None, idem: str | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers(who, idem))

    def get(self, path: str, who: str | None = None, **params: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), params=params)

    def ok(self, method: str, path: str, who: str | None, body: Any = None) -> dict[str, Any]:
        resp = self.post(path, who, body) if method == "POST" else self.get(path, who)
        assert resp.status_code in (200, 201), resp.text
        data: dict[str, Any] = resp.json()
        return data


def error_code(resp: Any) -> int:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "name", "message", "details"}, body
    code: int = body["error"]["code"]
    return code


@pytest.fixture
def api(registry: Registry) -> Iterator[Api]:
    with TestClient(create_app(registry)) as client:
        a = Api(client, registry)
        a.key("admin", Role.REGISTRY_ADMIN)
        a.key("approver", Role.REGISTRY_APPROVER)
        a.key("regulator", Role.REGULATOR)
        yield a


def setup_world(api: Api, *, standard: str = "PREMIUM_T-VER", quantity_kg: int = 10_000_000,
                buffer_kg: int = 1_000_000) -> Api:
    """Participants, accounts, a registered project and one approved issuance, all through the API."""
    def participant(name: str, kind: str, **extra: Any) -> str:
        pid: str = api.ok("POST", "/v1/participants", "admin",
                          {"name": name, "kind": kind, "country": "TH", "kyc_status": "verified", **extra})["id"]
        return pid

    api.ids["foundation"] = participant("Foundation", "company")
    api.ids["vvb"] = participant("VVB", "vvb")
    api.ids["company"] = participant("Company", "company")
    api.ids["other"] = participant("Other Co", "company")
    for who in ("foundation", "company", "other"):
        api.ids[f"{who}_acc"] = api.ok("POST", "/v1/accounts", "admin",
                                       {"participant_id": api.ids[who], "kind": "holding"})["id"]
    api.key("proponent", Role.PROPONENT, api.ids["foundation"])
    api.key("vvb", Role.VVB, api.ids["vvb"])
    api.key("company", Role.HOLDER, api.ids["company"])
    api.key("other", Role.HOLDER, api.ids["other"])
    project = api.ok("POST", "/v1/projects", "proponent", project_body(api.ids["foundation"], standard=standard))
    api.ids["project"] = project["id"]
    api.ok("POST", f"/v1/projects/{project['id']}/validation", "vvb", {"report": "ok"})
    api.ok("POST", f"/v1/projects/{project['id']}/registration", "admin")
    iss = api.ok("POST", "/v1/issuances", "admin", issuance_body(api.ids["project"], api.ids["foundation_acc"],
                                                                 quantity_kg=quantity_kg, buffer_kg=buffer_kg))
    iss = api.ok("POST", f"/v1/issuances/{iss['id']}/approval", "approver")
    api.ids["issuance"] = iss["id"]
    api.ids["prefix"] = iss["serial_prefix"]
    return api


def project_body(proponent_id: str, **over: Any) -> dict[str, Any]:
    body = {"name": "Forest project", "standard": "PREMIUM_T-VER", "methodology": "T-VER-P-METH-13-01",
            "host_country": "TH", "proponent_id": proponent_id,
            "crediting_period": {"start": "2021-01-01", "end": "2030-12-31"},
            "location": {"type": "Point", "coordinates": [99.83, 20.36]}}
    body.update(over)
    return body


def issuance_body(project_id: str, account_id: str, **over: Any) -> dict[str, Any]:
    body = {"project_id": project_id, "vintage": 2025,
            "monitoring_period": {"start": "2025-01-01", "end": "2025-12-31"}, "quantity_kg": 10_000_000,
            "buffer_kg": 1_000_000, "account_id": account_id}
    body.update(over)
    return body


@pytest.fixture
def world(api: Api) -> Api:
    return setup_world(api)


def journal_seq(api: Api) -> int:
    seq: int = api.ok("GET", "/v1/journal/head", None)["seq"]
    return seq


def rejected(api: Api, resp: Any, code: int, before_seq: int) -> None:
    """The request failed with ``code`` and wrote nothing (the journal head did not move)."""
    assert error_code(resp) == code, resp.text
    assert journal_seq(api) == before_seq
