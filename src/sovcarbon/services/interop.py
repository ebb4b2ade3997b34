"""Cross-border transfers between two registries of record (``domain.peer_protocol`` has the rules table).

Use cases, each state change in one unit of work:

* peers: an admin registers a peer registry (id, base URL, public key, Party); an approver approves it
  (four-eyes). Only approved peers' messages are read (8001).
* origin: ``start`` locks the units and writes the signed PROPOSE; ``drive`` sends the transfer's next
  message and records the answer, until the transfer is completed or returned. The commit point is the
  unit of work that records the ACCEPT: the units become ``exported`` through the export code path
  (``services.article6_export.export``: first transfer + corresponding adjustment in the same
  transaction) or, for units this registry received from a peer, move to ``exported`` directly.
* destination: ``receive`` verifies a message, checks its place in the transfer's chain, applies it and
  answers with the next signed message, all in one unit of work; the same message again gets the same
  stored answer, another message under the same (transfer id, type) is 8003.
* recovery: ``sync`` drives every open transfer (resending stored messages byte for byte), returns
  the units of a transfer the destination did not accept in time (8005), and resolves a destination's
  in-doubt ``accepted`` transfer by asking the origin's status.
* reconciliation (I7): live ranges of every shared serial prefix are compared with the peer's; kilograms
  live in both are frozen here (4006) and reported as 8004.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from sovcarbon.domain import article6 as a6rules
from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.access import require_controls, require_four_eyes, require_role
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, carve
from sovcarbon.domain.ids import format_instant, new_id, parse_instant
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import AccountKind, Actor, Block, BlockState, Role
from sovcarbon.domain.serials import SerialRange, format_serial, parse_serial
from sovcarbon.peers import client, jws
from sovcarbon.peers.faults import fault
from sovcarbon.services import aef_tables, article6_export, article6_first_transfer
from sovcarbon.services import article6 as a6s
from sovcarbon.services.article6_requests import Destination, ExportIn
from sovcarbon.services.movements import record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import Id, Kg, Serial
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import peer_tables as pt
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

ABROAD_ACCOUNT_SETTING = "peer_abroad_account_id"
LIVE_STATES = (BlockState.HELD, BlockState.IMMOBILIZED, BlockState.PLEDGED, BlockState.IN_TRANSIT)


# --- requests ---------------------------------------------------------------------------------------------------
class PeerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=2, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")
    base_url: str = Field(min_length=8, max_length=300, pattern=r"^https?://[^\s]+$")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="the peer registry's Ed25519 key, raw, hex")
    party_code: str = Field(pattern=r"^[A-Z]{3}$")
    tls_ca: str | None = Field(None, min_length=64, max_length=20_000,
                               description="PEM certificate (the peer's CA, or its self-signed one) its https "
                                           "endpoint is verified against, instead of the system's trust store")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$",
                                description="the peer's ISO 3166-1 alpha-2 country: uses of units authorized for its "
                                            "Party by its companies here (e.g. tokens retired on chain) are notified")


class PeerKeyIn(BaseModel):
    """A peer's new public key (its announced key rotation), accepted beside the old key until ``cutover_at``,
    alone from then on."""
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="the peer registry's new Ed25519 key, raw, hex")
    cutover_at: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$",
                            description="UTC instant from which only the new key is accepted (8002 for the old)")


class PeerTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    peer_id: str = Field(min_length=2, max_length=40)
    account_id: Id
    destination_account_id: str = Field(min_length=3, max_length=40)
    entity: str = Field(min_length=1, max_length=200, description="the acquiring entity at the destination")
    authorization_id: Id | None = Field(None, description="the LoA, for this registry's own units (first transfer)")
    purpose: str = Field("ndc", pattern=r"^(ndc|oimp)$")
    quantity_kg: Kg | None = None
    serials: list[Serial] | None = Field(None, max_length=100)
    timeout_s: int = Field(pp.DEFAULT_TIMEOUT_S, ge=1, le=pp.MAX_TIMEOUT_S)


# --- identity and peers -----------------------------------------------------------------------------------------
def my_id(reg: Registry) -> str:
    return reg.store.registry_id


def identity(reg: Registry) -> dict[str, Any]:
    return {"registry_id": my_id(reg), "public_key": reg.store.public_key_hex, "party_code": reg.profile.party_code,
            "country": reg.profile.country, "registry_name": reg.profile.registry_name, "algorithm": jws.ALG}


def _peer_view(r: Any) -> dict[str, Any]:
    return {**{k: r[k] for k in ("id", "base_url", "public_key", "party_code", "country", "status",
                                 "requested_by_key", "decided_by_key", "created_at", "decided_at")},
            "tls_ca": r["tls_ca"] is not None}


def request_peer(reg: Registry, uow: UnitOfWork, actor: Actor, req: PeerIn) -> dict[str, Any]:
    require_role(actor, {Role.REGISTRY_ADMIN}, "register a peer registry")
    if req.id == my_id(reg):
        raise RegistryError(1003, "a registry is not its own peer", peer_id=req.id)
    if uow.conn.execute(select(pt.peers.c.id).where(pt.peers.c.id == req.id)).first() is not None:
        raise RegistryError(1003, "this peer is already registered", peer_id=req.id)
    if req.tls_ca is not None:
        if not req.base_url.startswith("https://"):
            raise RegistryError(1003, "a TLS certificate is for an https base URL", peer_id=req.id)
        try:
            client.tls_context(req.tls_ca)
        except ValueError:
            raise RegistryError(1003, "tls_ca is not a PEM certificate", peer_id=req.id) from None
    uow.repo.insert(pt.peers, id=req.id, base_url=req.base_url.rstrip("/"), public_key=req.public_key,
                    party_code=req.party_code, status="pending_approval", requested_by_key=actor.key_id,
                    requested_by_name=actor.name, decided_by_key=None, created_at=uow.now, decided_at=None,
                    country=req.country, tls_ca=req.tls_ca)
    uow.append("peer_requested", {"actor": actor.key_id, "peer_id": req.id, "base_url": req.base_url,
                                  "public_key": req.public_key, "party_code": req.party_code, "country": req.country,
                                  "tls_ca": req.tls_ca})
    return peer(uow, req.id)


def decide_peer(reg: Registry, uow: UnitOfWork, actor: Actor, peer_id: str, approve: bool) -> dict[str, Any]:
    row = uow.repo.one(pt.peers, peer_id, "peer")
    require_four_eyes(actor, row["requested_by_key"], row["requested_by_name"], "decide on a peer registry")
    if row["status"] != "pending_approval":
        raise RegistryError(3002, f"peer {peer_id} is {row['status']}, not pending approval", peer_id=peer_id)
    status = "active" if approve else "rejected"
    uow.repo.update(pt.peers, [pt.peers.c.id == peer_id], status=status, decided_by_key=actor.key_id,
                    decided_at=uow.now)
    uow.append("peer_approved" if approve else "peer_rejected", {"actor": actor.key_id, "peer_id": peer_id})
    return peer(uow, peer_id)


def peer(uow: UnitOfWork, peer_id: str) -> dict[str, Any]:
    view = _peer_view(uow.repo.one(pt.peers, peer_id, "peer"))
    k = pt.peer_keys.c
    view["keys"] = [dict(r) for r in uow.conn.execute(select(pt.peer_keys).where(k.peer_id == peer_id)
                                                      .order_by(k.cutover_at, k.id)).mappings()]
    return view


# --- peer key rotation (four-eyes; the old key is accepted until the cutover, then 8002) -------------------------
def request_peer_key(reg: Registry, uow: UnitOfWork, actor: Actor, peer_id: str, req: PeerKeyIn) -> dict[str, Any]:
    require_role(actor, {Role.REGISTRY_ADMIN}, "register a peer registry's new key")
    row = uow.repo.one(pt.peers, peer_id, "peer")
    if row["status"] != "active":
        raise RegistryError(3002, f"peer {peer_id} is {row['status']}: approve it before rotating its key",
                            peer_id=peer_id)
    try:
        cutover = format_instant(parse_instant(req.cutover_at))
    except ValueError:
        raise RegistryError(1003, "cutover_at is not a valid UTC instant", cutover_at=req.cutover_at) from None
    if cutover <= uow.now:
        raise RegistryError(1003, "the cutover must lie in the future (messages in flight keep the old key until "
                                  "then)", cutover_at=cutover, now=uow.now)
    if req.public_key in peer_keys_now(uow, row) or req.public_key == row["public_key"]:
        raise RegistryError(1003, "this key is already registered for the peer", peer_id=peer_id)
    key_id = new_id("pkey")
    uow.repo.insert(pt.peer_keys, id=key_id, peer_id=peer_id, public_key=req.public_key, cutover_at=cutover,
                    status="pending_approval", requested_by_key=actor.key_id, requested_by_name=actor.name,
                    decided_by_key=None, created_at=uow.now, decided_at=None)
    uow.append("peer_key_requested", {"actor": actor.key_id, "peer_id": peer_id, "key_id": key_id,
                                      "public_key": req.public_key, "cutover_at": cutover})
    return peer(uow, peer_id)


def decide_peer_key(reg: Registry, uow: UnitOfWork, actor: Actor, peer_id: str, key_id: str,
                    approve: bool) -> dict[str, Any]:
    row = uow.repo.one(pt.peer_keys, key_id, "peer key")
    if row["peer_id"] != peer_id:
        raise RegistryError(1005, "no such key for this peer", peer_id=peer_id, key_id=key_id)
    require_four_eyes(actor, row["requested_by_key"], row["requested_by_name"], "decide on a peer registry's key")
    if row["status"] != "pending_approval":
        raise RegistryError(3002, f"key {key_id} is {row['status']}, not pending approval", key_id=key_id)
    if approve and row["cutover_at"] <= uow.now:
        raise RegistryError(1003, "the cutover has passed: register the key again with a later cutover",
                            key_id=key_id, cutover_at=row["cutover_at"])
    status = "active" if approve else "rejected"
    uow.repo.update(pt.peer_keys, [pt.peer_keys.c.id == key_id], status=status, decided_by_key=actor.key_id,
                    decided_at=uow.now)
    uow.append("peer_key_approved" if approve else "peer_key_rejected",
               {"actor": actor.key_id, "peer_id": peer_id, "key_id": key_id})
    return peer(uow, peer_id)


def peer_keys_now(uow: UnitOfWork, peer_row: Any) -> list[str]:
    """The keys a peer's messages may be signed with now: its current key (the registered one, or the newest
    approved key whose cutover has passed) and every approved key whose cutover is still ahead."""
    k = pt.peer_keys.c
    approved = uow.conn.execute(select(k.public_key, k.cutover_at).where(
        k.peer_id == peer_row["id"], k.status == "active").order_by(k.cutover_at, k.id)).all()
    passed = [str(key) for key, cutover in approved if str(cutover) <= uow.now]
    current = passed[-1] if passed else str(peer_row["public_key"])
    return [current, *(str(key) for key, cutover in approved if str(cutover) > uow.now)]


def list_peers(uow: UnitOfWork) -> dict[str, Any]:
    rows = uow.conn.execute(select(pt.peers).order_by(pt.peers.c.id)).mappings()
    return {"data": [_peer_view(r) for r in rows]}


def active_peer(uow: UnitOfWork, peer_id: str) -> Any:
    row = uow.conn.execute(select(pt.peers).where(pt.peers.c.id == peer_id)).mappings().first()
    if row is None or row["status"] != "active":
        raise RegistryError(8001, "unknown peer registry (not registered, or not approved)", peer_id=peer_id[:40])
    return row


# --- messages ---------------------------------------------------------------------------------------------------
def _last_message(uow: UnitOfWork, transfer_id: str) -> tuple[int, str] | None:
    m = pt.peer_messages.c
    row = uow.conn.execute(select(m.seq, m.hash).where(m.transfer_id == transfer_id)
                           .order_by(m.seq.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), str(row[1]))


def _message(uow: UnitOfWork, transfer_id: str, msg_type: pp.MessageType) -> Any:
    m = pt.peer_messages.c
    return uow.conn.execute(select(pt.peer_messages).where(m.transfer_id == transfer_id,
                                                           m.msg_type == str(msg_type))).mappings().first()


def _store(uow: UnitOfWork, payload: dict[str, Any], token: str, direction: str) -> str:
    digest = pp.message_hash(token)
    uow.repo.insert(pt.peer_messages, transfer_id=payload["transfer_id"], msg_type=payload["type"],
                    direction=direction, seq=payload["seq"], prev_hash=payload["prev_hash"], hash=digest, jws=token,
                    created_at=uow.now)
    return digest


def emit(reg: Registry, uow: UnitOfWork, peer_id: str, msg_type: pp.MessageType, transfer_id: str,
          body: dict[str, Any], *, chained: bool = True) -> str:
    """Sign and store the next message of the transfer's chain (sent after the commit)."""
    last = _last_message(uow, transfer_id)
    seq, prev = (1, pp.GENESIS_PREV_HASH) if last is None else (last[0] + 1, last[1])
    payload = pp.envelope(msg_type, transfer_id, seq, prev, my_id(reg), peer_id, uow.now, body)
    token = jws.sign(reg.store.signer, my_id(reg), payload)
    _store(uow, payload, token, "out")
    return token


