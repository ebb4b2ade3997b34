"""Registry-to-registry transfers (RULES.md 8xxx, I7): messages, states and rules, shaped like IETF SATP.

One commit point, at the origin. The origin locks the units (``in_transit`` in the holder's account)
and proposes; the destination checks and accepts; the origin commits (units ``exported``, with the
Article 6 first transfer and corresponding adjustment in the same transaction, as an export); the
destination then holds the units in suspense (``in_transit`` in the receiving account) until the
final message makes them ``held``. Nothing is reversed after the commit point. Every message is a
JWS signed by the sending registry and chained per transfer (sequence number, hash of the previous
message); the answer to a message is itself the next message of the chain.

| rule | code |
|---|---|
| the sender is a registered, approved peer (the JWS ``kid``) | 8001 UNKNOWN_PEER |
| the JWS verifies under the peer's registered public key; it is addressed to this registry | 8002 BAD_SIGNATURE |
| a message already received under (transfer id, message type) with other bytes | 8003 REPLAYED_MESSAGE |
| a message whose sequence or previous-message hash does not continue the transfer's chain | 8003 REPLAYED_MESSAGE |
| a message the transfer's state no longer admits (a stale abort after the commit, a late acceptance) | 8003 / 8005 |
| the proposed units are already live in this registry | 8004 UNIT_LIVE_ELSEWHERE |
| the destination did not accept before the deadline: the units return to the sender, once | 8005 TRANSFER_TIMEOUT |
| units found live in two registries by a reconciliation are frozen on the finding side | 8004 / 4006 |
| peers are registered by a registry_admin and approved by a registry_approver | 1002 / 3003 |
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Any

from sovcarbon.domain.errors import RegistryError

GENESIS_PREV_HASH = "0" * 64
PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT_S = 30
MAX_TIMEOUT_S = 3600


class MessageType(StrEnum):
    PROPOSE = "propose"  # origin -> destination: the units (serial ranges), the receiving account
    ACCEPT = "accept"  # destination -> origin: ready to receive (answer to PROPOSE)
    COMMIT = "commit"  # origin -> destination: the units left the origin (after its commit point)
    COMMIT_ACK = "commit_ack"  # destination: the units are in suspense here
    FINAL = "final"  # origin -> destination: release the suspense
    FINAL_ACK = "final_ack"  # destination: the units are held
    ABORT = "abort"  # origin -> destination, before the commit point only
    ABORT_ACK = "abort_ack"
    RETIREMENT_NOTICE = "retirement_notice"  # holder's registry -> origin: received units were retired there
    NOTICE_ACK = "notice_ack"
    STATUS = "status"  # a signed status query (outside every chain; answered, never stored)


# The answer each request message gets (the answer is the next message in the chain).
ANSWER: dict[MessageType, MessageType] = {
    MessageType.PROPOSE: MessageType.ACCEPT,
    MessageType.COMMIT: MessageType.COMMIT_ACK,
    MessageType.FINAL: MessageType.FINAL_ACK,
    MessageType.ABORT: MessageType.ABORT_ACK,
    MessageType.RETIREMENT_NOTICE: MessageType.NOTICE_ACK,
}


class OriginState(StrEnum):
    LOCKED = "locked"  # units in_transit at the origin, PROPOSE sent or to send
    COMMITTED = "committed"  # the commit point: units exported here; COMMIT sent or to send
    ACKNOWLEDGED = "acknowledged"  # the destination holds them in suspense; FINAL sent or to send
    COMPLETED = "completed"  # the destination released the suspense
    RETURNED = "returned"  # not accepted in time (8005) or refused: the units came back, once


class DestinationState(StrEnum):
    ACCEPTED = "accepted"  # ready to receive; nothing live here yet
    SUSPENSE = "suspense"  # committed at the origin: units in_transit in the receiving account
    COMPLETED = "completed"  # units held by the receiving account
    ABORTED = "aborted"  # the origin aborted before its commit point


# Which inbound message each destination-side state admits (None: no transfer yet).
DESTINATION_ADMITS: dict[MessageType, frozenset[str | None]] = {
    MessageType.PROPOSE: frozenset({None}),
    MessageType.COMMIT: frozenset({DestinationState.ACCEPTED}),
    MessageType.FINAL: frozenset({DestinationState.SUSPENSE}),
    MessageType.ABORT: frozenset({DestinationState.ACCEPTED}),
}

# Which answer each origin-side state admits.
ORIGIN_ADMITS: dict[MessageType, frozenset[str]] = {
    MessageType.ACCEPT: frozenset({OriginState.LOCKED}),
    MessageType.COMMIT_ACK: frozenset({OriginState.COMMITTED}),
    MessageType.FINAL_ACK: frozenset({OriginState.ACKNOWLEDGED}),
    MessageType.ABORT_ACK: frozenset({OriginState.RETURNED}),
}


def message_hash(jws_compact: str) -> str:
    """A message's identity in the chain: SHA-256 of its compact JWS bytes."""
    return hashlib.sha256(jws_compact.encode("ascii")).hexdigest()


