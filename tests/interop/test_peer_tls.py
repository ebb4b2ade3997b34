"""TLS between registries: the destination registry (Indonesian profile, SQLite) is served by uvicorn over https
with a server certificate issued by a test CA made here with ``cryptography``; the origin (the test world, SQLite
or PostgreSQL) registers the peer with that CA's certificate (``tls_ca``) and its client verifies the server
against it alone. A transfer completes over verified TLS; a peer registered with another CA is never reached (the
transfer waits, locked, and nothing arrives); a certificate for an http URL or a non-certificate is 1003."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from a6_world import attach, grant
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from peer_world import IDN_CONFIG, _clean_env, free_port
from world import TEST_NOW, Api, journal_seq, rejected

from sovcarbon.api.app import create_app
from sovcarbon.config import load_settings
from sovcarbon.domain.ids import FixedClock
from sovcarbon.domain.model import Role
from sovcarbon.services.participants import bootstrap
from sovcarbon.services.registry import Registry


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def server_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("ID-NR")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class TlsPeer:
    api: Api  # officers' keys on the destination (in-process client)
    base: str  # its https endpoint
    ca_pem: str


@pytest.fixture
def idn_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsPeer]:
    data = tmp_path / "idn"
    monkeypatch.setenv("SOVCARBON_CONFIG", str(IDN_CONFIG))
    settings = load_settings(data_dir=str(data), database_url=f"sqlite:///{data / 'registry.sqlite'}")
    monkeypatch.delenv("SOVCARBON_CONFIG")
    reg = Registry(settings, clock=FixedClock(TEST_NOW))
    bootstrap(reg)
    ca_key, ca = make_ca("Indonesia registry test CA")
    cert_pem, key_pem = server_cert(ca_key, ca)
    (tmp_path / "idn.crt").write_bytes(cert_pem)
    (tmp_path / "idn.key").write_bytes(key_pem)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(reg), host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(tmp_path / "idn.crt"),
                                           ssl_keyfile=str(tmp_path / "idn.key")))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the https server did not start"
        time.sleep(0.05)
    try:
        with TestClient(create_app(reg)) as tc:
            api = Api(tc, reg)
            for who, role in (("admin", Role.REGISTRY_ADMIN), ("approver", Role.REGISTRY_APPROVER),
                              ("regulator", Role.REGULATOR)):
                api.key(who, role)
            yield TlsPeer(api, f"https://127.0.0.1:{port}", pem(ca))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        reg.store.dispose()


def link(th: Api, idn: TlsPeer, ca_pem: str) -> None:
    ident = idn.api.ok("GET", "/v1/peer/identity", None)
    th.ok("POST", "/v1/peers", "admin", {"id": ident["registry_id"], "base_url": idn.base, "tls_ca": ca_pem,
                                         "public_key": ident["public_key"], "party_code": ident["party_code"]})
    th.ok("POST", f"/v1/peers/{ident['registry_id']}/approval", "approver")
    mine = th.ok("GET", "/v1/peer/identity", None)
    idn.api.ok("POST", "/v1/peers", "admin", {"id": mine["registry_id"], "base_url": "https://127.0.0.1:9",
                                              "public_key": mine["public_key"], "party_code": mine["party_code"]})
    idn.api.ok("POST", f"/v1/peers/{mine['registry_id']}/approval", "approver")
    par = idn.api.ok("POST", "/v1/participants", "admin", {"name": "PT Nusantara Hijau", "kind": "company",
                                                           "country": "ID"})
    idn.api.ids["company_acc"] = idn.api.ok("POST", "/v1/accounts", "admin",
                                            {"participant_id": par["id"], "kind": "holding"})["id"]


def transfer(th: Api, idn: TlsPeer) -> dict[str, object]:
    loa_id = grant(th, reference="TGO-LOA-TLS-1", purposes=["ndc"], oimp=[], first_transfer_event=None,
                   authorized_entities=[])
    attach(th, loa_id, 100_000)
    return th.ok("POST", "/v1/peer-transfers", "proponent", {
        "peer_id": "ID-NR", "account_id": th.ids["foundation_acc"], "destination_account_id":
        idn.api.ids["company_acc"], "entity": "PT Nusantara Hijau", "authorization_id": loa_id, "purpose": "ndc",
        "quantity_kg": 100_000, "timeout_s": 600})


def test_a_transfer_over_tls_verified_against_the_peer_registered_ca(world: Api, idn_tls: TlsPeer) -> None:
    # The endpoint really is https with a certificate no system trust store knows.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{idn_tls.base}/healthz", timeout=5)
    link(world, idn_tls, idn_tls.ca_pem)
    assert world.ok("GET", "/v1/peers/ID-NR", "admin")["tls_ca"] is True
    out = transfer(world, idn_tls)
    assert out["state"] == "completed", out
    [received] = idn_tls.api.ok("GET", "/v1/peer-transfers", "regulator")["data"]
    assert (received["state"], received["quantity_kg"]) == ("completed", 100_000)


def test_a_peer_presenting_another_ca_certificate_is_never_reached(world: Api, idn_tls: TlsPeer) -> None:
    _other_key, other_ca = make_ca("Some other CA")
    link(world, idn_tls, pem(other_ca))
    out = transfer(world, idn_tls)
    assert out["state"] == "locked", out  # PeerUnreachable: the transfer waits for its deadline, units locked
    assert idn_tls.api.ok("GET", "/v1/peer-transfers", "regulator")["data"] == []


def test_a_tls_certificate_needs_https_and_must_be_a_certificate(world: Api) -> None:
    _key, ca = make_ca("Some CA")
    body = {"id": "JP-NR", "base_url": "http://127.0.0.1:9", "public_key": "ab" * 32, "party_code": "JPN",
            "tls_ca": pem(ca)}
    before = journal_seq(world)
    rejected(world, world.post("/v1/peers", "admin", body), 1003, before)
    body.update(base_url="https://127.0.0.1:9", tls_ca="-----BEGIN CERTIFICATE-----\n" + "A" * 64 +
                "\n-----END CERTIFICATE-----\n")
    rejected(world, world.post("/v1/peers", "admin", body), 1003, before)
    rejected(world, world.post("/v1/peers", "admin", dict(body, tls_ca="\u0088" * 70)), 1003, before)  # fuzz found
    assert world.ok("POST", "/v1/peers", "admin", dict(body, tls_ca=pem(ca)))["tls_ca"] is True


def test_serve_with_ssl_flags_answers_https_verified_against_its_ca(tmp_path: Path) -> None:
    """`sovcarbon serve --ssl-certfile --ssl-keyfile`: the registry process itself answers https; a client that
    trusts the CA alone reaches it (what a peer registered with ``tls_ca`` does); flags given half are refused
    before anything starts."""
    ca_key, ca = make_ca("Indonesia registry test CA")
    cert_pem, key_pem = server_cert(ca_key, ca)
    (tmp_path / "idn.crt").write_bytes(cert_pem)
    (tmp_path / "idn.key").write_bytes(key_pem)
    env = _clean_env() | {"SOVCARBON_DATA_DIR": str(tmp_path / "idn"), "SOVCARBON_CONFIG": str(IDN_CONFIG),
                          "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1", "SOVCARBON_CHECKPOINT_INTERVAL_S": "3600"}
    half = subprocess.run([sys.executable, "-m", "sovcarbon.cli", "serve", "--ssl-certfile", str(tmp_path / "idn.crt")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert half.returncode == 2 and "--ssl-keyfile" in half.stderr + half.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sovcarbon.cli", "serve", "--port", str(port),
                             "--ssl-certfile", str(tmp_path / "idn.crt"), "--ssl-keyfile", str(tmp_path / "idn.key")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        trusted = httpx.Client(verify=ssl.create_default_context(cadata=pem(ca)), timeout=5)
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "serve exited"
            try:
                if trusted.get(f"https://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the https registry did not come up"
                time.sleep(0.3)
        assert trusted.get(f"https://127.0.0.1:{port}/v1/peer/identity").json()["registry_id"] == "ID-NR"
        with pytest.raises(httpx.ConnectError):  # the system's trust store does not know the test CA
            httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: the shutdown (bridge, checkpoint) may take longer
            proc.kill()
            proc.wait(timeout=10)