def verified(uow: UnitOfWork, token: Any) -> tuple[Any, dict[str, Any]]:
    kid = jws.header_kid(token)
    peer_row = active_peer(uow, kid)
    payload = pp.parse_envelope(jws.verify_any(token, peer_keys_now(uow, peer_row)))
    if payload["from"] != kid:
        raise RegistryError(8002, "the message's sender differs from its signing key's registry")
    return peer_row, payload


# --- destination side -------------------------------------------------------------------------------------------
def receive(reg: Registry, token: Any) -> str:
    """Verify, apply and answer one inbound message (one unit of work); the answer is a signed JWS."""
    fault("delay_accept")  # tests: a destination that answers late (before it decides anything)
    with reg.store.write() as uow:
        peer_row, payload = verified(uow, token)
        if payload["to"] != my_id(reg):
            raise RegistryError(8002, "the message is addressed to another registry", to=str(payload["to"])[:40])
        msg_type = pp.MessageType(payload["type"])
        if msg_type not in pp.ANSWER:
            raise RegistryError(1003, f"{msg_type} is an answer, not a request")
        transfer_id = payload["transfer_id"]
        seen = _message(uow, transfer_id, msg_type)
        if seen is not None:
            if seen["hash"] != pp.message_hash(token) or seen["direction"] != "in":
                raise RegistryError(8003, "another message was already received under this transfer id and type",
                                    transfer_id=transfer_id, type=str(msg_type))
            answer = _message(uow, transfer_id, pp.ANSWER[msg_type])
            assert answer is not None, "an inbound request is stored with its answer"
            return str(answer["jws"])
        row = _transfer_row(uow, transfer_id)
        if row is not None and (row["side"] != "destination" or row["peer_id"] != peer_row["id"]):
            raise RegistryError(8003, "this transfer id belongs to another exchange", transfer_id=transfer_id)
        if msg_type != pp.MessageType.ABORT:  # an abort may follow an ACCEPT its sender never saw
            pp.require_next_in_chain(_last_message(uow, transfer_id), payload["seq"], payload["prev_hash"],
                                     transfer_id)
        if msg_type != pp.MessageType.RETIREMENT_NOTICE:
            pp.require_admitted(None if row is None else row["state"], msg_type, transfer_id)
        body = _apply(reg, uow, peer_row, msg_type, payload, row)
        _store(uow, payload, token, "in")
        answer_token = emit(reg, uow, peer_row["id"], pp.ANSWER[msg_type], transfer_id, body)
    if msg_type == pp.MessageType.COMMIT:
        fault("before_commit_ack")
    if msg_type == pp.MessageType.FINAL:
        fault("before_final_ack")
    return answer_token


