"""Peer key rotation against one real registry (HTTP app, SQLite and PostgreSQL): an admin registers the new key
a peer announced with its cutover, an approver approves it (four-eyes); messages signed with the old key are
accepted until the cutover and refused 8002 after it, the new key's from its approval; nothing is written by a
refusal. The "peer" is a real Ed25519 key signing real JWS with the same code (``test_peer_messages.FakePeer``)."""

from __future__ import annotations

from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_peer_messages import PEER, FakePeer, register
from world import Api, error_code, journal_seq, rejected

from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.ids import FixedClock, format_instant, new_id
from sovcarbon.store.signing import Ed25519FileSigner


def _status(peer: FakePeer, api: Api, signer: Ed25519FileSigner) -> int:
    """A signed status query (no state, no chain): 200 if the registry accepts the signature."""
    token = peer.message(pp.MessageType.STATUS, new_id("peer"), {"nonce": new_id("msg")}, seq=1,
                         prev_hash=pp.GENESIS_PREV_HASH, signer=signer)
    resp = api.client.post("/v1/peer/status", json={"jws": token})
    return 200 if resp.status_code == 200 else error_code(resp)


def test_old_key_until_the_cutover_then_8002_new_key_after_four_eyes(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    old = peer.signer
    new = Ed25519FileSigner(Ed25519PrivateKey.generate())
    clock = world.reg.store.clock
    assert isinstance(clock, FixedClock)
    cutover = format_instant(clock.now() + timedelta(hours=1))

    # Not yet registered: the new key is refused, the old one accepted.
    assert _status(peer, world, new) == 8002 and _status(peer, world, old) == 200

    # Registration: an admin; bad input refused and nothing written; the same person cannot approve.
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/peers/{PEER}/keys", "admin", {"public_key": new.public_key_hex,
                                                                     "cutover_at": "2020-01-01T00:00:00Z"}),
             1003, before)
    rejected(world, world.post(f"/v1/peers/{PEER}/keys", "admin", {"public_key": old.public_key_hex,
                                                                     "cutover_at": cutover}), 1003, before)
    rejected(world, world.post(f"/v1/peers/{PEER}/keys", "approver", {"public_key": new.public_key_hex,
                                                                        "cutover_at": cutover}), 1002, before)
    view = world.ok("POST", f"/v1/peers/{PEER}/keys", "admin", {"public_key": new.public_key_hex,
                                                                 "cutover_at": cutover})
    [key] = view["keys"]
    assert key["status"] == "pending_approval" and key["cutover_at"] == cutover
    assert _status(peer, world, new) == 8002  # pending: not accepted yet
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/peers/{PEER}/keys/{key['id']}/approval", "admin"), 3003, before)
    approved = world.ok("POST", f"/v1/peers/{PEER}/keys/{key['id']}/approval", "approver")
    assert approved["keys"][0]["status"] == "active"

    # Between approval and cutover both keys are accepted (messages in flight keep the old key).
    assert _status(peer, world, old) == 200 and _status(peer, world, new) == 200
    transfer_id = new_id("peer")
    notice = peer.message(pp.MessageType.RETIREMENT_NOTICE, transfer_id, {"serials": []}, signer=old)
    assert error_code(peer.send(world, notice)) == 1003  # the signature passed; the body is judged (empty)

    # After the cutover the old key is refused 8002 and writes nothing; the new key alone is accepted.
    clock.advance(timedelta(hours=1, seconds=1))
    before = journal_seq(world)
    assert _status(peer, world, old) == 8002
    token = peer.message(pp.MessageType.PROPOSE, new_id("peer"), {"serials": []}, signer=old)
    rejected(world, peer.send(world, token), 8002, before)
    assert _status(peer, world, new) == 200
    token = peer.message(pp.MessageType.PROPOSE, new_id("peer"), {"serials": []}, signer=new)
    assert error_code(peer.send(world, token)) == 1003  # accepted signature; the empty proposal is refused
    assert journal_seq(world) == before


def test_a_rejected_or_expired_key_is_never_accepted(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    clock = world.reg.store.clock
    assert isinstance(clock, FixedClock)
    rejected_key = Ed25519FileSigner(Ed25519PrivateKey.generate())
    cutover = format_instant(clock.now() + timedelta(minutes=5))
    view = world.ok("POST", f"/v1/peers/{PEER}/keys", "admin", {"public_key": rejected_key.public_key_hex,
                                                                 "cutover_at": cutover})
    key_id = view["keys"][0]["id"]
    assert world.ok("POST", f"/v1/peers/{PEER}/keys/{key_id}/rejection", "approver")["keys"][0]["status"] == \
        "rejected"
    assert _status(peer, world, rejected_key) == 8002
    clock.advance(timedelta(minutes=6))
    assert _status(peer, world, rejected_key) == 8002 and _status(peer, world, peer.signer) == 200
    # A key whose cutover passed before anyone approved it cannot be approved any more (1003).
    late = Ed25519FileSigner(Ed25519PrivateKey.generate())
    view = world.ok("POST", f"/v1/peers/{PEER}/keys", "admin", {"public_key": late.public_key_hex,
                                                                 "cutover_at": format_instant(
                                                                     clock.now() + timedelta(minutes=1))})
    late_id = next(k["id"] for k in view["keys"] if k["public_key"] == late.public_key_hex)
    clock.advance(timedelta(minutes=2))
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/peers/{PEER}/keys/{late_id}/approval", "approver"), 1003, before)
    assert _status(peer, world, late) == 8002
