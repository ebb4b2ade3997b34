"""The operator CLI and its configuration, through the real ``sovcarbon`` command in a subprocess:
bad settings are one actionable line with exit 2 (never a traceback), read-only commands refuse a
data dir or database where no registry is (and create nothing), ``--version`` and ``config show``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sovcarbon.config import ConfigError, load_settings
from sovcarbon.store.engine import make_engine

PG_URL = os.environ.get("SOVCARBON_TEST_DATABASE_URL")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env["SOVCARBON_DATA_DIR"] = str(tmp_path / "data")
    env["SOVCARBON_ALLOW_KEY_IN_DATA_DIR"] = "1"
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sovcarbon.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = _cli("--version", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sovcarbon {version('sovcarbon')}"


@pytest.mark.parametrize(("variable", "value", "fragments"), [
    ("SOVCARBON_CHECKPOINT_INTERVAL", "0", ["SOVCARBON_CHECKPOINT_INTERVAL must be a positive integer, got '0'"]),
    ("SOVCARBON_CHECKPOINT_INTERVAL", "ten", ["SOVCARBON_CHECKPOINT_INTERVAL", "'ten'"]),
    ("SOVCARBON_CHECKPOINT_INTERVAL", "-5", ["SOVCARBON_CHECKPOINT_INTERVAL", "'-5'"]),
    ("SOVCARBON_DATABASE_URL", "not a url", ["SOVCARBON_DATABASE_URL is not a database URL"]),
    ("SOVCARBON_DATABASE_URL", "mysql://root:hunter2@db/registry", ["SOVCARBON_DATABASE_URL", "mysql"]),
    ("SOVCARBON_CHAIN_URL", "localhost:8545", ["SOVCARBON_CHAIN_URL", "http"]),
    ("SOVCARBON_CONFIG", "/nonexistent/sovcarbon.toml", ["SOVCARBON_CONFIG", "does not exist"]),
    ("SOVCARBON_BRIDGE_MAX_LAG_BLOCKS", "lots", ["SOVCARBON_BRIDGE_MAX_LAG_BLOCKS must be a positive integer"]),
    ("SOVCARBON_BRIDGE_KEY", "hunter2", ["SOVCARBON_BRIDGE_KEY must be a private key of 64 hex digits"]),
])
def test_bad_setting_is_one_line_exit_2(tmp_path: Path, variable: str, value: str, fragments: list[str]) -> None:
    for command in (["check"], ["config", "show"]):
        result = _cli(*command, env=_env(tmp_path, **{variable: value}))
        _one_line_error(result, *fragments)
        assert "hunter2" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("toml", "fragments"), [
    ('data_dirr = "/srv/registry"\n', ["unknown key 'data_dirr'"]),
    ('checkpoint_interval = 0\n', ["checkpoint_interval in SOVCARBON_CONFIG must be a positive integer"]),
    ('checkpoint_interval = \n', ["is not valid TOML"]),
    ('[profile]\ncountri = "TH"\n', ["unknown key 'countri'", "[profile]"]),
    ('[profile.standards.X]\nlabel = "x"\n', ["profile.standards.X.serial_code is missing"]),
    ('[profile.standards.X]\nserial_code = "X"\nallowed_purposes = ["ndc", "moon"]\n',
     ["profile.standards.X.allowed_purposes"]),
    ('[profile.standards.X]\nserial_code = "X"\nbufer_shares = {}\n', ["unknown key 'bufer_shares'"]),
    ('[profile.standards.X]\nserial_code = "X"\nbuffer_shares = {"M-13" = 150}\n',
     ["profile.standards.X.buffer_shares.M-13 must be a whole percent"]),
])
def test_bad_config_file_is_one_line_exit_2(tmp_path: Path, toml: str, fragments: list[str]) -> None:
    path = tmp_path / "sovcarbon.toml"
    path.write_text(toml)
    _one_line_error(_cli("check", env=_env(tmp_path, SOVCARBON_CONFIG=str(path))), *fragments)


def test_environment_overrides_the_file_and_zero_is_not_the_default(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sovcarbon.toml"
    path.write_text('checkpoint_interval = 7\n[profile.standards.X]\nserial_code = "X"\n'
                    'buffer_shares = {"M-13" = 20}\n')
    monkeypatch.setenv("SOVCARBON_CONFIG", str(path))
    monkeypatch.delenv("SOVCARBON_CHECKPOINT_INTERVAL", raising=False)
    settings = load_settings(data_dir=str(tmp_path))
    assert settings.checkpoint_interval == 7
    assert settings.profile.standards["X"].required_buffer_kg("M-13-01", 10_500_000) == 2_100_000
    monkeypatch.setenv("SOVCARBON_CHECKPOINT_INTERVAL", "25")
    assert load_settings(data_dir=str(tmp_path)).checkpoint_interval == 25
    monkeypatch.setenv("SOVCARBON_CHECKPOINT_INTERVAL", "0")
    with pytest.raises(ConfigError, match="got '0'"):
        load_settings(data_dir=str(tmp_path))


READ_ONLY = [["check"], ["journal", "verify"], ["journal", "checkpoint"], ["reconcile"],
             ["report", "aef", "--year", "2026", "--out", "aef.json"], ["admin", "create-key", "--role", "regulator"]]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c[:2]))
def test_read_only_commands_refuse_a_missing_registry(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "dta"
    result = _cli(*command, env=_env(tmp_path, SOVCARBON_DATA_DIR=str(typo)), cwd=tmp_path)
    _one_line_error(result, f"no registry at {typo}", f"sqlite:///{typo}/registry.sqlite",
                    "sovcarbon admin init")
    assert not typo.exists(), "a refused command created the data dir"
    assert not (tmp_path / "aef.json").exists()


def test_admin_init_creates_then_read_only_commands_work(tmp_path: Path) -> None:
    env = _env(tmp_path)
    init = _cli("admin", "init", env=env)
    assert init.returncode == 0, init.stderr
    assert "registry initialised" in init.stdout and str(tmp_path / "data") in init.stdout
    assert (tmp_path / "data" / "registry.sqlite").is_file()
    again = _cli("admin", "init", env=env)
    assert again.returncode == 0 and "already initialised" in again.stdout, again.stderr
    check = _cli("check", env=env)
    assert check.returncode == 0 and "all invariants hold" in check.stdout, check.stderr
    verify = _cli("journal", "verify", env=env)
    assert verify.returncode == 0 and "journal OK" in verify.stdout, verify.stderr
    shown = _cli("config", "show", env=env)
    assert "registry_exists = true" in shown.stdout


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = _env(tmp_path, SOVCARBON_DATABASE_URL="postgresql+psycopg://registry:s3cr3t-pw@db.example:5432/nr",
               SOVCARBON_BRIDGE_KEY="0x" + "ab" * 32, SOVCARBON_CHECKPOINT_INTERVAL="250")
    # The settings are resolved without connecting: an unreachable database is reported, not a traceback.
    shown = _cli("config", "show", env=env)
    assert "s3cr3t-pw" not in shown.stdout + shown.stderr
    assert "ab" * 32 not in shown.stdout + shown.stderr
    assert "database_url = postgresql+psycopg://registry:***@db.example:5432/nr" in shown.stdout
    assert "checkpoint_interval = 250" in shown.stdout
    assert f"data_dir = {tmp_path / 'data'}" in shown.stdout
    assert "bridge_key = ***" in shown.stdout
    assert "Traceback" not in shown.stderr


def test_certificate_verify_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    _one_line_error(_cli("certificate", "verify", str(tmp_path / "nope.json"), env=_env(tmp_path)), "no such file")
    (tmp_path / "bad.json").write_text("{not json")
    _one_line_error(_cli("certificate", "verify", str(tmp_path / "bad.json"), env=_env(tmp_path)),
                    "not a readable JSON certificate")


def test_report_into_a_missing_directory_and_an_unwritable_data_dir(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _cli("admin", "init", env=env).returncode == 0
    _one_line_error(_cli("report", "aef", "--year", "2026", "--out", str(tmp_path / "no" / "aef.xlsx"), env=env),
                    "cannot write", "does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _one_line_error(_cli("admin", "init", env=_env(tmp_path, SOVCARBON_DATA_DIR=str(blocker / "data"))),
                    "cannot open the registry at")


@pytest.mark.skipif(not PG_URL, reason="SOVCARBON_TEST_DATABASE_URL not set")
def test_postgresql_without_schema_is_refused(tmp_path: Path) -> None:
    assert PG_URL
    base = make_engine(PG_URL)
    admin = create_engine(base.url, isolation_level="AUTOCOMMIT")
    name = f"sovcarbon_empty_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.url.set(database=name).render_as_string(hide_password=False)
    try:
        result = _cli("check", env=_env(tmp_path, SOVCARBON_DATABASE_URL=url))
        _one_line_error(result, "no registry at", name, "sovcarbon admin init")
        with make_engine(url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM information_schema.tables "
                                     "WHERE table_schema = 'public'")).scalar_one() == 0
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        base.dispose()
