"""Signed checkpoints of the journal: what each one must satisfy, as pure checks.

| rule | reason reported |
|---|---|
| no signed checkpoint lies beyond the journal head | "journal head #H is behind signed checkpoint #S" (tail entries removed) |
| the entry at a checkpoint's seq has the signed head hash | "checkpoint head hash differs from the journal" |
| each checkpoint covers from the previous one's seq + 1 and chains to its head hash | "does not chain to the previous one" |
| the signature verifies under the registry's own (pinned) key | "signature does not verify under this registry's key" |
| the key recorded in the row is the registry's | "signed by a key that is not this registry's" |
| (deep) the Merkle root is that of the entry hashes it covers | "Merkle root differs from the journal" |

The signed message is ``journal.checkpoint_message``: a fixed, versioned structure (type
``sovcarbon.checkpoint.v1``, registry id, seq, from_seq, head hash, Merkle root, previous checkpoint's
head hash) in canonical JSON. Its SHA-256 is the checkpoint hash: the 32 bytes an anchor (a
transaction on a public chain, a newspaper, a peer registry) publishes so that a forger with the
database and even the key cannot later move the head back without contradicting a published value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sovcarbon.domain import journal as jr


def message_of(row: Mapping[str, Any], registry_id: str) -> bytes:
    return jr.checkpoint_message(int(row["seq"]), str(row["head_hash"]), str(row["merkle_root"]),
                                 int(row["from_seq"]), str(row["prev_checkpoint_hash"]), registry_id)


def checkpoint_hash(message: bytes) -> str:
    """SHA-256 of the signed message: what an anchor publishes."""
    return hashlib.sha256(message).hexdigest()


def with_checkpoint_hash(row: Mapping[str, Any], registry_id: str) -> dict[str, Any]:
    out = dict(row)
    out["checkpoint_hash"] = checkpoint_hash(message_of(row, registry_id))
    return out


@dataclass(frozen=True)
class CheckpointResult:
    ok: bool
    verified: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_checkpoints(checkpoints: Iterable[Mapping[str, Any]], *, head_seq: int,
                       journal_hash_at: Callable[[int], str | None], registry_id: str, public_key_hex: str,
                       merkle_root_of: Callable[[int, int], str] | None = None) -> CheckpointResult:
    """Check checkpoints (in seq order) against the journal and the registry's pinned public key.

    ``journal_hash_at(seq)`` returns the stored hash of entry ``seq`` (None when absent);
    ``merkle_root_of(from_seq, seq)``, when given, recomputes a root (``journal verify --deep``).
    """
    prev_seq, prev_head_hash = 0, jr.GENESIS_HASH
    verified = 0
    for cp in checkpoints:
        seq, from_seq = int(cp["seq"]), int(cp["from_seq"])
        if seq > head_seq:
            return CheckpointResult(False, verified, head_seq + 1,
                                    f"journal head #{head_seq} is behind signed checkpoint #{seq}: entries "
                                    f"{head_seq + 1}..{seq} were removed and the head moved back")
        problems = []
        if journal_hash_at(seq) != cp["head_hash"]:
            problems.append("checkpoint head hash differs from the journal")
        if cp["prev_checkpoint_hash"] != prev_head_hash or from_seq != prev_seq + 1:
            problems.append("checkpoint does not chain to the previous one")
        if not jr.verify_signature(public_key_hex, message_of(cp, registry_id), str(cp["signature"])):
            problems.append("signature does not verify under this registry's key")
        if cp["public_key"] != public_key_hex:
            problems.append("signed by a key that is not this registry's")
        if merkle_root_of is not None and merkle_root_of(from_seq, seq) != cp["merkle_root"]:
            problems.append("Merkle root differs from the journal")
        if problems:
            return CheckpointResult(False, verified, from_seq, f"checkpoint {seq}: " + "; ".join(problems))
        prev_seq, prev_head_hash = seq, str(cp["head_hash"])
        verified += 1
    return CheckpointResult(True, verified)


def invariant_check(snapshot: Any) -> list[Any]:
    """I5, checkpoint part, over an invariants snapshot (``extra["checkpoints"]`` set by its loader)."""
    from sovcarbon.domain.invariants import Violation

    facts = snapshot.extra.get("checkpoints")
    if facts is None:
        return []
    hashes = {seq: digest for seq, _, _, digest in snapshot.journal}
    head_seq = snapshot.journal_head[0] if snapshot.journal_head is not None else max(hashes, default=0)
    result = verify_checkpoints(facts["rows"], head_seq=head_seq, journal_hash_at=hashes.get,
                                registry_id=facts["registry_id"], public_key_hex=facts["public_key_hex"])
    return [] if result.ok else [Violation("I5", f"signed checkpoints: {result.reason}")]