def _transfer_row(uow: UnitOfWork, transfer_id: str) -> Any:
    return uow.conn.execute(select(pt.peer_transfers).where(pt.peer_transfers.c.id == transfer_id)).mappings().first()


def _ranges(serials: list[str]) -> list[SerialRange]:
    try:
        return [parse_serial(s) for s in serials]
    except RegistryError:
        raise RegistryError(1003, "peer message: malformed serial range") from None


def _live_here(uow: UnitOfWork, rng: SerialRange) -> list[Block]:
    return [b for b in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)
            if b.state != BlockState.EXPORTED]


def _apply(reg: Registry, uow: UnitOfWork, peer_row: Any, msg_type: pp.MessageType, payload: dict[str, Any],
           row: Any) -> dict[str, Any]:
    body = payload["body"]
    transfer_id = payload["transfer_id"]
    if msg_type == pp.MessageType.PROPOSE:
        return _accept(reg, uow, peer_row, transfer_id, body)
    assert row is not None or msg_type == pp.MessageType.RETIREMENT_NOTICE
    if msg_type == pp.MessageType.COMMIT:
        return _to_suspense(reg, uow, peer_row, row)
    if msg_type == pp.MessageType.FINAL:
        return _release(uow, peer_row, row)
    if msg_type == pp.MessageType.ABORT:
        _set_state(uow, transfer_id, pp.DestinationState.ABORTED)
        uow.append("peer_transfer_aborted", {"actor": f"peer:{peer_row['id']}", "transfer_id": transfer_id})
        return {"state": str(pp.DestinationState.ABORTED)}
    if body.get("kind") == "entity_use":
        return _entity_use(reg, uow, peer_row, transfer_id, body)
    return _use_abroad(reg, uow, peer_row, transfer_id, body)


def _accept(reg: Registry, uow: UnitOfWork, peer_row: Any, transfer_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body.get("serials"), list) or not body["serials"] or not isinstance(body.get("issuances"), dict):
        raise RegistryError(1003, "PROPOSE names serials and their issuances")
    ranges = _ranges(body["serials"])
    account = uow.repo.account(str(body.get("account_id", ""))[:40])
    require_active(account, "receiving")
    if account.kind != AccountKind.HOLDING:
        raise RegistryError(1003, "units from abroad go to a holding account", account_id=account.id)
    for rng in ranges:
        if reg.profile.standard_by_serial_code(rng.prefix.split("-")[1]) is None:
            raise RegistryError(5002, "this registry does not record units of that standard", serial=str(rng))
        issued = body["issuances"].get(rng.prefix)
        if isinstance(issued, bool) or not isinstance(issued, int) or not 1 <= rng.last_kg <= issued:
            raise RegistryError(1003, "PROPOSE: each serial prefix needs its issued kg", serial=str(rng))
        live = _live_here(uow, rng)
        if live:
            raise RegistryError(8004, "these units are already live in this registry", serial=str(rng),
                                state=str(live[0].state))
    quantity_kg = sum(r.quantity_kg for r in ranges)
    if quantity_kg != body.get("quantity_kg"):
        raise RegistryError(1003, "PROPOSE: quantity_kg differs from the serials")
    itmo = body.get("itmo")
    if itmo is not None and not pp.valid_itmo_description(itmo, ranges, peer_row["party_code"]):
        raise RegistryError(1003, "PROPOSE: the ITMO description is malformed or names another Party")
    deadline = str(body.get("deadline_at", ""))[:32]
    uow.repo.insert(pt.peer_transfers, id=transfer_id, side="destination", peer_id=peer_row["id"],
                    state=str(pp.DestinationState.ACCEPTED), account_id=account.id,
                    counterparty_account=str(body.get("from_account_id", ""))[:40], quantity_kg=quantity_kg,
                    serials=json.dumps([str(r) for r in ranges]),
                    detail=json.dumps({k: body.get(k) for k in ("issuances", "authorization_id", "purpose", "entity",
                                                                  "origin_party", "first_transfer", "itmo")}),
                    deadline_at=deadline, txn_id=None, created_at=uow.now, updated_at=uow.now)
    uow.append("peer_transfer_accepted", {"actor": f"peer:{peer_row['id']}", "transfer_id": transfer_id,
                                          "account_id": account.id, "quantity_kg": quantity_kg,
                                          "serials": [str(r) for r in ranges]})
    return {"state": str(pp.DestinationState.ACCEPTED), "account_id": account.id}


def _set_state(uow: UnitOfWork, transfer_id: str, state: str, **more: Any) -> None:
    uow.repo.update(pt.peer_transfers, [pt.peer_transfers.c.id == transfer_id], state=state, updated_at=uow.now,
                    **more)


def _abroad_account(uow: UnitOfWork) -> str:
    """The registry's account that holds, in state ``exported``, the parts of mirrored issuances living abroad."""
    acc = uow.repo.setting(ABROAD_ACCOUNT_SETTING)
    if acc is not None:
        return acc
    acc = new_id("acc")
    par = uow.repo.setting("registry_participant_id")
    assert par is not None, "the registry is bootstrapped before it receives units"
    uow.repo.insert(t.accounts, id=acc, participant_id=par, kind=str(AccountKind.HOLDING), status="active",
                    name="Units living in peer registries (mirror)", created_at=uow.now)
    uow.repo.set_setting(ABROAD_ACCOUNT_SETTING, acc)
    return acc


def _mirror(reg: Registry, uow: UnitOfWork, peer_id: str, prefix: str, issued_kg: int, txn_id: str) -> None:
    """Give a peer's issuance a serial home here: all of it ``exported`` (living abroad) in the mirror account."""
    country, std_code, project_no, vintage, number = prefix.split("-")
    standard = reg.profile.standard_by_serial_code(std_code)
    if standard is None:
        raise RegistryError(5002, "this registry does not record units of that standard", serial_prefix=prefix)
    acc = _abroad_account(uow)
    project_key = f"{country}-{std_code}-{project_no}"
    prj = t.projects.c
    project_id = uow.conn.execute(select(prj.id).where(prj.location == f"peer:{peer_id}:{project_key}")).scalar()
    if project_id is None:
        project_id = new_id("prj")
        par = uow.repo.setting("registry_participant_id")
        uow.repo.insert(t.projects, id=project_id, number=uow.repo.next_project_number(),
                        name=f"{project_key} (recorded from {peer_id})", standard=standard.code,
                        methodology="recorded from a peer registry", host_country=country, proponent_id=par,
                        crediting_start=f"{vintage}-01-01", crediting_end=f"{vintage}-12-31",
                        location=f"peer:{peer_id}:{project_key}", status="registered",
                        description=f"Mirror of project {project_key} of registry {peer_id}",
                        submitted_by=f"peer:{peer_id}"[:40], validated_by=None, validation_report=None,
                        registered_by=None, created_at=uow.now)
    issuance_id = new_id("iss")
    uow.repo.insert(t.issuances, id=issuance_id, project_id=project_id, number=int(number), vintage=int(vintage),
                    period_start=f"{vintage}-01-01", period_end=f"{vintage}-12-31", quantity_kg=issued_kg, buffer_kg=0,
                    account_id=acc, buffer_account_id=acc, status="issued", serial_prefix=prefix,
                    requested_by_key=f"peer:{peer_id}"[:40], requested_by_name=peer_id, decided_by_key=None,
                    verification_ref=f"issued by {peer_id}", created_at=uow.now, decided_at=uow.now, verified_kg=None)
    uow.repo.insert(pt.peer_mirrors, issuance_id=issuance_id, serial_prefix=prefix, peer_id=peer_id,
                    issued_kg=issued_kg, created_at=uow.now)
    root = Block(id=new_id("blk"), issuance_id=issuance_id, project_id=project_id, standard=standard.code,
                 vintage=int(vintage), serial_prefix=prefix, first_kg=1, last_kg=issued_kg,
                 state=BlockState.EXPORTED, account_id=acc, parent_id=None, txn_id=txn_id)
    uow.repo.apply_movement([], [root], txn_id, uow.now)


