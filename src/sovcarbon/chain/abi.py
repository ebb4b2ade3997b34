"""ABI plumbing shared by our contract clients: indexing a compiled ABI into function selectors and event
topics, value normalization, the explicit gas table, and revert strings mapped to ``ChainRejected(code,
reason)`` (RULES.md codes; 7002 CHAIN_REJECTED when a revert carries none)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

CHAIN_REJECTED: int = 7002
DEPLOY_GAS: int = 6_000_000
# Explicit gas limits (estimating on every call costs ~4x the throughput). Each is about
# twice the worst case measured in tests/chain; unused gas is not charged.
GAS_LIMITS: Mapping[str, int] = {
    "open_lot": 150_000,
    "increase_lot": 120_000,
    "mint": 250_000,
    "set_identity": 150_000,
    "set_intermediary": 120_000,
    "freeze_address": 120_000,
    "unfreeze_address": 120_000,
    "freeze_lot": 120_000,
    "unfreeze_lot": 120_000,
    "forced_transfer": 250_000,
    "transfer": 200_000,
    "safeTransferFrom": 250_000,
    "setApprovalForAll": 100_000,
    "retire": 450_000,
    "redeem": 350_000,
    "complete_burn": 150_000,
    "return_burn": 150_000,
    "pledge": 200_000,
    "release_pledge": 120_000,
    "enforce_pledge": 250_000,
    "propose_role": 120_000,
    "accept_role": 120_000,
    "cancel_role": 80_000,
    "revoke_agent": 80_000,
}
DEFAULT_GAS_LIMIT: int = 300_000
_REVERT_CODE = re.compile(r"(?<!\d)(\d{4}):\s*([^'\"\n]*)")


class ChainRejected(Exception):
    """The chain refused a transaction. `code` is the RULES.md code from the revert string
    (7002 CHAIN_REJECTED when the revert carried none)."""

    def __init__(self, code: int, reason: str, tx_hash: str | None = None) -> None:
        super().__init__(f"{code}:{reason}")
        self.code = code
        self.reason = reason
        self.tx_hash = tx_hash


def parse_revert(message: str) -> tuple[int, str]:
    """(code, reason) from any node's revert message; code 7002 if it carries none."""
    match = _REVERT_CODE.search(message)
    if match is None:
        return CHAIN_REJECTED, message.strip() or "reverted"
    return int(match.group(1)), match.group(2).strip()


def to_hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


@dataclass(frozen=True)
class AbiFunction:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]


@dataclass(frozen=True)
class AbiEvent:
    name: str
    topic0: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


def index_abi(abi: Sequence[Mapping[str, Any]]) -> tuple[dict[str, AbiFunction], dict[bytes, AbiEvent]]:
    functions: dict[str, AbiFunction] = {}
    events: dict[bytes, AbiEvent] = {}
    for item in abi:
        if item.get("type") == "function":
            inputs = tuple(_canonical_type(p) for p in item["inputs"])
            signature = f"{item['name']}({','.join(inputs)})"
            functions[item["name"]] = AbiFunction(
                name=item["name"],
                selector=keccak(text=signature)[:4],
                input_types=inputs,
                output_types=tuple(_canonical_type(p) for p in item.get("outputs", [])),
            )
        elif item.get("type") == "event":
            types = [_canonical_type(p) for p in item["inputs"]]
            topic0 = keccak(text=f"{item['name']}({','.join(types)})")
            events[topic0] = AbiEvent(
                name=item["name"],
                topic0=topic0,
                indexed=tuple((p["name"], _canonical_type(p)) for p in item["inputs"] if p["indexed"]),
                data=tuple((p["name"], _canonical_type(p)) for p in item["inputs"] if not p["indexed"]),
            )
    return functions, events


def normalize(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("bytes"):
        return to_hex(value)
    return value


def lenient_text(raw: bytes) -> str:
    """Text a holder put on chain, safe for any store: invalid UTF-8 and NUL/control characters become
    U+FFFD (PostgreSQL refuses NUL in text; a decoder must never raise on what a holder sent)."""
    text = bytes(raw).decode("utf-8", errors="replace")
    return "".join("\ufffd" if (ord(ch) < 32 and ch not in "\t\n\r") or ord(ch) == 127 else ch for ch in text)


def utf8(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def wire_type(kind: str) -> str:
    # `string` and `bytes` have the same ABI encoding: decode strings as bytes, then leniently
    return "bytes" if kind == "string" else kind


def call_data(fn: AbiFunction, args: Sequence[Any]) -> bytes:
    """The calldata of ``fn(*args)``: its selector and the ABI-encoded arguments."""
    return fn.selector + abi_encode(list(fn.input_types), list(args))


def call_view(w3: Any, address: str, fn: AbiFunction, args: Sequence[Any],
              block: int | str = "latest") -> tuple[Any, ...]:
    """eth_call a view of the contract at ``address``; the decoded outputs, or ChainRejected with the revert's
    RULES.md code (node-specific revert exception types are read by their message)."""
    try:
        raw = w3.eth.call({"to": address, "data": to_hex(call_data(fn, args))}, block)
    except Exception as exc:  # node-specific revert exception types
        code, reason = parse_revert(str(exc))
        raise ChainRejected(code, reason) from exc
    return tuple(abi_decode(list(fn.output_types), bytes(raw)))