def require_admitted(state: str | None, msg_type: MessageType, transfer_id: str) -> None:
    """A message the destination-side state does not admit is stale (8003), or late after an abort (8005)."""
    admitted = DESTINATION_ADMITS.get(msg_type)
    if admitted is None or state in admitted:
        return
    if msg_type == MessageType.ABORT and state in (DestinationState.SUSPENSE, DestinationState.COMPLETED):
        raise RegistryError(8003, "stale abort: the transfer was committed at the origin; nothing is reversed "
                                  "after the commit point", transfer_id=transfer_id, state=state)
    if state == DestinationState.ABORTED:
        raise RegistryError(8005, "the transfer was aborted (not accepted in time)", transfer_id=transfer_id)
    raise RegistryError(8003, f"message {msg_type} does not fit the transfer's state {state}",
                        transfer_id=transfer_id, state=state)


def require_next_in_chain(last: tuple[int, str] | None, seq: int, prev_hash: str, transfer_id: str) -> None:
    """Sequence and previous-message hash must continue the transfer's chain (reordered/forged: 8003)."""
    want_seq, want_prev = (1, GENESIS_PREV_HASH) if last is None else (last[0] + 1, last[1])
    if seq != want_seq or prev_hash != want_prev:
        raise RegistryError(8003, "the message does not continue this transfer's chain (reordered or replayed)",
                            transfer_id=transfer_id, expected_seq=want_seq, got_seq=seq)


def require_before_deadline(now: str, deadline_at: str, transfer_id: str) -> None:
    """ISO-8601 UTC strings of one format compare as text."""
    if now > deadline_at:
        raise RegistryError(8005, "the destination did not accept in time: the units return to the sender",
                            transfer_id=transfer_id, deadline_at=deadline_at)


def require_timeout_s(timeout_s: int) -> int:
    if isinstance(timeout_s, bool) or not 1 <= timeout_s <= MAX_TIMEOUT_S:
        raise RegistryError(1003, f"timeout_s must be 1-{MAX_TIMEOUT_S}", timeout_s=timeout_s)
    return timeout_s


def envelope(msg_type: MessageType, transfer_id: str, seq: int, prev_hash: str, sender: str, recipient: str,
             sent_at: str, body: dict[str, Any]) -> dict[str, Any]:
    """The signed payload of every message."""
    return {"v": PROTOCOL_VERSION, "type": str(msg_type), "transfer_id": transfer_id, "seq": seq,
            "prev_hash": prev_hash, "from": sender, "to": recipient, "sent_at": sent_at, "body": body}


REQUIRED_FIELDS = ("v", "type", "transfer_id", "seq", "prev_hash", "from", "to", "sent_at", "body")


def parse_envelope(payload: Any) -> dict[str, Any]:
    """A verified payload's shape; malformed is 1003 (the signature was good, so the sender is known)."""
    if not isinstance(payload, dict) or any(k not in payload for k in REQUIRED_FIELDS):
        raise RegistryError(1003, "peer message: missing fields", required=list(REQUIRED_FIELDS))
    if payload["v"] != PROTOCOL_VERSION:
        raise RegistryError(1003, "peer message: unsupported protocol version", version=payload["v"])
    try:
        MessageType(payload["type"])
    except ValueError:
        raise RegistryError(1003, "peer message: unknown type", type=str(payload["type"])[:40]) from None
    if (not isinstance(payload["transfer_id"], str) or not 1 <= len(payload["transfer_id"]) <= 40
            or not isinstance(payload["seq"], int) or isinstance(payload["seq"], bool) or payload["seq"] < 1
            or not isinstance(payload["prev_hash"], str) or len(payload["prev_hash"]) != 64
            or not isinstance(payload["body"], dict)):
        raise RegistryError(1003, "peer message: malformed transfer id, sequence, previous hash or body")
    return payload


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def live_in_both(mine: dict[str, list[tuple[int, int]]],
                 theirs: dict[str, list[tuple[int, int]]]) -> list[tuple[str, int, int]]:
    """I7: every kg range live in both registries, by serial prefix (the finding of a reconciliation)."""
    found: list[tuple[str, int, int]] = []
    for prefix, ranges in mine.items():
        for a in ranges:
            for b in theirs.get(prefix, []):
                hit = overlaps(a, b)
                if hit is not None:
                    found.append((prefix, hit[0], hit[1]))
    return sorted(found)


# --- the ITMO description a PROPOSE carries (what the acquiring Party's AEF reports) ------------------------------
ITMO_DESCRIPTION_KEYS = frozenset({"cooperative_approach_id", "authorization_id", "registry_id", "party", "gwp",
                                   "mitigation_types"})
_ITMO_PATTERNS = {"cooperative_approach_id": re.compile(r"^CA\d{4}$"), "registry_id": re.compile(r"^[A-Z]{3}\d{2}$"),
                  "party": re.compile(r"^[A-Z]{3}$")}


def valid_itmo_description(itmo: Any, serials: list[Any], sender_party: str) -> bool:
    """Five text fields and a mitigation type for every serial prefix of ``serials`` (parsed ranges), the ids in
    their published formats (6/CMA.4 annex I para 5), and the first transferring Party is the sender's own."""
    if not isinstance(itmo, dict) or set(itmo) != ITMO_DESCRIPTION_KEYS:
        return False
    types = itmo["mitigation_types"]
    if not isinstance(types, dict) or not {r.prefix for r in serials} <= set(types):
        return False
    texts = [v for k, v in itmo.items() if k != "mitigation_types"] + list(types.values())
    if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in texts):
        return False
    if not all(p.match(itmo[k]) for k, p in _ITMO_PATTERNS.items()):
        return False
    return bool(itmo["party"] == sender_party and itmo["registry_id"].startswith(sender_party))