def _picks_in_state(uow: UnitOfWork, ranges: list[SerialRange], state: BlockState,
                    account_id: str | None) -> list[Pick]:
    picks: list[Pick] = []
    for rng in ranges:
        covered = 0
        for b in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            if b.state != state or (account_id is not None and b.account_id != account_id):
                raise RegistryError(8004 if state == BlockState.EXPORTED else 4002,
                                    f"units are {b.state} here", serial=str(rng))
            lo, hi = max(b.first_kg, rng.first_kg), min(b.last_kg, rng.last_kg)
            picks.append(Pick(b, lo, hi))
            covered += hi - lo + 1
        if covered != rng.quantity_kg:
            raise RegistryError(4002, "no units carry these serials here", serial=str(rng))
    return picks


def _to_suspense(reg: Registry, uow: UnitOfWork, peer_row: Any, row: Any) -> dict[str, Any]:
    ranges = _ranges(json.loads(row["serials"]))
    detail = json.loads(row["detail"])
    txn_id = new_id("txn")
    for prefix in sorted({r.prefix for r in ranges}):
        existing = uow.repo.issuance_by_prefix(prefix)
        if existing is None:
            _mirror(reg, uow, peer_row["id"], prefix, int(detail["issuances"][prefix]), txn_id)
        elif existing["status"] != "issued":
            raise RegistryError(4002, "no issued units carry these serials", serial_prefix=prefix)
    picks = _picks_in_state(uow, ranges, BlockState.EXPORTED, None)
    movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.IN_TRANSIT, account_id=row["account_id"])
    record(uow, movement, txn_id, "peer_receive", f"peer:{peer_row['id']}"[:40], None, row["account_id"],
           {"transfer_id": row["id"], "peer_id": peer_row["id"], "suspense": True,
            "serials": [str(r) for r in ranges]})
    _set_state(uow, row["id"], pp.DestinationState.SUSPENSE, txn_id=txn_id)
    return {"state": str(pp.DestinationState.SUSPENSE), "txn_id": txn_id}


def _release(uow: UnitOfWork, peer_row: Any, row: Any) -> dict[str, Any]:
    ranges = _ranges(json.loads(row["serials"]))
    picks = _picks_in_state(uow, ranges, BlockState.IN_TRANSIT, row["account_id"])
    txn_id = new_id("txn")
    movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.HELD)
    record(uow, movement, txn_id, "peer_release", f"peer:{peer_row['id']}"[:40], None, row["account_id"],
           {"transfer_id": row["id"], "peer_id": peer_row["id"]})
    _set_state(uow, row["id"], pp.DestinationState.COMPLETED)
    return {"state": str(pp.DestinationState.COMPLETED), "txn_id": txn_id}


def _use_abroad(reg: Registry, uow: UnitOfWork, peer_row: Any, notice_id: str, body: Any) -> dict[str, Any]:
    ranges = _ranges(body.get("serials") or [])
    if not ranges:
        raise RegistryError(1003, "a retirement notice names serials")
    for rng in ranges:  # the units must be ours and have left us
        if not all(b.state == BlockState.EXPORTED
                   for b in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)):
            raise RegistryError(1003, "a retirement notice names units that did not leave this registry",
                                serial=str(rng))
    qty = sum(r.quantity_kg for r in ranges)
    plans = _first_transfers_at_use_abroad(uow, ranges)
    party, rid = reg.profile.party_code, a6s.registry_id(reg, uow)
    uow.repo.insert(pt.peer_uses_abroad, id=notice_id, peer_id=peer_row["id"],
                    transfer_id=str(body.get("transfer_id") or "")[:40] or None,
                    serials=canonical_text([str(r) for r in ranges]), quantity_kg=qty,
                    purpose=str(body.get("purpose", ""))[:30], beneficiary_name=str(body.get("beneficiary", ""))[:200],
                    claim_year=int(body.get("claim_year") or 0), retired_at=str(body.get("retired_at", ""))[:32],
                    created_at=uow.now)
    entry = uow.append("peer_use_abroad", {
        "actor": f"peer:{peer_row['id']}", "notice_id": notice_id, "quantity_kg": qty,
        "serials": [str(r) for r in ranges],
        **({"article6": {"first_transfers": [p.payload(rid, party) for p in plans]}} if plans else {})})
    for plan in plans:
        article6_first_transfer.apply_first_transfer(uow, plan, party, entry.seq, None, {
            "transferring_party": party, "acquiring_party": peer_row["party_code"],
            "acquiring_registry": peer_row["id"], "using_entity": str(body.get("beneficiary", ""))[:200] or None})
    return {"recorded": True, "quantity_kg": qty,
            "first_transferred_kg": sum(p.quantity_kg for p in plans)}


def _first_transfers_at_use_abroad(uow: UnitOfWork, ranges: list[SerialRange]
                                   ) -> list[article6_first_transfer.FirstTransferPlan]:
    """OIMP, first transfer at "use or cancellation" (2/CMA.3 annex I.A para 2(b); the LoA's event): units we
    exported for OIMP left without a first transfer (it happens at use abroad); the notice of their use is that
    event, so our first transfer and its corresponding adjustment are written now, once (I6). Units already
    first-transferred (e.g. exported for NDC) get none."""
    by_loa: dict[str, list[article6_first_transfer.Piece]] = {}
    for rng in ranges:
        vintage = int(rng.prefix.split("-")[3])
        for row in a6s.active_coverage(uow, rng):
            part = a6rules.intersect(rng, a6s.range_of(row))
            if part is not None:
                by_loa.setdefault(row["loa_id"], []).append(article6_first_transfer.Piece(part, vintage, row["loa_id"]))
    plans = []
    for loa_id, pieces in sorted(by_loa.items()):
        loa = a6s.current(uow, loa_id)
        if not a6rules.first_transfer_at_use(loa):
            continue
        plan = article6_first_transfer.plan_first_transfer(uow, loa, pieces, "use", a6rules.LoaPurpose.OIMP)
        if plan is not None:
            for p in plan.pieces:
                a6rules.require_whole_itmos(p.rng, "the first transfer at a use abroad")
            plans.append(plan)
    return plans


