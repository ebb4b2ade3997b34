"""The tamper-evident journal: canonical bytes, the hash chain (I5), Merkle roots, signatures.

Entry n's hash = SHA-256(entry n-1's hash || canonical bytes of entry n). The canonical bytes are
compact JSON with sorted keys ``at``, ``kind``, ``private_hash``, ``public``, ``seq`` (format v2);
because ``seq`` sorts last, the bytes end in ``"seq":N}``, which ties a stored row to its position
without parsing it.

Privacy (format v2): an entry has a *public part* (what anyone may read: issuance, retirement and
cancellation details, supply effects per project/vintage/state, pseudonymous account references) and
a *private part* (the full payload and the image of every ledger row the transaction wrote),
committed by ``private_hash`` = SHA-256 of its canonical bytes. Both are inside the chain: anyone
verifies every link from the public parts alone; whoever holds a private part checks it against its
hash. Entries written before migration 0005 (format v1) have canonical bytes {``at``, ``kind``,
``payload``, ``seq``} and no private part: links verify the same way, replay refuses them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
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


def canonical_text(value: Any) -> str:
    """``canonical_json`` as text, for the JSON columns the NR writes (outbox payloads, lot serials)."""
    return canonical_json(value).decode("utf-8")


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


def entry_bytes_v1(seq: int, kind: str, at: str, payload: dict[str, Any]) -> bytes:
    """Format v1 (before migration 0005): the whole payload in the chained bytes. Kept to read old journals."""
    _check_no_floats(payload)
    return canonical_json({"at": at, "kind": kind, "payload": payload, "seq": seq})


def entry_bytes(seq: int, kind: str, at: str, public: dict[str, Any], private_hash: str) -> bytes:
    """Format v2: the chained bytes hold the public part and the hash of the private part.

    The public part is derived from a payload checked by ``private_bytes`` and from row images (no float
    columns are guarded: ``store/row_images``), so it is not walked again for floats here (hot path)."""
    return canonical_json({"at": at, "kind": kind, "private_hash": private_hash, "public": public, "seq": seq})


# Row images: {table: {row key: {column: value} or None (row absent)}}. A row key is the primary key's
# value as text, or the canonical JSON list of the values for a composite key.
RowImages = dict[str, dict[str, dict[str, Any] | None]]


def private_bytes(payload: dict[str, Any], rows: RowImages) -> bytes:
    """The private part: the full payload and the image of every ledger row written by the transaction.

    Floats are refused in the payload; row images cannot hold any (no guarded column is a float type)."""
    _check_no_floats(payload)
    return canonical_json({"payload": payload, "rows": rows})


def private_hash(private: bytes) -> str:
    return hashlib.sha256(private).hexdigest()


@functools.lru_cache(maxsize=65536)
def pseudonym(secret: bytes, account_id: str) -> str:
    """A stable public reference for an account: keyed HMAC with a registry secret (not reversible)."""
    return "acct_" + hmac.new(secret, account_id.encode(), hashlib.sha256).hexdigest()[:24]


# --- the public part -------------------------------------------------------------------------------------
# | what                                   | public                                      | private only          |
# |----------------------------------------|---------------------------------------------|-----------------------|
# | payload keys                           | PUBLIC_PAYLOAD_KEYS (ids, quantities,        | everything else:      |
# |                                        | issuance/retirement/cancellation/Article 6   | participants, names,  |
# |                                        | details, serials)                            | KYC, wallets, actors  |
# | rows of PUBLIC_TABLES                  | their columns minus personal / actor columns | all columns           |
# | account ids anywhere                   | pseudonym (HMAC)                             | the id                |
# | blocks                                 | supply effect per (project, vintage, state)  | every row image       |
PUBLIC_PAYLOAD_KEYS = frozenset({
    "txn_id", "quantity_kg", "issuance_id", "issuance", "project_id", "project", "vintage", "retirement_id",
    "certificate_id", "purpose", "claim_year", "beneficiary", "note", "cancellation_id", "status", "reason",
    "serials", "serial", "article6", "authorization_id", "lot_id", "chain_lot_id", "label", "reference", "year",
    "cutoff", "registry", "country", "chain_id", "code", "from", "to", "account_id", "counterparty_account_id",
    "consumed", "created", "export_id", "destination", "first_transferred_kg", "corresponding_adjustments",
    "buffer_kg", "number", "programme", "standard", "ca_id", "itmo_ids", "decision", "units", "holdings_kg",
    "holdings_sha256", "holdings_rows", "first_transfers", "actions", "version", "purposes", "max_quantity_kg",
})
PUBLIC_TABLES = frozenset({
    "projects", "project_registrations", "issuances", "retirements", "cancellations",
    "a6_authorizations", "a6_first_transfers", "a6_adjustments", "a6_actions", "a6_exports", "a6_labels",
})
_PRIVATE_NAMES = frozenset({"actor", "kyc_status", "wallet_address", "wallet", "evidence", "email", "license_number",
                            "license_kind", "key_hash", "name_of_holder"})
_PRIVATE_SUFFIXES = ("_key", "_key_id", "_by", "_by_key", "_by_name", "_holder")
_PSEUDONYMIZED_SUFFIXES = ("account_id", "participant_id")


_DROP, _PSEUDO, _KEEP = 0, 1, 2


@functools.lru_cache(maxsize=4096)
def _key_action(key: str) -> int:
    """What the public part does with a nested key: drop it (personal/actor), pseudonymize it, or keep it."""
    if key in _PRIVATE_NAMES or key.endswith(_PRIVATE_SUFFIXES) or (
            key.endswith("_name") and key != "beneficiary_name"):
        return _DROP
    return _PSEUDO if key.endswith(_PSEUDONYMIZED_SUFFIXES) else _KEEP


def _scrub(value: Any, secret: bytes) -> Any:
    """Nested values of public keys: personal and actor fields dropped, account/participant ids pseudonymized."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            action = _key_action(k)
            if action == _KEEP:
                out[k] = _scrub(v, secret) if isinstance(v, (dict, list)) else v
            elif action == _PSEUDO:
                out[k] = pseudonym(secret, v) if isinstance(v, str) else _scrub(v, secret)
        return out
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    return value


