"""The tamper-evident journal: canonical bytes, the hash chain (I5), Merkle roots, signatures.

Entry n's hash = SHA-256(entry n-1's hash || canonical bytes of entry n). The canonical bytes are
compact JSON with sorted keys ``at``, ``kind``, ``payload``, ``seq``; because ``seq`` sorts last, the
bytes end in ``"seq":N}``, which ties a stored row to its position without parsing it.
"""

from __future__ import annotations

import hashlib
import json
from binascii import hexlify
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """The one canonical encoding: sorted keys, no spaces, UTF-8; floats are refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_refuse).encode("utf-8")


def _refuse(value: Any) -> Any:
    raise TypeError(f"not canonical JSON: {type(value).__name__}")


def _check_no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not allowed in the journal")
    if isinstance(value, dict):
        for v in value.values():
            _check_no_floats(v)
    elif isinstance(value, list):
        for v in value:
            _check_no_floats(v)


def entry_bytes(seq: int, kind: str, at: str, payload: dict[str, Any]) -> bytes:
    _check_no_floats(payload)
    return canonical_json({"at": at, "kind": kind, "payload": payload, "seq": seq})


def chain_hash(prev_hash_hex: str, entry: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash_hex) + entry).hexdigest()


@dataclass(frozen=True)
class JournalRow:
    seq: int
    entry: bytes
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_links(rows: Iterable[tuple[int, bytes, bytes]], prev_hash: str, first_seq: int) -> VerifyResult:
    """Verify consecutive rows (seq, entry, hash as ASCII hex bytes) starting at ``first_seq``, whose
    predecessor's hash is ``prev_hash``; stop at the first bad one.

    Each link (hash n = SHA-256(hash n-1 || entry n)) depends only on two neighbouring rows, so ranges
    of the journal can be verified independently (in parallel) and the results joined. The stored
    ``prev_hash`` column is a copy of the previous row's hash, checked separately
    (``first_prev_hash_mismatch``). Hashes stay bytes: this loop is the hot path of ``journal verify``.
    """
    prev = bytes.fromhex(prev_hash)
    prev_hex = prev_hash.encode()
    expected_seq = first_seq
    count = 0
    sha256 = hashlib.sha256
    for seq, entry, stored_hash in rows:
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq - 1, prev_hex.decode(), expected_seq,
                                f"entry {expected_seq} is missing (found {seq})")
        digest = sha256(prev + entry).digest()
        digest_hex = hexlify(digest)
        if digest_hex != stored_hash:
            return VerifyResult(False, count, seq - 1, prev_hex.decode(), seq, "hash does not match the entry's bytes")
        if not entry.endswith(b'"seq":%d}' % seq):
            return VerifyResult(False, count, seq - 1, prev_hex.decode(), seq,
                                "entry bytes belong to another position")
        prev, prev_hex = digest, digest_hex
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, expected_seq - 1, prev_hex.decode())


def first_prev_hash_mismatch(rows: Iterable[tuple[int, str, str]]) -> int | None:
    """The first seq whose stored prev_hash is not the previous row's hash (rows: seq, prev_hash, hash)."""
    prev = GENESIS_HASH
    for seq, prev_hash, digest in rows:
        if prev_hash != prev:
            return seq
        prev = digest
    return None


def verify_chain(rows: Iterable[tuple[int, bytes, str, str]]) -> VerifyResult:
    """Verify rows (seq, entry, prev_hash, hash; hashes as hex strings) in seq order from genesis."""
    materialized = list(rows)
    result = verify_links(((seq, entry, h.encode()) for seq, entry, _, h in materialized), GENESIS_HASH, 1)
    bad_prev = first_prev_hash_mismatch((seq, p, h) for seq, _, p, h in materialized)
    if bad_prev is not None and (result.ok or bad_prev < (result.first_bad_seq or bad_prev + 1)):
        return VerifyResult(False, bad_prev - 1, bad_prev - 1, materialized[bad_prev - 2][3] if bad_prev > 1
                            else GENESIS_HASH, bad_prev, "prev_hash does not match the previous entry")
    return result


def merkle_root(leaf_hashes_hex: Iterable[str]) -> str:
    """RFC 6962-style Merkle tree hash over entry hashes (leaf = H(0x00||h), node = H(0x01||l||r))."""
    level = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in leaf_hashes_hex]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


def checkpoint_message(seq: int, head_hash: str, merkle_root_hex: str, from_seq: int, prev_checkpoint_hash: str,
                       registry: str) -> bytes:
    """The bytes a checkpoint signature covers."""
    return canonical_json({"from_seq": from_seq, "head_hash": head_hash, "merkle_root": merkle_root_hex,
                           "prev_checkpoint_hash": prev_checkpoint_hash, "registry": registry, "seq": seq,
                           "type": "sovcarbon.checkpoint.v1"})


def sign(private_key: Ed25519PrivateKey, message: bytes) -> str:
    return private_key.sign(message).hex()


def verify_signature(public_key_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(bytes.fromhex(signature_hex), message)
    except Exception:  # noqa: BLE001 - any failure means "not verified"
        return False
    return True