def _entity_use(reg: Registry, uow: UnitOfWork, peer_row: Any, notice_id: str, body: Any) -> dict[str, Any]:
    """A peer notifies that one of our entities used (retired) units it authorized for our Party, in its own
    registry (e.g. tokens retired on its chain). Recorded once (the notice's id); the ITMOs never entered this
    registry, so nothing moves here: the record is our entity's acquisition and use, reported in our AEF's
    annex (the peer reports the use, and its first transfer, in its Table 3: one action, one report)."""
    entity = body.get("entity")
    blocks = body.get("blocks")
    if not isinstance(entity, dict) or entity.get("country") != reg.profile.country or not isinstance(
            blocks, list) or not blocks or len(blocks) > 100:
        raise RegistryError(1003, "an entity-use notice names an entity of this country and its ITMO blocks")
    ranges: list[SerialRange] = []
    clean = []
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("vintages"), dict):
            raise RegistryError(1003, "an entity-use notice: malformed ITMO block")
        rngs = _ranges(block.get("serials") or [])
        if not rngs or not pp.valid_itmo_description(block.get("itmo"), rngs, peer_row["party_code"]):
            raise RegistryError(1003, "an entity-use notice: the ITMO description is malformed or names another "
                                      "Party than the sender's")
        if not all(a6rules.is_whole_itmos(r) for r in rngs) or any(
                not isinstance(block["vintages"].get(r.prefix), int) for r in rngs):
            raise RegistryError(6006, "an entity-use notice: ITMO blocks are whole tonnes with their vintage")
        for rng in rngs:
            live = _live_here(uow, rng)
            if live:
                raise RegistryError(8004, "the notified units are live in this registry", serial=str(rng))
        ranges += rngs
        clean.append({"serials": [str(r) for r in rngs], "vintages": {r.prefix: int(block["vintages"][r.prefix])
                                                                      for r in rngs}, "itmo": block["itmo"]})
    qty = sum(r.quantity_kg for r in ranges)
    if qty != body.get("quantity_kg"):
        raise RegistryError(1003, "an entity-use notice: quantity_kg differs from the serials")
    uow.repo.insert(pt.peer_entity_uses, id=notice_id, peer_id=peer_row["id"],
                    serials=canonical_text([str(r) for r in ranges]), quantity_kg=qty,
                    purpose=str(body.get("purpose", ""))[:30], entity_name=str(entity.get("name", ""))[:200],
                    beneficiary_name=str(body.get("beneficiary", ""))[:200],
                    claim_year=int(body.get("claim_year") or 0), retired_at=str(body.get("retired_at", ""))[:32],
                    blocks=canonical_text(clean), created_at=uow.now)
    uow.append("peer_entity_use", {"actor": f"peer:{peer_row['id']}", "notice_id": notice_id, "quantity_kg": qty,
                                   "entity": str(entity.get("name", ""))[:200], "serials": [str(r) for r in ranges]})
    return {"recorded": True, "quantity_kg": qty}


def status_answer(reg: Registry, token: Any) -> str:
    """A signed answer to a peer's signed status query (not part of any chain; nothing is written)."""
    with reg.store.read() as uow:
        peer_row, payload = verified(uow, token)
        row = _transfer_row(uow, payload["transfer_id"])
        state = None if row is None or row["peer_id"] != peer_row["id"] else row["state"]
        last = _last_message(uow, payload["transfer_id"]) if state is not None else None
        answer = {"v": pp.PROTOCOL_VERSION, "type": "status", "transfer_id": payload["transfer_id"],
                  "from": my_id(reg), "to": peer_row["id"], "state": state,
                  "side": None if row is None else row["side"],
                  "last_seq": None if last is None else last[0], "last_hash": None if last is None else last[1],
                  "nonce": payload["body"].get("nonce"), "sent_at": uow.now}
        return jws.sign(reg.store.signer, my_id(reg), answer)


# --- origin side ------------------------------------------------------------------------------------------------
def start(reg: Registry, uow: UnitOfWork, actor: Actor, req: PeerTransferIn) -> dict[str, Any]:
    """Lock the units and write the PROPOSE (one unit of work); ``drive`` sends it after the commit."""
    account = uow.repo.account(req.account_id)
    require_controls(actor, account, "transfer units to another registry")
    require_active(account, "transferring")
    peer_row = active_peer(uow, req.peer_id)
    if (req.quantity_kg is None) == (req.serials is None):
        raise RegistryError(1003, "give exactly one of quantity_kg or serials")
    loa_id = req.authorization_id
    if loa_id is not None:
        loa = a6s.current(uow, loa_id)
        a6rules.require_valid_on(loa, a6s.today(uow))
        a6rules.check_purpose(loa, a6rules.LoaPurpose(req.purpose))
        a6rules.check_acquirer(loa, peer_row["party_code"], req.entity)
        picks = (select_units(uow, account.id, quantity_kg=None, serials=req.serials) if req.serials is not None else
                 article6_export.covered_picks(uow, account.id, loa.id, req.quantity_kg or 0, None, None))
    else:
        picks = select_units(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials)
    issuances: dict[str, int] = {}
    for p in picks:
        rng = SerialRange(p.block.serial_prefix, p.first_kg, p.last_kg)
        mirrored = uow.conn.execute(select(pt.peer_mirrors.c.issued_kg).where(
            pt.peer_mirrors.c.issuance_id == p.block.issuance_id)).scalar()
        if mirrored is None:
            if loa_id is None:
                raise RegistryError(6001, "this registry's own units leave only under an authorization (LoA)",
                                    serial=str(rng))
            a6rules.require_exportable(reg.profile, p.block.standard, str(rng))
        issuances[p.block.serial_prefix] = int(mirrored if mirrored is not None
                                               else uow.repo.issuance(p.block.issuance_id).quantity_kg)
    transfer_id = new_id("peer")
    txn_id = new_id("txn")
    movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.IN_TRANSIT)
    serials = [format_serial(b.serial_prefix, b.first_kg, b.last_kg) for b in movement.moved]
    record(uow, movement, txn_id, "peer_lock", actor.key_id, account.id, None,
           {"transfer_id": transfer_id, "peer_id": peer_row["id"], "serials": serials})
    deadline = format_instant(parse_instant(uow.now) + timedelta(seconds=req.timeout_s))
    detail = {"authorization_id": loa_id, "purpose": req.purpose, "entity": req.entity, "issuances": issuances,
              "lock_txn_id": txn_id, "actor": {"key_id": actor.key_id, "role": str(actor.role),
                                                "participant_id": actor.participant_id, "name": actor.name}}
    uow.repo.insert(pt.peer_transfers, id=transfer_id, side="origin", peer_id=peer_row["id"],
                    state=str(pp.OriginState.LOCKED), account_id=account.id,
                    counterparty_account=req.destination_account_id, quantity_kg=movement.quantity_kg,
                    serials=json.dumps(serials), detail=json.dumps(detail), deadline_at=deadline, txn_id=None,
                    created_at=uow.now, updated_at=uow.now)
    emit(reg, uow, peer_row["id"], pp.MessageType.PROPOSE, transfer_id, {
        "account_id": req.destination_account_id, "from_account_id": account.id, "serials": serials,
        "quantity_kg": movement.quantity_kg, "issuances": issuances, "authorization_id": loa_id,
        "purpose": req.purpose, "entity": req.entity, "origin_party": reg.profile.party_code,
        "first_transfer": loa_id is not None, "itmo": itmo_description(reg, uow, loa_id, issuances),
        "deadline_at": deadline})
    return transfer_view(uow, transfer_id)


def itmo_description(reg: Registry, uow: UnitOfWork, loa_id: str | None,
                     prefixes: Iterable[str]) -> dict[str, Any] | None:
    """What the acquiring Party's AEF needs to report the same ITMO blocks as ours (6/CMA.4 annex I para 5:
    the ITMO ids follow from these and the serials): cooperative approach, our authorization id, our ITMO
    registry id and Party, GWP, and the mitigation type per serial prefix as our AEF reports it. None for
    units not under an authorization."""
    if loa_id is None:
        return None
    loa = a6s.current(uow, loa_id)
    recorded = aef_tables.mitigation_types(uow)
    return {"cooperative_approach_id": loa.cooperative_approach_id,
            "authorization_id": str(loa.body.get("reference", loa.id)), "registry_id": a6s.registry_id(reg, uow),
            "party": reg.profile.party_code, "gwp": str(loa.body.get("gwp") or "AR5"),
            "mitigation_types": {p: a6rules.effective_mitigation_type(*recorded.get(p, (None, None)),
                                                                      loa.body.get("mitigation_type"))
                                 for p in sorted(prefixes)}}


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    export_id: Id
    peer_id: str = Field(min_length=2, max_length=40)
    destination_account_id: str = Field(min_length=3, max_length=40)
    timeout_s: int = Field(pp.DEFAULT_TIMEOUT_S, ge=1, le=pp.MAX_TIMEOUT_S)


