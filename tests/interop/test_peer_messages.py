"""The peer message layer against one real registry (HTTP app, SQLite and PostgreSQL): four-eyes peer
registration, signed and chained messages, 8001 / 8002 / 8003 / 8004, idempotency by (transfer id, type),
a stale abort after the commit. The "peer" is a real Ed25519 key signing real JWS with the same code."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from world import Api, error_code, journal_seq, rejected

from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Role
from sovcarbon.peers import jws
from sovcarbon.store.signing import Ed25519FileSigner

PEER = "ID-NR"
FOREIGN_PREFIX = "TH-PTVER-00099-2025-001"  # an issuance this registry has never seen


class FakePeer:
    """Another registry's key and its side of a transfer's chain (what its interop service would sign)."""

    def __init__(self) -> None:
        self.signer = Ed25519FileSigner(Ed25519PrivateKey.generate())
        self.last: dict[str, tuple[int, str]] = {}

    def message(self, msg_type: pp.MessageType, transfer_id: str, body: dict[str, Any], *,
                seq: int | None = None, prev_hash: str | None = None, signer: Ed25519FileSigner | None = None,
                to: str = "TH-NR") -> str:
        last_seq, last_hash = self.last.get(transfer_id, (0, pp.GENESIS_PREV_HASH))
        payload = pp.envelope(msg_type, transfer_id, seq or last_seq + 1, prev_hash or last_hash, PEER, to,
                              "2026-01-01T00:00:00.000000Z", body)
        return jws.sign(signer or self.signer, PEER, payload)

    def send(self, api: Api, token: str) -> Any:
        return api.client.post("/v1/peer/messages", json={"jws": token})

    def exchange(self, api: Api, registry_key: str, token: str) -> dict[str, Any]:
        resp = self.send(api, token)
        assert resp.status_code == 200, resp.text
        answer = resp.json()["jws"]
        payload = jws.verify(answer, registry_key)  # the registry's answer is signed with its own key
        request = jws.verify(token, self.signer.public_key_hex)
        assert payload["prev_hash"] == pp.message_hash(token) and payload["seq"] == request["seq"] + 1
        self.last[payload["transfer_id"]] = (payload["seq"], pp.message_hash(answer))
        return payload


def register(api: Api, peer: FakePeer) -> None:
    api.ok("POST", "/v1/peers", "admin", {"id": PEER, "base_url": "http://127.0.0.1:9", "party_code": "IDN",
                                          "public_key": peer.signer.public_key_hex})
    api.ok("POST", f"/v1/peers/{PEER}/approval", "approver")


def propose_body(account_id: str, first_kg: int = 1, last_kg: int = 1000,
                 prefix: str = FOREIGN_PREFIX) -> dict[str, Any]:
    return {"account_id": account_id, "from_account_id": "acc_peer", "serials":
            [f"{prefix}-{first_kg:012d}-{last_kg:012d}"], "quantity_kg": last_kg - first_kg + 1,
            "issuances": {prefix: 5_000}, "purpose": "ndc", "entity": "Company", "deadline_at": "2999-01-01T00:00:00Z"}


def test_peer_registration_is_four_eyes_and_only_approved_peers_are_heard(world: Api) -> None:
    peer = FakePeer()
    body = {"id": PEER, "base_url": "http://127.0.0.1:9", "party_code": "IDN",
            "public_key": peer.signer.public_key_hex}
    before = journal_seq(world)
    rejected(world, world.post("/v1/peers", "company", body), 1002, before)
    world.ok("POST", "/v1/peers", "admin", body)
    token = peer.message(pp.MessageType.PROPOSE, new_id("peer"), propose_body(world.ids["company_acc"]))
    before = journal_seq(world)
    rejected(world, peer.send(world, token), 8001, before)  # registered, not yet approved
    rejected(world, world.post(f"/v1/peers/{PEER}/approval", "admin"), 3003, before)  # the requester
    world.key("admin2", Role.REGISTRY_ADMIN)
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/peers/{PEER}/approval", "admin2"), 1002, before)  # a second admin
    assert world.ok("POST", f"/v1/peers/{PEER}/approval", "approver")["status"] == "active"
    assert world.client.post("/v1/peer/messages", json={"jws": token}).status_code == 200


def test_unknown_peer_and_forged_signature_write_nothing(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    before = journal_seq(world)
    stranger = FakePeer()
    forged = stranger.message(pp.MessageType.PROPOSE, new_id("peer"), propose_body(world.ids["company_acc"]))
    rejected(world, stranger.send(world, forged), 8002, before)  # kid ID-NR, signed by another key
    unknown = jws.sign(stranger.signer, "XX-NR", pp.envelope(pp.MessageType.PROPOSE, new_id("peer"), 1,
                                                             pp.GENESIS_PREV_HASH, "XX-NR", "TH-NR", "t", {}))
    rejected(world, stranger.send(world, unknown), 8001, before)
    good = peer.message(pp.MessageType.PROPOSE, new_id("peer"), propose_body(world.ids["company_acc"]))
    head, payload, sig = good.split(".")
    tampered = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], sig])
    rejected(world, peer.send(world, tampered), 8002, before)
    misaddressed = peer.message(pp.MessageType.PROPOSE, new_id("peer"), propose_body(world.ids["company_acc"]),
                                to="MY-NR")
    rejected(world, peer.send(world, misaddressed), 8002, before)
    rejected(world, world.client.post("/v1/peer/messages", json={"jws": "not.a-valid.jws-token"}), 8002, before)


def test_transfer_in_replays_and_stale_abort(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    key = world.ok("GET", "/v1/peer/identity", None)["public_key"]
    tid = new_id("peer")
    propose = peer.message(pp.MessageType.PROPOSE, tid, propose_body(world.ids["company_acc"]))
    accept = peer.exchange(world, key, propose)
    assert accept["type"] == "accept" and accept["seq"] == 2
    # the same message again: the same answer, byte for byte, nothing written
    before = journal_seq(world)
    again = peer.send(world, propose)
    assert again.status_code == 200 and pp.message_hash(again.json()["jws"]) == peer.last[tid][1]
    assert journal_seq(world) == before
    # another PROPOSE under the same transfer id: 8003
    other = peer.message(pp.MessageType.PROPOSE, tid, propose_body(world.ids["company_acc"], 1, 999), seq=1,
                         prev_hash=pp.GENESIS_PREV_HASH)
    rejected(world, peer.send(world, other), 8003, before)
    # a COMMIT out of the chain (wrong previous hash, or a skipped sequence number): 8003
    rejected(world, peer.send(world, peer.message(pp.MessageType.COMMIT, tid, {}, prev_hash="1" * 64)), 8003, before)
    rejected(world, peer.send(world, peer.message(pp.MessageType.COMMIT, tid, {}, seq=5)), 8003, before)
    # a FINAL before the COMMIT does not fit the state: 8003
    rejected(world, peer.send(world, peer.message(pp.MessageType.FINAL, tid, {})), 8003, before)
    ack = peer.exchange(world, key, peer.message(pp.MessageType.COMMIT, tid, {"txn_id": "txn_x"}))
    assert ack["body"]["state"] == "suspense"
    held = world.ok("GET", f"/v1/accounts/{world.ids['company_acc']}/holdings", "company")
    assert held["totals_kg"].get("in_transit") == 1000 and held["free_kg"] == 0  # suspense: not spendable
    # a stale abort after the commit point: refused, nothing reversed
    before = journal_seq(world)
    rejected(world, peer.send(world, peer.message(pp.MessageType.ABORT, tid, {"code": 8005})), 8003, before)
    peer.exchange(world, key, peer.message(pp.MessageType.FINAL, tid, {}))
    held = world.ok("GET", f"/v1/accounts/{world.ids['company_acc']}/holdings", "company")
    assert held["free_kg"] == 1000
    leaves = world.ok("GET", f"/v1/peer/leaves/{FOREIGN_PREFIX}", None)
    assert leaves["mirror_of"] == PEER and leaves["issued_kg"] == 5_000
    assert [(a, b, s) for a, b, s, _f in leaves["leaves"]] == [(1, 1000, "held"), (1001, 5000, "exported")]
    transfer = world.ok("GET", f"/v1/peer-transfers/{tid}", "regulator")
    assert transfer["state"] == "completed" and len(transfer["messages"]) == 6


def test_units_live_here_are_refused_8004(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    before = journal_seq(world)
    body = propose_body(world.ids["company_acc"], 1, 1000, prefix=world.ids["prefix"])
    body["issuances"] = {world.ids["prefix"]: 10_000_000}
    resp = peer.send(world, peer.message(pp.MessageType.PROPOSE, new_id("peer"), body))
    rejected(world, resp, 8004, before)


def test_abort_before_commit_and_then_a_late_commit(world: Api) -> None:
    peer = FakePeer()
    register(world, peer)
    key = world.ok("GET", "/v1/peer/identity", None)["public_key"]
    tid = new_id("peer")
    peer.exchange(world, key, peer.message(pp.MessageType.PROPOSE, tid, propose_body(world.ids["company_acc"])))
    assert peer.exchange(world, key, peer.message(pp.MessageType.ABORT, tid, {"code": 8005}))["type"] == "abort_ack"
    before = journal_seq(world)
    resp = peer.send(world, peer.message(pp.MessageType.COMMIT, tid, {}))
    assert error_code(resp) in (8003, 8005)
    assert journal_seq(world) == before
    assert world.ok("GET", f"/v1/peer-transfers/{tid}", "regulator")["state"] == "aborted"


def test_a_transfer_to_an_unknown_or_unapproved_peer_is_8001_and_writes_nothing(world: Api) -> None:
    body = {"peer_id": PEER, "account_id": world.ids["foundation_acc"], "destination_account_id": "acc_x1",
            "entity": "Company", "quantity_kg": 1_000}
    before = journal_seq(world)
    rejected(world, world.post("/v1/peer-transfers", "proponent", body), 8001, before)
    peer = FakePeer()
    world.ok("POST", "/v1/peers", "admin", {"id": PEER, "base_url": "http://127.0.0.1:9", "party_code": "IDN",
                                            "public_key": peer.signer.public_key_hex})
    before = journal_seq(world)
    rejected(world, world.post("/v1/peer-transfers", "proponent", body), 8001, before)
    world.ok("POST", f"/v1/peers/{PEER}/approval", "approver")
    before = journal_seq(world)
    rejected(world, world.post("/v1/peer-transfers", "proponent", body), 6001, before)  # own units need an LoA
    rejected(world, world.post("/v1/peer-transfers", "company", body), 1002, before)  # not the holder's account


def test_an_itmo_description_malformed_or_of_another_party_is_refused_1003(world: Api) -> None:
    """The ITMO description a PROPOSE carries ends up in this Party's AEF (Acquisition rows): one that names a
    first transferring Party other than the sender's, or is malformed, is refused and writes nothing."""
    peer = FakePeer()
    register(world, peer)
    before = journal_seq(world)
    itmo = {"cooperative_approach_id": "CA0007", "authorization_id": "IDN-LOA-1", "registry_id": "IDN01",
            "party": "IDN", "gwp": "AR5", "mitigation_types": {FOREIGN_PREFIX: "Emission reductions"}}
    for bad in ({**itmo, "party": "THA", "registry_id": "THA01"}, {**itmo, "registry_id": "IDN1"},
                {**itmo, "extra": "x"}, {**itmo, "gwp": 5}, {**itmo, "mitigation_types": {"TH-X": "Removals"}},
                "CA0007"):
        token = peer.message(pp.MessageType.PROPOSE, new_id("peer"),
                             {**propose_body(world.ids["company_acc"]), "itmo": bad})
        rejected(world, peer.send(world, token), 1003, before)
    key = world.ok("GET", "/v1/peer/identity", None)["public_key"]
    good = peer.exchange(world, key, peer.message(
        pp.MessageType.PROPOSE, new_id("peer"), {**propose_body(world.ids["company_acc"]), "itmo": itmo}))
    assert good["type"] == "accept"
