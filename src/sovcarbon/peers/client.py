"""The HTTP client of the peer protocol: POST a signed message, get the peer's signed answer.

A refusal by the peer (its RULES.md envelope) is raised as the same ``RegistryError`` code here; a peer
that cannot be reached, or answers with something that is not the protocol, is ``PeerUnreachable``
(the transfer stays where it is and ``interop.sync`` retries with the same bytes).

TLS: a peer registered with ``tls_ca`` (a PEM certificate: its CA's, or its own self-signed one) is reached
over https verified against that certificate alone, not the system's trust store: a server presenting any
other certificate, or a name the certificate does not cover, is ``PeerUnreachable`` and nothing is sent. A
peer without it is verified against the system's trust store (https) or reached in clear (http, loopback).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from sovcarbon.domain.errors import ERROR_CODES, RegistryError

TIMEOUT_S = 10.0
_clients: dict[str | None, httpx.Client] = {}


class PeerUnreachable(Exception):
    """No protocol answer from the peer (connection refused, reset, timeout, 5xx, not JSON)."""


def tls_context(ca_pem: str) -> ssl.SSLContext:
    """Verify the server against ``ca_pem`` alone (hostname checked); ValueError if it is not a certificate."""
    if not ca_pem.isascii():  # PEM is ASCII; the ssl module raises TypeError for anything else
        raise ValueError("not a PEM certificate: non-ASCII text")
    try:
        return ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, TypeError) as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from None


def _http(ca_pem: str | None = None) -> httpx.Client:
    """One pooled client per trust anchor (the system's, or a peer's registered certificate)."""
    client = _clients.get(ca_pem)
    if client is None:
        verify: ssl.SSLContext | bool = tls_context(ca_pem) if ca_pem else True
        client = _clients[ca_pem] = httpx.Client(timeout=TIMEOUT_S, trust_env=False, verify=verify)
    return client


def post(url: str, token: str, ca_pem: str | None = None) -> str:
    try:
        response = _http(ca_pem).post(url, json={"jws": token})
        data: Any = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PeerUnreachable(f"{url}: {type(exc).__name__}") from exc
    if response.status_code == 200 and isinstance(data, dict) and isinstance(data.get("jws"), str):
        answer: str = data["jws"]
        return answer
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("code") in ERROR_CODES and response.status_code < 500:
        raise RegistryError(int(err["code"]), f"peer refused: {err.get('message', '')}"[:500],
                            peer_details=err.get("details"))
    raise PeerUnreachable(f"{url}: HTTP {response.status_code}")


def send(base_url: str, token: str, ca_pem: str | None = None) -> str:
    return post(f"{base_url}/v1/peer/messages", token, ca_pem)


def status(base_url: str, token: str, ca_pem: str | None = None) -> str:
    return post(f"{base_url}/v1/peer/status", token, ca_pem)


def get_json(url: str) -> Any:
    try:
        return _http().get(url).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PeerUnreachable(f"{url}: {type(exc).__name__}") from exc