def start_delivery(reg: Registry, uow: UnitOfWork, actor: Actor, req: DeliveryIn) -> dict[str, Any]:
    """Deliver an export made before the peer protocol (e.g. the demo's) to the registry it named: the same
    messages, but the commit point (the export: units out, first transfer, CA) has already passed."""
    export = uow.repo.one(a6.a6_exports, req.export_id, "export")
    account = uow.repo.account(export["account_id"])
    require_controls(actor, account, "deliver an export")
    peer_row = active_peer(uow, req.peer_id)
    if export["destination_party"] != peer_row["party_code"]:
        raise RegistryError(1003, "the export went to another Party", party=export["destination_party"])
    c = pt.peer_transfers.c
    for (detail_text,) in uow.conn.execute(select(c.detail).where(c.side == "origin",
                                                                  c.state != str(pp.OriginState.RETURNED))):
        if json.loads(detail_text).get("delivery_of") == req.export_id:
            raise RegistryError(8003, "this export is already being delivered", export_id=req.export_id)
    view = article6_export.view(reg, uow, req.export_id)
    serials = list(view["serials"])
    issuances = {p: int(uow.repo.issuance(str(uow.repo.blocks.leaves_overlapping(p, 1, 1)[0].issuance_id)).quantity_kg)
                 for p in {parse_serial(x).prefix for x in serials}}
    transfer_id = new_id("peer")
    deadline = format_instant(parse_instant(uow.now) + timedelta(seconds=req.timeout_s))
    entity = export["acquiring_entity"]
    detail = {"authorization_id": export["loa_id"], "purpose": export["purpose"], "entity": entity,
              "issuances": issuances, "delivery_of": req.export_id, "export_id": req.export_id}
    uow.repo.insert(pt.peer_transfers, id=transfer_id, side="origin", peer_id=peer_row["id"],
                    state=str(pp.OriginState.LOCKED), account_id=account.id,
                    counterparty_account=req.destination_account_id, quantity_kg=int(export["quantity_kg"]),
                    serials=json.dumps(serials), detail=json.dumps(detail), deadline_at=deadline, txn_id=None,
                    created_at=uow.now, updated_at=uow.now)
    uow.append("peer_delivery_started", {"actor": actor.key_id, "transfer_id": transfer_id,
                                         "export_id": req.export_id, "peer_id": peer_row["id"]})
    emit(reg, uow, peer_row["id"], pp.MessageType.PROPOSE, transfer_id, {
        "account_id": req.destination_account_id, "from_account_id": account.id, "serials": serials,
        "quantity_kg": int(export["quantity_kg"]), "issuances": issuances, "authorization_id": export["loa_id"],
        "purpose": export["purpose"], "entity": entity, "origin_party": reg.profile.party_code,
        "first_transfer": int(export["first_transferred_kg"]) > 0,
        "itmo": itmo_description(reg, uow, export["loa_id"], issuances), "deadline_at": deadline})
    return transfer_view(uow, transfer_id)


def deliver_and_drive(reg: Registry, actor: Actor, req: DeliveryIn,
                      idempotency_key: str | None) -> tuple[dict[str, Any], bool]:
    result = reg.execute(actor, "peer_delivery", req.model_dump(mode="json"),
                         lambda uow: start_delivery(reg, uow, actor, req), idempotency_key=idempotency_key)
    return _drive_quietly(reg, result.body["id"]), result.replayed


def start_and_drive(reg: Registry, actor: Actor, req: PeerTransferIn,
                    idempotency_key: str | None) -> tuple[dict[str, Any], bool]:
    """The holder's request: lock + PROPOSE in one unit of work (idempotent by key), then drive it."""
    result = reg.execute(actor, "peer_transfer", req.model_dump(mode="json"),
                         lambda uow: start(reg, uow, actor, req), idempotency_key=idempotency_key)
    fault("after_lock")
    return _drive_quietly(reg, result.body["id"]), result.replayed


def _drive_quietly(reg: Registry, transfer_id: str) -> dict[str, Any]:
    """After the lock committed, the holder gets the transfer's state, never an error: a refusal while
    driving (e.g. the peer was suspended meanwhile, 8001) leaves the transfer to the worker and its deadline."""
    try:
        return drive(reg, transfer_id)
    except RegistryError:
        with reg.store.read() as uow:
            return transfer_view(uow, transfer_id)


def transfer_view(uow: UnitOfWork, transfer_id: str) -> dict[str, Any]:
    row = uow.repo.one(pt.peer_transfers, transfer_id, "peer transfer")
    detail = json.loads(row["detail"])
    m = pt.peer_messages.c
    messages = [dict(r) for r in uow.conn.execute(
        select(m.msg_type, m.direction, m.seq, m.prev_hash, m.hash, m.created_at)
        .where(m.transfer_id == transfer_id).order_by(m.seq, m.direction)).mappings()]
    return {"id": row["id"], "side": row["side"], "peer_id": row["peer_id"], "state": row["state"],
            "account_id": row["account_id"], "counterparty_account": row["counterparty_account"],
            "quantity_kg": row["quantity_kg"], "serials": json.loads(row["serials"]),
            "authorization_id": detail.get("authorization_id"), "purpose": detail.get("purpose"),
            "entity": detail.get("entity"), "export_id": detail.get("export_id"), "error": detail.get("error"),
            "deadline_at": row["deadline_at"], "txn_id": row["txn_id"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], "messages": messages}


def list_transfers(uow: UnitOfWork, state: str | None = None) -> dict[str, Any]:
    q = select(pt.peer_transfers.c.id).order_by(pt.peer_transfers.c.id)
    if state is not None:
        q = q.where(pt.peer_transfers.c.state == state)
    return {"data": [transfer_view(uow, r[0]) for r in uow.conn.execute(q)]}


def _return_units(uow: UnitOfWork, row: Any, reason: dict[str, Any]) -> None:
    """Before the commit point only: the locked units go back to held, once; the transfer is returned.
    (A delivery of an earlier export locked nothing: its units stay exported, the delivery is returned.)"""
    detail = {**json.loads(row["detail"]), "error": reason}
    if not detail.get("delivery_of"):
        ranges = _ranges(json.loads(row["serials"]))
        picks = _picks_in_state(uow, ranges, BlockState.IN_TRANSIT, row["account_id"])
        txn_id = new_id("txn")
        movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.HELD)
        record(uow, movement, txn_id, "peer_return", "registry", row["account_id"], None,
               {"transfer_id": row["id"], "peer_id": row["peer_id"], "reason": reason})
    else:
        uow.append("peer_delivery_returned", {"actor": "registry", "transfer_id": row["id"], "reason": reason})
    _set_state(uow, row["id"], pp.OriginState.RETURNED, detail=json.dumps(detail))


def _commit_point(reg: Registry, uow: UnitOfWork, row: Any) -> None:
    """Units out: the export code path (first transfer + CA) for own units, ``exported`` for mirrored ones."""
    detail = json.loads(row["detail"])
    if detail.get("delivery_of"):  # an export committed before the protocol: its commit point has passed
        txn = uow.repo.one(a6.a6_exports, detail["delivery_of"], "export")["txn_id"]
        _set_state(uow, row["id"], pp.OriginState.COMMITTED, txn_id=txn)
        emit(reg, uow, row["peer_id"], pp.MessageType.COMMIT, row["id"], {"txn_id": txn})
        return
    ranges = _ranges(json.loads(row["serials"]))
    picks = _picks_in_state(uow, ranges, BlockState.IN_TRANSIT, row["account_id"])
    peer_row = active_peer(uow, row["peer_id"])
    if detail.get("authorization_id"):
        txn_id = new_id("txn")  # in_transit -> held, then the export moves them out in the same transaction
        record(uow, carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.HELD), txn_id, "peer_unlock",
               "registry", row["account_id"], None, {"transfer_id": row["id"]})
        a = detail["actor"]
        holder = Actor(key_id=a["key_id"], role=Role(a["role"]), participant_id=a["participant_id"], name=a["name"])
        out = article6_export.export(reg, uow, holder, ExportIn(
            account_id=row["account_id"], authorization_id=detail["authorization_id"], purpose=detail["purpose"],
            destination=Destination(party=peer_row["party_code"], registry_id=peer_row["id"],
                                    account_id=row["counterparty_account"], entity=detail["entity"]),
            serials=[str(r) for r in ranges], note=f"peer transfer {row['id']}"))
        detail["export_id"] = out["id"]
        txn = out["txn_id"]
    else:
        txn = new_id("txn")
        record(uow, carve(picks, txn, lambda: new_id("blk"), state=BlockState.EXPORTED), txn, "peer_send",
               "registry", row["account_id"], None, {"transfer_id": row["id"], "peer_id": row["peer_id"]})
    _set_state(uow, row["id"], pp.OriginState.COMMITTED, txn_id=txn, detail=json.dumps(detail))
    emit(reg, uow, row["peer_id"], pp.MessageType.COMMIT, row["id"], {"txn_id": txn})


