"""The HTTP surface under hostile clients (security issue, items 1, 8 and the HTTP parts of 10).

A real ``sovcarbon serve`` survives a deeply nested anonymous body and a 40 MB chunked body; every route
authenticates before reading a body; JSON is depth-bounded, NaN/Infinity and NUL are refused; a response
that cannot be rendered never commits; the 500 envelope never claims nothing changed; keys expire and can
be revoked (CLI); failed authentication is throttled per address; every response carries the security
headers; the OpenAPI document declares the error envelope; the SQLite ledger is private to its owner.
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import served
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from world import Api, error_code, journal_seq, project_body, rejected

from sovcarbon.api.app import create_app, limit_recursion
from sovcarbon.api.guard import MAX_BODY_BYTES, MAX_JSON_DEPTH, FailedAuthThrottle, parse_json_body
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Role
from sovcarbon.services import auth
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.engine import make_engine

DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB


# --- item 1: a real server process --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    data_dir = tmp_path_factory.mktemp("hardening") / "data"
    running = served.start(served.clean_env(data_dir, SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1"))
    try:
        running.wait_healthy()
        base, proc = running.base, running.proc
        yield base, proc, data_dir
    finally:
        running.stop(timeout_s=20)


def test_deeply_nested_anonymous_body_does_not_kill_the_server(
        server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, proc, _ = server
    for path in ("/v1/transfers", "/v1/projects", "/v1/participants"):
        resp = httpx.post(f"{base}{path}", content=DEEP, headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 401, resp.text  # authenticated first: the body was never read
        assert resp.json()["error"]["code"] == 1001
    # A public POST reads bodies: the depth bound refuses it, the process lives.
    resp = httpx.post(f"{base}/v1/certificates/verify", content=DEEP,
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 1003
    assert "nested deeper" in resp.json()["error"]["message"]
    assert proc.poll() is None
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def test_chunked_body_over_the_limit_is_refused_on_the_stream(
        server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, proc, _ = server
    sent_bytes = 0

    def forty_megabytes() -> Iterator[bytes]:
        nonlocal sent_bytes
        yield b"["
        for _ in range(40):
            sent_bytes += 1024 * 1024
            yield b"1," * (512 * 1024)

    try:
        resp = httpx.post(f"{base}/v1/certificates/verify", content=forty_megabytes(),
                          headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["code"] == 1003
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed while the client was still sending: also a refusal
    assert proc.poll() is None
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def test_serve_keeps_the_sqlite_ledger_private(server: tuple[str, subprocess.Popen[str], Path]) -> None:
    _, _, data_dir = server
    for name in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm"):
        path = data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (name, oct(path.stat().st_mode))
    assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0, oct(data_dir.stat().st_mode)


def test_limit_recursion_undoes_what_the_chain_libraries_set() -> None:
    import sys as _sys

    before = _sys.getrecursionlimit()
    try:
        import py_ecc  # noqa: F401 - its import raises the limit to 100,000 (the cause of the crash)

        assert limit_recursion() <= 5000
    finally:
        _sys.setrecursionlimit(before)


def test_make_engine_creates_a_private_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "ledger.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE x (a INTEGER)")
        conn.exec_driver_sql("INSERT INTO x VALUES (1)")
    try:
        for p in (path, path.with_name("ledger.sqlite-wal"), path.with_name("ledger.sqlite-shm")):
            assert p.exists() and stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        engine.dispose()


# --- authenticate before the body; bounds on bodies ------------------------------------------------------------
@pytest.mark.parametrize("body", [DEEP, b"{not json", b"[" * 70 + b"]" * 70, b'{"name": NaN}', b"x" * 1000])
def test_unauthenticated_bad_bodies_get_401_not_400(api: Api, body: bytes) -> None:
    before = journal_seq(api)
    resp = api.client.post("/v1/participants", content=body, headers={"Content-Type": "application/json"})
    rejected(api, resp, 1001, before)
    resp = api.client.post("/v1/participants", content=body,
                           headers={"Content-Type": "application/json", "Authorization": "Bearer sk_wrong"})
    rejected(api, resp, 1001, before)


def test_body_limit_applies_to_chunked_bodies_with_a_key(api: Api) -> None:
    before = journal_seq(api)

    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b" " * (1024 * 1024)

    resp = api.client.post("/v1/participants", content=chunks(), headers=api.headers("admin"))
    assert resp.status_code == 413 and error_code(resp) == 1003
    big = b'{"name": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert api.client.post("/v1/participants", content=big, headers=api.headers("admin")).status_code == 413
    assert journal_seq(api) == before


def test_json_depth_bound_applies_to_authenticated_callers(world: Api) -> None:
    before = journal_seq(world)

    def feature(depth: int) -> dict[str, Any]:
        properties: Any = {"leaf": 1}
        for _ in range(depth):
            properties = {"nested": properties}
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [99.8, 20.3]},
                "properties": properties}

    body = project_body(world.ids["foundation"], location=feature(1000))
    rejected(world, world.post("/v1/projects", "proponent", body), 1003, before)
    resp = world.post("/v1/projects", "proponent", project_body(world.ids["foundation"],
                                                                location=feature(MAX_JSON_DEPTH - 4)))
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_and_nothing_is_committed(world: Api, constant: str) -> None:
    before = journal_seq(world)
    body = json.dumps(project_body(world.ids["foundation"])).replace("99.83", constant)
    assert constant in body
    headers = {**world.headers("proponent", idem=f"nan-{constant}"), "Content-Type": "application/json"}
    resp = world.client.post("/v1/projects", content=body, headers=headers)
    rejected(world, resp, 1003, before)
    # The same request again (same Idempotency-Key) is refused the same way: nothing was stored to replay.
    resp = world.client.post("/v1/projects", content=body, headers=headers)
    rejected(world, resp, 1003, before)


def test_a_response_that_cannot_be_rendered_rolls_the_command_back(registry: Registry) -> None:
    with registry.store.read() as uow:
        entries_before = len(uow.conn.execute(t.journal.select()).all())

    def command(uow: Any) -> dict[str, Any]:
        uow.append("api_key_created", {"key_id": "key_probe", "role": "regulator", "participant_id": None,
                                       "name": "probe"})
        return {"value": float("nan")}

    with pytest.raises(ValueError):
        registry.execute(SYSTEM_ACTOR, "probe", {}, command, idempotency_key="render-probe")
    with registry.store.read() as uow:
        kinds = [r[0] for r in uow.conn.execute(t.journal.select().with_only_columns(t.journal.c.kind))]
        replays = uow.conn.execute(t.idempotency.select()).all()
    assert "api_key_created" not in kinds[entries_before:] and len(kinds) == entries_before and not replays


@pytest.mark.parametrize("where", ["body", "path", "query"])
def test_nul_bytes_are_refused_everywhere(world: Api, where: str) -> None:
    before = journal_seq(world)
    if where == "body":
        resp = world.post("/v1/projects", "proponent", project_body(world.ids["foundation"], name="Forest\x00"))
    elif where == "path":
        resp = world.get("/v1/serials/TH-PTVER%00x")
    else:
        resp = world.get("/v1/supply", project_id="prj_a\x00b")
    rejected(world, resp, 1003, before)


def test_lone_surrogates_are_refused(world: Api) -> None:
    before = journal_seq(world)
    body = json.dumps(project_body(world.ids["foundation"], name="x")).replace('"name": "x"', '"name": "\\ud800"')
    resp = world.client.post("/v1/projects", content=body,
                             headers={**world.headers("proponent"), "Content-Type": "application/json"})
    rejected(world, resp, 1003, before)


def test_huge_after_seq_is_a_400_not_a_500(api: Api) -> None:
    for value in (2**63, 10**30):
        resp = api.get("/v1/journal", after_seq=value)
        assert error_code(resp) == 1003
        resp = api.client.get("/explorer/journal", params={"after_seq": value})
        assert resp.status_code < 500
    assert api.get("/v1/journal", after_seq=2**63 - 1).status_code == 200


def test_parser_unit_bounds() -> None:
    assert parse_json_body(b'{"a": [1, {"b": "[[[[\\"]]]]"}]}') == {"a": [1, {"b": '[[[["]]]]'}]}
    for bad in (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), b"NaN", b'{"a": Infinity}',
                b'"\\u0000"', b'{"\\u0000": 1}', b"1" * 5000, b"\xff"):
        with pytest.raises(RegistryError) as info:
            parse_json_body(bad)
        assert info.value.code == 1003


# --- item 8: the 500 envelope --------------------------------------------------------------------------------
def test_internal_error_envelope_never_claims_nothing_changed(registry: Registry) -> None:
    app = create_app(registry)

    @app.get("/v1/_probe_internal_error", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("probe")

    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/v1/_probe_internal_error")
    assert resp.status_code == 500
    message = resp.json()["error"]["message"]
    assert "nothing was changed" not in message and "outcome is unknown" in message
    assert "Idempotency-Key" in message


# --- keys: expiry, revocation, listing -------------------------------------------------------------------------
def test_keys_expire(api: Api) -> None:
    key_id, key = auth.create_key(api.reg, Role.REGULATOR, None, "auditor", expires_in_days=1)
    assert api.client.get("/v1/accounts", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert auth.authenticate(api.reg, key).key_id == key_id
    with pytest.raises(RegistryError) as info:
        auth.authenticate(api.reg, key, now="2999-01-01T00:00:00.000000Z")
    assert info.value.code == 1001
    with pytest.raises(RegistryError):
        auth.create_key(api.reg, Role.REGULATOR, None, "bad", expires_in_days=0)


def test_an_expired_key_is_refused_over_http(api: Api) -> None:
    from datetime import timedelta

    from sovcarbon.domain.ids import FixedClock

    clock = api.reg.store.clock
    assert isinstance(clock, FixedClock)  # world.make_registry: every test registry runs on a FixedClock
    _, key = auth.create_key(api.reg, Role.REGULATOR, None, "short-lived", expires_in_days=2)
    headers = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200
    clock.advance(timedelta(days=1))
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    resp = api.client.get("/v1/accounts", headers=headers)
    assert resp.status_code == 401 and error_code(resp) == 1001
    assert api.get("/v1/accounts", "admin").status_code == 200  # keys without expiry are unaffected


def test_make_engine_narrows_an_existing_world_readable_ledger(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    path.write_bytes(b"")
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_revoke_and_list_keys_through_the_cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from sovcarbon.cli import app as cli_app

    settings = api.reg.settings
    monkeypatch.setenv("SOVCARBON_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SOVCARBON_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")
    runner = CliRunner()
    created = runner.invoke(cli_app, ["admin", "create-key", "--role", "regulator", "--name", "temp",
                                      "--expires-in-days", "30"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200

    listed = runner.invoke(cli_app, ["admin", "list-keys", "--json"])
    assert listed.exit_code == 0, listed.output
    keys = json.loads(listed.stdout)
    mine = [k for k in keys if k["name"] == "temp"]
    assert len(mine) == 1 and mine[0]["expires_at"] and mine[0]["revoked_at"] is None
    assert key not in listed.stdout and auth.hash_key(key) not in listed.stdout
    assert set(mine[0]) == {"id", "role", "participant_id", "name", "created_at", "expires_at", "revoked_at"}

    before = journal_seq(api)
    revoked = runner.invoke(cli_app, ["admin", "revoke-key", mine[0]["id"], "--reason", "left the agency"])
    assert revoked.exit_code == 0, revoked.output
    assert journal_seq(api) == before + 1
    resp = api.client.get("/v1/accounts", headers=headers)
    assert resp.status_code == 401 and error_code(resp) == 1001
    again = runner.invoke(cli_app, ["admin", "revoke-key", mine[0]["id"]])
    assert again.exit_code == 2
    assert journal_seq(api) == before + 1
    table = runner.invoke(cli_app, ["admin", "list-keys"])
    assert table.exit_code == 0 and mine[0]["id"] in table.stdout and key not in table.stdout


def test_revocation_is_journaled(api: Api) -> None:
    key_id, _ = auth.create_key(api.reg, Role.REGULATOR, None, "to revoke")
    view = auth.revoke_key(api.reg, key_id, "rotation")
    assert view["revoked_at"] and "key_hash" not in view
    with api.reg.store.read() as uow:
        last = uow.conn.execute(t.journal.select().order_by(t.journal.c.seq.desc()).limit(1)).mappings().one()
    assert last["kind"] == "api_key_revoked"
    with pytest.raises(RegistryError) as info:
        auth.revoke_key(api.reg, "key_doesnotexist")
    assert info.value.code == 1005


# --- throttling of failed authentication ---------------------------------------------------------------------
def test_failed_authentication_is_throttled_per_address(registry: Registry) -> None:
    throttle = FailedAuthThrottle(limit=5, window_s=60)
    app = create_app(registry, throttle=throttle)
    _, good = auth.create_key(registry, Role.REGULATOR, None, "good")
    with TestClient(app, client=("10.0.0.1", 1000)) as attacker, TestClient(app, client=("10.0.0.2", 1000)) as other:
        for _ in range(5):
            assert attacker.get("/v1/accounts", headers={"Authorization": "Bearer sk_guess"}).status_code == 401
        resp = attacker.get("/v1/accounts", headers={"Authorization": "Bearer sk_guess"})
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
        assert resp.json()["error"]["code"] == 1001
        # While throttled, even a correct key from that address is not checked (no oracle for guesses).
        assert attacker.get("/v1/accounts", headers={"Authorization": f"Bearer {good}"}).status_code == 429
        # Public reads stay public; another address is unaffected.
        assert attacker.get("/v1/supply").status_code == 200
        assert other.get("/v1/accounts", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        # Successful authentications and missing keys do not count as failures.
        for _ in range(20):
            assert other.get("/v1/accounts", headers={"Authorization": f"Bearer {good}"}).status_code == 200
            assert other.get("/v1/accounts").status_code == 401
        assert other.get("/v1/accounts", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_throttle_window_and_memory_are_bounded() -> None:
    now = [1000.0]
    throttle = FailedAuthThrottle(limit=3, window_s=10, max_clients=100, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("a")
    assert throttle.retry_after_s("a") == 10
    now[0] += 10.5
    assert throttle.retry_after_s("a") == 0
    for i in range(1000):
        throttle.failed(f"ip{i}")
    assert len(throttle._failures) <= 100


# --- headers --------------------------------------------------------------------------------------------------
def test_security_headers_on_every_response(api: Api) -> None:
    for resp in (api.client.get("/"), api.client.get("/docs"), api.client.get("/v1/supply"),
                 api.client.get("/v1/nothing-here"), api.get("/v1/accounts", "admin"),
                 api.client.post("/v1/participants", json={})):
        h = resp.headers
        assert "frame-ancestors 'none'" in h["content-security-policy"], resp.url
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
    assert "unsafe-inline" not in api.client.get("/").headers["content-security-policy"].split("script-src")[1
                                                                                                  ].split(";")[0]
    assert api.get("/v1/accounts", "admin").headers["cache-control"] == "no-store"
    assert api.get("/v1/journal", "admin").headers["cache-control"] == "no-store"


# --- OpenAPI declares the envelope ------------------------------------------------------------------------------
def test_openapi_declares_the_error_envelope_on_every_operation(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    operations = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(operations) > 40
    for path, method, op in operations:
        for status in ("400", "401", "403", "404", "409", "422", "429"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)
        assert "HTTPValidationError" not in json.dumps(op), (method, path)


def test_openapi_declares_the_api_key_as_a_security_scheme(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "an API key from `sovcarbon admin create-key` (sk_...)"}
    paths = spec["paths"]
    assert paths["/v1/transfers"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/v1/accounts"]["get"]["security"] == [{"bearerAuth": []}]
    assert {} in paths["/v1/journal"]["get"]["security"]  # public, shows more with a key
    assert "security" not in paths["/v1/supply"]["get"]
    for item in paths.values():
        for op in item.values():
            assert not [p for p in op.get("parameters", []) if p["name"].lower() == "authorization"], op
