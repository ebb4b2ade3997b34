"""Chain layer of sovcarbon: the Vyper carbon token, its compiler cache, the EVM backends
(persistent embedded py-evm or an external JSON-RPC node) and the typed adapter the bridge
calls. Nothing here knows about the registry's database; the bridge maps between the two.
"""

from sovcarbon.chain.adapter import (
    CHAIN_REJECTED,
    CarbonTokenChain,
    ChainEvent,
    ChainRejected,
    Deployment,
    Identity,
    LotInfo,
    SignedCall,
    TxResult,
    load_or_create_key,
    make_op_id,
    parse_revert,
)
from sovcarbon.chain.compiler import BytecodeMismatch, CompiledContract, compile_contract, load_contract
from sovcarbon.chain.node import Chain, ChainUnavailable, EmbeddedChain, ExternalChain, open_chain

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