def _record_answer(uow: UnitOfWork, row: Any, answer: str, expected: pp.MessageType) -> None:
    peer_row, payload = verified(uow, answer)
    if peer_row["id"] != row["peer_id"] or payload["transfer_id"] != row["id"] or payload["type"] != expected:
        raise RegistryError(8002, "the answer is not the expected message of this transfer")
    seen = _message(uow, row["id"], expected)
    if seen is not None:
        return
    pp.require_next_in_chain(_last_message(uow, row["id"]), payload["seq"], payload["prev_hash"], row["id"])
    _store(uow, payload, answer, "in")


def drive(reg: Registry, transfer_id: str) -> dict[str, Any]:
    """Advance an origin transfer as far as the peer lets it now; a lost connection leaves it to ``sync``."""
    for _ in range(6):
        with reg.store.read() as uow:
            row = _transfer_row(uow, transfer_id)
            if row is None or row["side"] != "origin":
                raise RegistryError(1005, "no such outgoing peer transfer", transfer_id=transfer_id)
            state = row["state"]
            peer_row = active_peer(uow, row["peer_id"])
            step = {pp.OriginState.LOCKED: (pp.MessageType.PROPOSE, pp.MessageType.ACCEPT),
                    pp.OriginState.COMMITTED: (pp.MessageType.COMMIT, pp.MessageType.COMMIT_ACK),
                    pp.OriginState.ACKNOWLEDGED: (pp.MessageType.FINAL, pp.MessageType.FINAL_ACK)}.get(
                        pp.OriginState(state))
            if step is None:
                break
            if state == pp.OriginState.LOCKED and uow.now > row["deadline_at"]:
                _time_out(reg, transfer_id)
                continue
            out = _message(uow, transfer_id, step[0])
            assert out is not None
        try:
            answer = client.send(peer_row["base_url"], str(out["jws"]), peer_row["tls_ca"])
        except client.PeerUnreachable:
            break
        except RegistryError as refusal:
            if state == pp.OriginState.LOCKED:  # refused before the commit point: the units come back
                with reg.store.write() as uow:
                    row = _transfer_row(uow, transfer_id)
                    if row["state"] == pp.OriginState.LOCKED:
                        _return_units(uow, row, {"code": refusal.code, "message": refusal.message,
                                                 "by": peer_row["id"]})
                break
            _note_error(reg, transfer_id, refusal)
            break
        if state == pp.OriginState.COMMITTED:
            fault("after_commit_sent")
        if state == pp.OriginState.ACKNOWLEDGED:
            fault("after_final_sent")
        if state == pp.OriginState.LOCKED:
            fault("after_accept")
        try:
            with reg.store.write() as uow:
                row = _transfer_row(uow, transfer_id)
                if row["state"] != state:
                    continue
                _record_answer(uow, row, answer, step[1])
                if state == pp.OriginState.LOCKED:
                    pp.require_before_deadline(uow.now, row["deadline_at"], transfer_id)
                    _commit_point(reg, uow, row)
                elif state == pp.OriginState.COMMITTED:
                    _set_state(uow, transfer_id, pp.OriginState.ACKNOWLEDGED)
                    emit(reg, uow, row["peer_id"], pp.MessageType.FINAL, transfer_id, {})
                else:
                    _set_state(uow, transfer_id, pp.OriginState.COMPLETED)
                    uow.append("peer_transfer_completed", {"actor": "registry", "transfer_id": transfer_id})
        except RegistryError as exc:
            if exc.code == 8005:  # a late acceptance: the units return, the destination is told to abort
                _time_out(reg, transfer_id)
                continue
            if state == pp.OriginState.LOCKED and exc.code not in (8001, 8002, 8003):
                # the commit point's own checks refused (e.g. the LoA was revoked meanwhile): units return
                with reg.store.write() as uow:
                    row = _transfer_row(uow, transfer_id)
                    if row["state"] == pp.OriginState.LOCKED:
                        _return_units(uow, row, {"code": exc.code, "message": exc.message, "by": "origin"})
                        emit(reg, uow, row["peer_id"], pp.MessageType.ABORT, transfer_id, {"code": exc.code})
                continue
            _note_error(reg, transfer_id, exc)  # a bad answer: the transfer waits for sync or its deadline
            break
        if state == pp.OriginState.LOCKED:
            fault("after_commit")
    with reg.store.read() as uow:
        return transfer_view(uow, transfer_id)


def _note_error(reg: Registry, transfer_id: str, refusal: RegistryError) -> None:
    with reg.store.write() as uow:
        row = _transfer_row(uow, transfer_id)
        detail = {**json.loads(row["detail"]), "error": {"code": refusal.code, "message": refusal.message}}
        uow.repo.update(pt.peer_transfers, [pt.peer_transfers.c.id == transfer_id], detail=json.dumps(detail))


def _time_out(reg: Registry, transfer_id: str) -> None:
    """8005: the destination did not accept in time; the units return once and an ABORT is sent."""
    with reg.store.write() as uow:
        row = _transfer_row(uow, transfer_id)
        if row is None or row["state"] != pp.OriginState.LOCKED:
            return
        _return_units(uow, row, {"code": 8005, "message": "the destination did not accept in time",
                                 "deadline_at": row["deadline_at"]})
        emit(reg, uow, row["peer_id"], pp.MessageType.ABORT, transfer_id, {"code": 8005})
        peer_row = active_peer(uow, row["peer_id"])
        token = str(_message(uow, transfer_id, pp.MessageType.ABORT)["jws"])
    _send_abort(reg, transfer_id, peer_row["base_url"], token, peer_row["tls_ca"])


def _send_abort(reg: Registry, transfer_id: str, base_url: str, token: str, ca_pem: str | None) -> None:
    try:
        answer = client.send(base_url, token, ca_pem)
    except (client.PeerUnreachable, RegistryError):
        return  # the destination resolves its side with a status query
    with reg.store.write() as uow:
        if _message(uow, transfer_id, pp.MessageType.ABORT_ACK) is None:
            _peer, payload = verified(uow, answer)
            if payload["transfer_id"] == transfer_id and payload["type"] == pp.MessageType.ABORT_ACK:
                _store(uow, payload, answer, "in")


