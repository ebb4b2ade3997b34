"""Peer messages as compact JWS (RFC 7515), algorithm Ed25519 (RFC 9864), verified with joserfc.

The registry signs with its own ``Signer`` (the same key as journal checkpoints and certificates; an HSM
plugs in there): the JWS signing input ``BASE64URL(header) '.' BASE64URL(payload)`` is built with
joserfc's encoders and signed by the Signer, so the key never needs to leave it. Verification parses
and checks the token with joserfc against the peer's registered public key.

| rule | code |
|---|---|
| the token is a compact JWS whose header names alg Ed25519 and a kid | 8002 BAD_SIGNATURE |
| the kid is a registered, active peer | 8001 UNKNOWN_PEER (checked by the caller with ``header_kid``) |
| the signature verifies under that peer's key (one of its keys valid now, during a key rotation) | 8002 BAD_SIGNATURE |
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.util import json_b64encode, urlsafe_b64decode, urlsafe_b64encode

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.journal import canonical_json
from sovcarbon.store.signing import Signer

ALG = "Ed25519"
MAX_JWS_CHARS = 256_000


def sign(signer: Signer, kid: str, payload: dict[str, Any]) -> str:
    header = {"alg": ALG, "kid": kid, "typ": "sovcarbon-peer+jws"}
    signing_input = json_b64encode(header) + b"." + urlsafe_b64encode(canonical_json(payload))
    return (signing_input + b"." + urlsafe_b64encode(signer.sign(signing_input))).decode("ascii")


def header_kid(token: Any) -> str:
    """The unverified ``kid`` (which peer claims to have signed), to find the key; 8002 if unreadable."""
    if not isinstance(token, str) or len(token) > MAX_JWS_CHARS or token.count(".") != 2:
        raise RegistryError(8002, "not a compact JWS")
    try:
        header = json.loads(urlsafe_b64decode(token.split(".", 1)[0].encode("ascii")))
    except (ValueError, UnicodeError):
        raise RegistryError(8002, "unreadable JWS header") from None
    if not isinstance(header, dict) or header.get("alg") != ALG or not isinstance(header.get("kid"), str):
        raise RegistryError(8002, f"the JWS header must name alg {ALG} and a kid")
    kid: str = header["kid"]
    return kid


def verify(token: str, public_key_hex: str) -> dict[str, Any]:
    """The payload of a JWS that verifies under ``public_key_hex``; 8002 otherwise."""
    try:
        key = OKPKey.import_key(Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)))
        obj = jws.deserialize_compact(token, key, algorithms=[ALG])
        payload = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise RegistryError(8002, "the message's signature does not verify under the peer's key",
                            reason=type(exc).__name__) from None
    if not isinstance(payload, dict):
        raise RegistryError(8002, "the JWS payload is not an object")
    return payload


def verify_any(token: str, public_keys_hex: list[str]) -> dict[str, Any]:
    """The payload of a JWS that verifies under one of ``public_keys_hex`` (a peer's keys valid now: during a
    rotation, its old key until the cutover and the new one); 8002 if it verifies under none."""
    refusal: RegistryError | None = None
    for key in public_keys_hex:
        try:
            return verify(token, key)
        except RegistryError as exc:
            refusal = exc
    raise refusal or RegistryError(8002, "no key of this peer is valid now")
