"""The HTTP client of the peer protocol: POST a signed message, get the peer's signed answer.

A refusal by the peer (its RULES.md envelope) is raised as the same ``RegistryError`` code here; a peer
that cannot be reached, or answers with something that is not the protocol, is ``PeerUnreachable``
(the transfer stays where it is and ``interop.sync`` retries with the same bytes).
"""

from __future__ import annotations

from typing import Any

import httpx

from sovcarbon.domain.errors import ERROR_CODES, RegistryError

TIMEOUT_S = 10.0
_client: httpx.Client | None = None


class PeerUnreachable(Exception):
    """No protocol answer from the peer (connection refused, reset, timeout, 5xx, not JSON)."""


def _http() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(timeout=TIMEOUT_S, trust_env=False)
    return _client


def post(url: str, token: str) -> str:
    try:
        response = _http().post(url, json={"jws": token})
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


def send(base_url: str, token: str) -> str:
    return post(f"{base_url}/v1/peer/messages", token)


def status(base_url: str, token: str) -> str:
    return post(f"{base_url}/v1/peer/status", token)


def get_json(url: str) -> Any:
    try:
        return _http().get(url).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PeerUnreachable(f"{url}: {type(exc).__name__}") from exc