def _supply_effects(rows: RowImages, inserted: dict[str, set[str]]) -> list[list[Any]]:
    """Net change of leaf kg per (project, vintage, state) from the block images of one transaction."""
    delta: dict[tuple[str, int, str], int] = {}
    new = inserted.get("blocks", set())
    for key, image in rows.get("blocks", {}).items():
        if image is None:
            continue
        leaf, is_new = bool(image["is_leaf"]), key in new
        sign_ = 1 if (is_new and leaf) else -1 if (not is_new and not leaf) else 0
        if sign_:
            k = (str(image["project_id"]), int(image["vintage"]), str(image["state"]))
            delta[k] = delta.get(k, 0) + sign_ * int(image["quantity_kg"])
    return [[p, v, st, kg] for (p, v, st), kg in sorted(delta.items()) if kg]


# Lists of block views in a payload keep only these fields in public (the rest is in the block's own row).
_SLIM_BLOCK_VIEWS = {"created": ("id", "serial", "state", "quantity_kg", "account_id")}


def public_part(payload: dict[str, Any], rows: RowImages, inserted: dict[str, set[str]], secret: bytes) -> dict[str, Any]:
    """What anyone may read of an entry (see the table above): no name, KYC status, wallet or actor."""
    details = {k: _scrub(v, secret) for k, v in payload.items() if k in PUBLIC_PAYLOAD_KEYS}
    for k, fields in _SLIM_BLOCK_VIEWS.items():
        if isinstance(details.get(k), list):
            details[k] = [{f: v[f] for f in fields if f in v} if isinstance(v, dict) else v for v in details[k]]
    for k in ("account_id", "counterparty_account_id"):
        if isinstance(payload.get(k), str):
            details[k] = pseudonym(secret, payload[k])
    records = {table: {key: (None if image is None else _scrub(image, secret)) for key, image in images.items()}
               for table, images in rows.items() if table in PUBLIC_TABLES}
    accounts = sorted({pseudonym(secret, str(image["account_id"])) for image in rows.get("blocks", {}).values()
                       if image is not None and image.get("account_id")})
    return {"accounts": accounts, "details": details, "records": records, "supply": _supply_effects(rows, inserted)}