def sync(reg: Registry) -> dict[str, Any]:
    """Recovery: drive every open origin transfer; resolve destination transfers left ``accepted``."""
    driven: dict[str, str] = {}
    with reg.store.read() as uow:
        c = pt.peer_transfers.c
        origin_open = [r[0] for r in uow.conn.execute(select(c.id).where(
            c.side == "origin", c.state.in_([str(s) for s in (pp.OriginState.LOCKED, pp.OriginState.COMMITTED,
                                                               pp.OriginState.ACKNOWLEDGED)])).order_by(c.id))]
        in_doubt = [(r[0], r[1], r[2]) for r in uow.conn.execute(select(c.id, c.peer_id, c.deadline_at).where(
            c.side == "destination", c.state == str(pp.DestinationState.ACCEPTED)))]
        now = uow.now
    for transfer_id in origin_open:
        try:
            driven[transfer_id] = drive(reg, transfer_id)["state"]
        except RegistryError as exc:
            driven[transfer_id] = f"error {exc.code}"
    driven.update(send_notices(reg))
    for transfer_id, peer_id, deadline in in_doubt:
        if now <= deadline:
            continue
        try:
            state = query_status(reg, peer_id, transfer_id)
        except RegistryError as exc:
            driven[transfer_id] = f"status query refused {exc.code}"
            continue
        if state in (None, str(pp.OriginState.RETURNED)):  # never committed there: nothing will come
            with reg.store.write() as uow:
                row = _transfer_row(uow, transfer_id)
                if row is not None and row["state"] == pp.DestinationState.ACCEPTED:
                    _set_state(uow, transfer_id, pp.DestinationState.ABORTED)
                    uow.append("peer_transfer_aborted", {"actor": "registry", "transfer_id": transfer_id,
                                                         "origin_state": state})
            driven[transfer_id] = str(pp.DestinationState.ABORTED)
    return {"driven": driven}


def query_status(reg: Registry, peer_id: str, transfer_id: str) -> str | None:
    """The peer's state of a transfer, from its signed status answer; raises PeerUnreachable if it is down."""
    with reg.store.read() as uow:
        peer_row = active_peer(uow, peer_id)
        keys = peer_keys_now(uow, peer_row)
        nonce = new_id("msg")
        token = jws.sign(reg.store.signer, my_id(reg), pp.envelope(
            pp.MessageType.STATUS, transfer_id, 1, pp.GENESIS_PREV_HASH, my_id(reg), peer_id, uow.now,
            {"nonce": nonce}))
    try:
        answer = client.status(peer_row["base_url"], token, peer_row["tls_ca"])
    except client.PeerUnreachable:
        return "unreachable"
    payload = jws.verify_any(answer, keys)
    if payload.get("nonce") != nonce or payload.get("transfer_id") != transfer_id:
        raise RegistryError(8002, "the status answer does not answer this query")
    state = payload.get("state")
    return None if state is None else str(state)



def require_own_transfer(uow: UnitOfWork, actor: Actor, view: dict[str, Any]) -> None:
    """A holding role reads the transfers of its own participant's accounts only."""
    account = uow.repo.account(view["account_id"])
    if actor.participant_id != account.participant_id:
        raise RegistryError(1002, "this key may not read that transfer", transfer_id=view["id"])


# --- the return path: retirements of received units are reported to the registry they came from ---------------
def _pending_notices(uow: UnitOfWork) -> list[tuple[str, str, list[str]]]:
    """(retirement id, peer id, serials) of retirements of mirrored units whose notice was not acknowledged."""
    r, b, m, msg = t.retirements.c, t.blocks.c, pt.peer_mirrors.c, pt.peer_messages.c
    acked = select(msg.transfer_id).where(msg.msg_type == str(pp.MessageType.NOTICE_ACK))
    rows = uow.conn.execute(
        select(r.id, m.peer_id, b.serial_prefix, b.first_kg, b.last_kg)
        .join(t.blocks, (b.txn_id == r.txn_id) & (b.state == str(BlockState.RETIRED)))
        .join(pt.peer_mirrors, m.issuance_id == b.issuance_id)
        .where(r.id.not_in(acked)).order_by(r.id, b.serial_prefix, b.first_kg)).all()
    out: dict[tuple[str, str], list[str]] = {}
    for ret_id, peer_id, prefix, first, last in rows:
        out.setdefault((ret_id, peer_id), []).append(format_serial(prefix, int(first), int(last)))
    return [(ret_id, peer_id, serials) for (ret_id, peer_id), serials in out.items()]


def _stored_notices(reg: Registry, uow: UnitOfWork) -> list[tuple[str, str, list[str]]]:
    """(notice id, peer id, []) of notices already signed and stored but not acknowledged: those written in the
    retirement's own transaction (``services.peer_notices``: uses here by a peer's companies)."""
    msg = pt.peer_messages.c
    acked = select(msg.transfer_id).where(msg.msg_type == str(pp.MessageType.NOTICE_ACK))
    rows = uow.conn.execute(select(msg.transfer_id, msg.jws).where(
        msg.msg_type == str(pp.MessageType.RETIREMENT_NOTICE), msg.direction == "out",
        msg.transfer_id.not_in(acked)).order_by(msg.transfer_id)).all()
    return [(str(tid), str(jws.verify(str(token), reg.store.public_key_hex)["to"]), []) for tid, token in rows]


def send_notices(reg: Registry) -> dict[str, str]:
    """Send (or resend, byte for byte) the signed retirement notice of every pending retirement."""
    done: dict[str, str] = {}
    with reg.store.read() as uow:
        pending = _pending_notices(uow)
        known = {ret_id for ret_id, _, _ in pending}
        pending += [n for n in _stored_notices(reg, uow) if n[0] not in known]
    for ret_id, peer_id, serials in pending:
        try:
            with reg.store.write() as uow:
                out = _message(uow, ret_id, pp.MessageType.RETIREMENT_NOTICE)
                if out is None:
                    ret = uow.repo.one(t.retirements, ret_id, "retirement")
                    token = emit(reg, uow, peer_id, pp.MessageType.RETIREMENT_NOTICE, ret_id, {
                        "serials": serials, "quantity_kg": sum(parse_serial(x).quantity_kg for x in serials),
                        "purpose": ret["purpose"], "beneficiary": ret["beneficiary_name"],
                        "claim_year": ret["claim_year"], "retired_at": ret["created_at"]})
                else:
                    token = str(out["jws"])
                peer_row = active_peer(uow, peer_id)
        except RegistryError as exc:  # e.g. the peer was suspended meanwhile (8001): the notice waits
            done[ret_id] = f"notice pending ({exc.code})"
            continue
        try:
            answer = client.send(peer_row["base_url"], token, peer_row["tls_ca"])
        except (client.PeerUnreachable, RegistryError) as exc:
            done[ret_id] = f"notice pending ({type(exc).__name__})"
            continue
        try:
            with reg.store.write() as uow:
                if _message(uow, ret_id, pp.MessageType.NOTICE_ACK) is None:
                    _peer, payload = verified(uow, answer)
                    if payload["transfer_id"] == ret_id and payload["type"] == pp.MessageType.NOTICE_ACK:
                        pp.require_next_in_chain(_last_message(uow, ret_id), payload["seq"], payload["prev_hash"],
                                                 ret_id)
                        _store(uow, payload, answer, "in")
        except RegistryError as exc:  # a bad answer: the notice stays pending and is sent again
            done[ret_id] = f"notice answer refused {exc.code}"
            continue
        done[ret_id] = "notice acknowledged"
    return done


def messages_of(uow: UnitOfWork, transfer_id: str) -> dict[str, Any]:
    """The message audit trail of one transfer or notice: every signed message, in chain order."""
    m = pt.peer_messages.c
    rows = uow.conn.execute(select(pt.peer_messages).where(m.transfer_id == transfer_id)
                            .order_by(m.seq, m.direction)).mappings()
    return {"transfer_id": transfer_id, "data": [dict(r) for r in rows]}


def entity_uses(uow: UnitOfWork) -> dict[str, Any]:
    """Uses abroad by our entities of units another Party authorized for ours (signed notices received)."""
    rows = uow.conn.execute(select(pt.peer_entity_uses).order_by(pt.peer_entity_uses.c.created_at)).mappings()
    return {"data": [{**dict(r), "serials": json.loads(r["serials"]), "blocks": json.loads(r["blocks"])}
                     for r in rows]}


def uses_abroad(uow: UnitOfWork) -> dict[str, Any]:
    rows = uow.conn.execute(select(pt.peer_uses_abroad).order_by(pt.peer_uses_abroad.c.created_at)).mappings()
    return {"data": [{**dict(r), "serials": json.loads(r["serials"])} for r in rows]}
