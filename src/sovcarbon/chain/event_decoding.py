"""Contract events decoded into ``ChainEvent`` records: one raw log at a time (never raising on a log a
holder shaped: undecodable data is reported in ``args``), or a block range in chain order, fetched in
bounded windows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from web3 import Web3

from sovcarbon.chain.abi import AbiEvent, lenient_text, normalize, to_hex, wire_type

MAX_LOG_RANGE_BLOCKS: int = 5_000


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract event. Fields that an event does not carry are None.

    `(tx_hash, log_index)` identifies the event on one chain; `Retired` and `Redeemed`
    also carry a contract-wide sequence number (`seq`).
    """

    name: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    lot_id: int | None = None
    amount_kg: int | None = None
    operator: str | None = None
    sender: str | None = None
    receiver: str | None = None
    holder: str | None = None
    pledgee: str | None = None
    intermediary: str | None = None
    beneficiary: str | None = None
    purpose: str | None = None
    claim_year: int | None = None
    nr_account: str | None = None
    seq: int | None = None
    op_id: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


# field of ChainEvent <- event argument name
_FIELD_ALIASES: Mapping[str, str] = {
    "id": "lot_id",
    "lot_id": "lot_id",
    "amount": "amount_kg",
    "immobilized_kg": "amount_kg",
    "added_kg": "amount_kg",
    "operator": "operator",
    "sender": "sender",
    "receiver": "receiver",
    "holder": "holder",
    "pledgee": "pledgee",
    "intermediary": "intermediary",
    "beneficiary": "beneficiary",
    "purpose": "purpose",
    "claim_year": "claim_year",
    "nr_account": "nr_account",
    "retirement_seq": "seq",
    "redemption_seq": "seq",
    "seq": "seq",
    "op_id": "op_id",
}


def get_events(w3: Web3, address: str, events_abi: Mapping[bytes, AbiEvent], from_block: int, to_block: int,
               names: Iterable[str] | None = None) -> list[ChainEvent]:
    """Decoded events of the contract in [from_block, to_block] (clamped to the head),
    in chain order. `names` restricts to those event names."""
    to_block = min(to_block, int(w3.eth.block_number))
    if to_block < from_block:
        return []
    topics: list[Any] = []
    if names is not None:
        wanted = {e.topic0 for e in events_abi.values() if e.name in set(names)}
        topics = [[to_hex(t) for t in wanted]]
    events: list[ChainEvent] = []
    start = from_block
    while start <= to_block:
        end = min(to_block, start + MAX_LOG_RANGE_BLOCKS - 1)
        params: dict[str, Any] = {"address": address, "fromBlock": start, "toBlock": end}
        if topics:
            params["topics"] = topics
        for log in w3.eth.get_logs(params):  # type: ignore[arg-type]
            decoded = decode_log(events_abi, address, log)
            if decoded is not None:
                events.append(decoded)
        start = end + 1
    events.sort(key=lambda e: (e.block_number, e.log_index))
    return events


def decode_log(events_abi: Mapping[bytes, AbiEvent], address: str, log: Mapping[str, Any]) -> ChainEvent | None:
    """Decode one raw log of this contract; None for a log we have no ABI for."""
    topics = [bytes(t) for t in log["topics"]]
    if not topics or to_checksum_address(log["address"]) != address:
        return None
    event = events_abi.get(topics[0])
    if event is None:
        return None
    args: dict[str, Any] = {}
    try:
        for (name, kind), topic in zip(event.indexed, topics[1:], strict=True):
            args[name] = normalize(kind, abi_decode([kind], topic)[0])
        if event.data:
            values = abi_decode([wire_type(k) for _, k in event.data], bytes(log["data"]))
            for (name, kind), value in zip(event.data, values, strict=True):
                if kind == "string":
                    args[name] = lenient_text(value)
                    args[f"{name}_hex"] = to_hex(value)  # the exact bytes the holder sent
                else:
                    args[name] = normalize(kind, value)
    except Exception as exc:  # noqa: BLE001 - a log we cannot decode is reported, never raised
        args["decode_error"] = lenient_text(repr(exc).encode())[:500]
        args["data_hex"] = to_hex(bytes(log["data"]))[:20_000]
    fields = {_FIELD_ALIASES[k]: v for k, v in args.items() if k in _FIELD_ALIASES}
    return ChainEvent(
        name=event.name,
        block_number=int(log["blockNumber"]),
        block_hash=to_hex(log["blockHash"]),
        tx_hash=to_hex(log["transactionHash"]),
        log_index=int(log["logIndex"]),
        args=args,
        **fields,
    )
