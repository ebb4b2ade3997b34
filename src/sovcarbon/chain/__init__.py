"""Chain layer of sovcarbon: the Vyper carbon token, its compiler cache, the EVM backends
(persistent embedded py-evm or an external JSON-RPC node) and the typed contract clients the bridge
calls (``token``, ``settlement``; built on ``transactions``, ``abi`` and ``event_decoding``). Nothing here
knows about the registry's database; the bridge maps between the two.
"""

from sovcarbon.chain.abi import CHAIN_REJECTED, ChainRejected, parse_revert
from sovcarbon.chain.compiler import BytecodeMismatch, CompiledContract, compile_contract, load_contract
from sovcarbon.chain.event_decoding import ChainEvent
from sovcarbon.chain.node import Chain, ChainUnavailable, EmbeddedChain, ExternalChain, open_chain
from sovcarbon.chain.token import CarbonTokenChain, Deployment, Identity, LotInfo
from sovcarbon.chain.transactions import SignedCall, TxResult, load_or_create_key
from sovcarbon.domain.op_ids import op_id as make_op_id  # the one derivation (domain.op_ids), by its chain-side name

__all__ = [
    "CHAIN_REJECTED",
    "BytecodeMismatch",
    "CarbonTokenChain",
    "Chain",
    "ChainEvent",
    "ChainRejected",
    "ChainUnavailable",
    "CompiledContract",
    "Deployment",
    "EmbeddedChain",
    "ExternalChain",
    "Identity",
    "LotInfo",
    "SignedCall",
    "TxResult",
    "compile_contract",
    "load_contract",
    "load_or_create_key",
    "make_op_id",
    "open_chain",
    "parse_revert",
]