def parse_entry(entry: bytes) -> dict[str, Any]:
    value = json.loads(entry)
    assert isinstance(value, dict)
    return value


def entry_format(parsed: dict[str, Any]) -> int:
    return 2 if "private_hash" in parsed else 1


_PRIVATE_HASH_KEY = b'"private_hash":"'
_PAYLOAD_KEY = b'"payload":'


def private_hash_of(entry: bytes) -> str | None:
    """The ``private_hash`` of a format-v2 entry's canonical bytes without parsing them (replay's hot loop);
    None for a format-v1 entry. Top-level keys sort as at, kind, private_hash, public, seq, and a quote inside
    a JSON string is always escaped, so the first unescaped ``"private_hash":"`` is the top-level key unless a
    v1 ``"payload":`` object comes first."""
    at = entry.find(_PRIVATE_HASH_KEY)
    if at < 0:
        return None
    payload_at = entry.find(_PAYLOAD_KEY, 0, at)
    if payload_at >= 0:
        return None
    start = at + len(_PRIVATE_HASH_KEY)
    return entry[start:start + 64].decode("ascii")


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


StoredRow = tuple[bytes, bytes, bytes]  # (entry bytes, hash, prev_hash), hashes as ASCII hex bytes


def verify_stored(batches: Iterable[Iterable[StoredRow]], prev_hash: str,
                  first_seq: int) -> tuple[VerifyResult, int | None]:
    """Verify stored rows of consecutive positions from ``first_seq`` (in batches, as a cursor fetches them),
    whose predecessor's hash is ``prev_hash``; stop at the first bad link. Returns (result, first position whose
    stored ``prev_hash`` is not its predecessor's hash, or None): that column is a copy, checked on the same pass.

    Each link (hash n = SHA-256(hash n-1 || entry n)) depends only on two neighbouring rows, so ranges of the
    journal can be verified independently (in parallel) and joined. A row's position is its place in seq order:
    its bytes end in ``"seq":N}``, so a removed, moved or renumbered row is found without reading the seq
    column. This loop is the hot path of ``journal verify`` (one fetched tuple per entry, hashes kept as bytes).
    """
    prev = bytes.fromhex(prev_hash)
    prev_hex = prev_hash.encode()
    seq = first_seq
    bad_prev: int | None = None
    sha256 = hashlib.sha256
    for batch in batches:
        for entry, stored_hash, stored_prev in batch:
            digest = sha256(prev + entry).digest()
            digest_hex = hexlify(digest)
            if digest_hex != stored_hash or not entry.endswith(b'"seq":%d}' % seq):
                return _bad_link(seq, first_seq, entry, prev_hex, digest_hex == stored_hash), bad_prev
            if stored_prev != prev_hex and bad_prev is None:
                bad_prev = seq
            prev, prev_hex = digest, digest_hex
            seq += 1
    return VerifyResult(True, seq - first_seq, seq - 1, prev_hex.decode()), bad_prev


def _bad_link(seq: int, first_seq: int, entry: bytes, prev_hex: bytes, hash_ok: bool) -> VerifyResult:
    """Why the row at position ``seq`` breaks the chain (off the hot path)."""
    tail = entry.rsplit(b'"seq":', 1)[-1][:-1]
    own_seq = int(tail) if entry.endswith(b"}") and tail.isdigit() else None
    if own_seq is not None and own_seq > seq:
        reason = f"entry {seq} is missing (found {own_seq})"
    elif not hash_ok:
        reason = "hash does not match the entry's bytes"
    else:
        reason = "entry bytes belong to another position"
    return VerifyResult(False, seq - first_seq, seq - 1, prev_hex.decode(), seq, reason)


def verify_chain(rows: Iterable[tuple[int, bytes, str, str]]) -> VerifyResult:
    """Verify rows (seq, entry, prev_hash, hash; hashes as hex strings) in seq order from genesis."""
    materialized = [(entry, h.encode(), p.encode()) for _, entry, p, h in rows]
    result, bad_prev = verify_stored([materialized], GENESIS_HASH, 1)
    if bad_prev is not None and (result.ok or bad_prev < (result.first_bad_seq or bad_prev + 1)):
        return VerifyResult(False, bad_prev - 1, bad_prev - 1, materialized[bad_prev - 2][1].decode() if bad_prev > 1
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
