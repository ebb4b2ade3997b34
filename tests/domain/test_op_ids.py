"""One op-id derivation and one canonical JSON (issue #8): both pinned to the bytes they produced before they
were made one function each, so ids already used on chain and hashes of journal entries already written stay
what they were."""

from __future__ import annotations

import hashlib
import json

import pytest

from sovcarbon.chain import make_op_id
from sovcarbon.domain import journal
from sovcarbon.domain.chain_ops import BY_KIND, CompleteBurn, Mint, OpKind, SetIdentity, parse_op, payload_of
from sovcarbon.domain.op_ids import DVP_SCOPE, op_id, op_id_hex
from sovcarbon.services.settlement import chain_dvp_id


def test_op_ids_are_the_derivation_used_before() -> None:
    # the old inline derivations: services.tokens.op_id_for, chain.adapter.make_op_id, services.settlement
    outbox_id = "out_0190aabbccdd0123456789abcdef"
    assert op_id(outbox_id) == hashlib.sha256(b"sovcarbon-op:" + outbox_id.encode()).digest()
    assert op_id_hex(outbox_id) == "0xa49fba00afec0cb3fda31a4edc301545898bc4909731933389f29db85e6193d9"
    assert make_op_id(outbox_id) == op_id(outbox_id)  # the chain side uses the same function
    order_id = "dvp_0190aabbccdd0123456789abcdef"
    assert chain_dvp_id(order_id) == op_id_hex(order_id, scope=DVP_SCOPE)
    assert chain_dvp_id(order_id) == "0x64cad409ffb201ee5bfc2a062c46735354d13ce2f03679749eef34855b5fe197"
    assert op_id(outbox_id) != op_id(outbox_id, scope=DVP_SCOPE)  # scopes never collide


def test_journal_entries_hash_as_they_always_did() -> None:
    """A v1 and a v2 entry, their canonical bytes and chain hashes pinned: a change to the canonical JSON
    would make every existing journal fail to verify."""
    v1 = journal.entry_bytes_v1(1, "participant_created", "2026-06-15T00:00:00.000000Z",
                                {"id": "par_1", "name": "Thai Forest Foundation", "kind": "foundation",
                                 "qty_kg": 1000})
    assert v1 == (b'{"at":"2026-06-15T00:00:00.000000Z","kind":"participant_created","payload":{"id":"par_1",'
                  b'"kind":"foundation","name":"Thai Forest Foundation","qty_kg":1000},"seq":1}')
    h1 = journal.chain_hash(journal.GENESIS_HASH, v1)
    assert h1 == "e8c359c85a2697a41a91f0e3fb0be3037f3f12ea1f11148980b458d84ddc19e9"
    private = journal.private_hash(journal.private_bytes({"actor": "key_1", "quantity_kg": 2_500_000}, {}))
    assert private == "23b488453e0e6f4ce605288a65fb196919de9f4ea8ade5ce9def15c6b5b829e9"
    v2 = journal.entry_bytes(2, "issuance", "2026-06-15T00:00:00.000000Z",
                             {"quantity_kg": 2_500_000, "serial": "TH-TVER-00001-2025-001"}, private)
    assert journal.chain_hash(h1, v2) == "f76164986e2f905cf63431fcf09b116256e803d64e37633c292b22b2934097f2"
    assert journal.verify_chain([(1, v1, journal.GENESIS_HASH, h1),
                                 (2, v2, h1, journal.chain_hash(h1, v2))]).ok


def test_canonical_text_is_the_old_compact_payload_form() -> None:
    payload = {"to": "0xabc", "chain_lot_id": 7, "amount_kg": 1_000}
    assert journal.canonical_text(payload) == json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert journal.canonical_text({"b": "ä", "a": 1}) == '{"a":1,"b":"ä"}'  # UTF-8, not \\u escapes
    with pytest.raises(TypeError):
        journal.canonical_text({"at": object()})  # nothing is stringified behind the caller's back


def test_every_outbox_operation_reads_back_from_its_stored_form() -> None:
    ops = [Mint(chain_lot_id=3, to="0xabc", amount_kg=500), SetIdentity("0xabc", True, "0xdef"),
           CompleteBurn(kind="retire", seq=4, chain_lot_id=3)]
    for op in ops:
        stored = journal.canonical_text(payload_of(op))
        assert parse_op(str(op.OP), json.loads(stored)) == op
    # rows written before the types existed: the same kind strings and payload keys
    assert parse_op("complete_burn", {"kind": "redeem", "seq": 9, "chain_lot_id": 2}) == CompleteBurn("redeem", 9, 2)
    assert set(BY_KIND) == set(OpKind)
    with pytest.raises(ValueError):
        parse_op("mint_twice", {})
    with pytest.raises(ValueError):
        parse_op("mint", {"chain_lot_id": 3})
