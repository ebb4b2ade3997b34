"""Retirement certificates are signed once, at retirement, stored and served as stored (item 3); offline
verification pins the registry's key and a self-signed forgery fails (item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from world import Api

from sovcarbon.config import load_settings
from sovcarbon.domain.journal import canonical_json
from sovcarbon.services import retirements
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.uow import Store


def _retire(world: Api, quantity_kg: int = 4000) -> dict[str, Any]:
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "quantity_kg": quantity_kg})
    return world.ok("POST", "/v1/retirements", "company", {
        "account_id": world.ids["company_acc"], "quantity_kg": quantity_kg,
        "beneficiary": {"name": "Siam Cement", "country": "TH"}, "purpose": "voluntary", "claim_year": 2025})


def _stored(reg: Registry, certificate_id: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        row = uow.conn.execute(select(t.certificates).where(t.certificates.c.id == certificate_id)).mappings().one()
    return dict(row)


def _forge(cert: dict[str, Any]) -> dict[str, Any]:
    """A self-signed forgery: altered body, signed with the forger's key, which the document names."""
    forger = Ed25519PrivateKey.generate()
    body = json.loads(json.dumps(cert["certificate"]))
    body["quantity_kg"] *= 100
    return {"certificate": body, "signature": forger.sign(canonical_json(body)).hex(),
            "public_key": forger.public_key().public_bytes_raw().hex(), "algorithm": cert["algorithm"]}


@pytest.mark.tampers
def test_certificate_is_signed_at_retirement_stored_and_served_as_stored(world: Api) -> None:
    ret = _retire(world)
    row = _stored(world.reg, ret["certificate_id"])  # written in the retirement's transaction
    assert row["retirement_id"] == ret["id"] and row["public_key"] == world.reg.store.public_key_hex
    served = world.get(f"/v1/certificates/{ret['certificate_id']}")
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
    assert bytes(row["document"]) in served.content  # the signed bytes, byte for byte
    original = served.content
    cert = served.json()
    assert cert["certificate"]["beneficiary"]["name"] == "Siam Cement"
    assert cert["certificate"]["journal"]["seq"] == ret["journal_seq"]
    # Someone edits the retirement row behind the journal's back: the certificate does not follow.
    with world.reg.store.engine.begin() as conn:
        conn.execute(update(t.retirements).where(t.retirements.c.id == ret["id"])
                     .values(beneficiary_name="Someone Else", quantity_kg=1))
    assert world.ok("GET", f"/v1/retirements/{ret['id']}", None)["beneficiary"]["name"] == "Someone Else"
    again = world.get(f"/v1/certificates/{ret['certificate_id']}")
    assert again.content == original
    assert retirements.verify_certificate(again.json(), world.reg.store.public_key_hex)["valid"]


@pytest.mark.tampers
def test_the_journal_replay_flags_the_edited_retirement(world: Api) -> None:
    ledger_audit = pytest.importorskip("sovcarbon.services.ledger_audit")
    ret = _retire(world)
    assert ledger_audit.replay(world.reg).ok
    with world.reg.store.engine.begin() as conn:
        conn.execute(update(t.retirements).where(t.retirements.c.id == ret["id"])
                     .values(beneficiary_name="Someone Else"))
    result = ledger_audit.replay(world.reg)
    assert not result.ok and "retirements" in result.message, result.message


def test_certificate_is_never_re_signed_with_a_later_key(world: Api, tmp_path: Path) -> None:
    ret = _retire(world)
    original = world.get(f"/v1/certificates/{ret['certificate_id']}").content
    # The same ledger opened with another key (a rotation, or an intruder's key): served bytes do not change.
    settings = load_settings(data_dir=str(tmp_path / "other"), database_url=world.reg.settings.database_url,
                             allow_key_in_data_dir=True)
    other = Registry(settings, store=Store(settings.database_url, settings.signing_key_path,
                                           registry_id=world.reg.store.registry_id, data_dir=settings.data_dir,
                                           allow_key_in_data_dir=True, apply_migrations=False))
    try:
        assert other.store.public_key_hex != world.reg.store.public_key_hex
        with other.store.read() as uow:
            assert retirements.certificate_document(uow, ret["certificate_id"]) == original
    finally:
        other.store.dispose()


def test_api_verify_pins_the_registry_key(world: Api) -> None:
    ret = _retire(world)
    cert = world.ok("GET", f"/v1/certificates/{ret['certificate_id']}", None)
    genuine = world.ok("POST", "/v1/certificates/verify", None, cert)
    assert genuine["valid"] and genuine["signature_valid"] and genuine["signed_by_this_registry"]
    forged = world.ok("POST", "/v1/certificates/verify", None, _forge(cert))
    assert forged["signature_valid"] is True  # internally consistent...
    assert forged["signed_by_this_registry"] is False and forged["valid"] is False  # ...but not ours


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sovcarbon.cli", "certificate", "verify", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_verify_reports_signature_and_registry_separately(world: Api, tmp_path: Path) -> None:
    ret = _retire(world)
    cert = world.ok("GET", f"/v1/certificates/{ret['certificate_id']}", None)
    registry_key = world.ok("GET", "/v1/journal/head", None)["public_key"]
    genuine, forged = tmp_path / "genuine.json", tmp_path / "forged.json"
    genuine.write_text(json.dumps(cert, indent=2))
    forged.write_text(json.dumps(_forge(cert)))

    ok = _cli(str(genuine), "--public-key", registry_key)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "signature valid: yes" in ok.stdout and "signed by this registry: yes" in ok.stdout

    bad = _cli(str(forged), "--public-key", registry_key)
    assert bad.returncode == 1
    assert "signature valid: yes" in bad.stdout and "signed by this registry: no" in bad.stdout

    unpinned = _cli(str(forged))  # the key inside the document proves nothing
    assert unpinned.returncode == 2 and "--public-key" in unpinned.stderr

    pem = tmp_path / "registry.pub.pem"
    public = Ed25519PrivateKey.from_private_bytes(b"\0" * 32).public_key()  # a wrong key, as PEM
    pem.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert _cli(str(genuine), "--registry-key-file", str(pem)).returncode == 1
    hex_file = tmp_path / "registry.pub"
    hex_file.write_text(registry_key + "\n")
    assert _cli(str(genuine), "--registry-key-file", str(hex_file)).returncode == 0
    assert _cli(str(genuine), "--public-key", "not-a-key").returncode == 2
