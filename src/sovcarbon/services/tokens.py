"""Tokenization use cases on the NR side: onboarding token holders, tokenizing (immobilize + outbox),
the NR effects of chain outcomes (mint confirmed or compensated, burns retired or released), identity
sync through the outbox, lot views, and the I4 snapshot loader.

The chain itself is never called from here: what must happen on chain is written to ``token_outbox``
in the same transaction as the NR change; ``sovcarbon.bridge`` sends it and reports back through the
functions below, each of which runs inside the caller's unit of work. Rules: ``domain.tokenize``.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping

from sovcarbon.domain import tokenize as rules
from sovcarbon.domain.access import require_controls, require_role
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.invariants import LedgerSnapshot
from sovcarbon.domain.model import HOLDING_ROLES, AccountKind, Actor, BlockState, ParticipantKind, Purpose, Role
from sovcarbon.domain.tokenize import ChainLotFigures, LotFacts, LotStatus
from sovcarbon.services import retirements, token_burns, token_consents
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.movements import record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_requests import TokenHolderIn, TokenizationIn
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.repository import LEAF
from sovcarbon.store.uow import Store, UnitOfWork

PENDING, SENT, CONFIRMED, FAILED = "pending", "sent", "confirmed", "failed"
TERMINAL = frozenset({CONFIRMED, FAILED})
LOT_OPS = frozenset({"open_lot", "mint"})

# A chain reader answers the chain's figures of some lots at one block; the bridge registers one per
# store it serves (weakly: a closed registry drops it), so the I4 loader reads the chain when there is one.
ChainReader = Callable[[Sequence[int], int], dict[int, ChainLotFigures]]
CHAIN_READERS: weakref.WeakKeyDictionary[Store, Callable[[], tuple[ChainReader, str] | None]] = (
    weakref.WeakKeyDictionary())
# The bridge serving a store is woken after the commit of a transaction that enqueued chain work (and only
# then: a transfer or a read does not make the bridge run a cycle).
OUTBOX_WAKERS: weakref.WeakKeyDictionary[Store, Callable[[], None]] = weakref.WeakKeyDictionary()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def op_id_for(outbox_id: str) -> str:
    """The 32-byte op id a chain operation carries (the contract accepts each once): SHA-256 of the row id,
    the same derivation as ``chain.make_op_id``. Stored with the row and never recomputed."""
    return "0x" + hashlib.sha256(b"sovcarbon-op:" + outbox_id.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------- outbox
def enqueue(uow: UnitOfWork, kind: str, payload: dict[str, Any], lot_id: str | None = None) -> str:
    """Add one chain operation to the outbox in the caller's transaction; returns the row id."""
    assert uow.write
    seq = int(uow.conn.execute(select(func.coalesce(func.max(tt.token_outbox.c.seq), 0))).scalar_one()) + 1
    outbox_id = new_id("out")
    uow.repo.insert(tt.token_outbox, id=outbox_id, seq=seq, kind=kind, lot_id=lot_id, payload=_dumps(payload),
                    op_id=op_id_for(outbox_id), status=PENDING, tx_hash=None, attempts=0, last_error=None,
                    created_at=uow.now, updated_at=uow.now)
    waker = OUTBOX_WAKERS.get(uow.store)
    if waker is not None and waker not in uow.after_commit:
        uow.after_commit.append(waker)
    return outbox_id


def outbox_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(id=r["id"], seq=r["seq"], kind=r["kind"], lot_id=r["lot_id"], payload=json.loads(r["payload"]),
                op_id=r["op_id"], status=r["status"], tx_hash=r["tx_hash"], attempts=r["attempts"],
                last_error=r["last_error"], created_at=r["created_at"], updated_at=r["updated_at"])


def set_outbox(uow: UnitOfWork, outbox_id: str, **values: Any) -> None:
    uow.repo.update(tt.token_outbox, [tt.token_outbox.c.id == outbox_id], updated_at=uow.now, **values)


# ------------------------------------------------------------------------------------------- identity
def _wallet(uow: UnitOfWork, participant_id: str) -> str | None:
    value = uow.conn.execute(select(t.participants.c.wallet_address)
                             .where(t.participants.c.id == participant_id)).scalar()
    return str(value).lower() if value else None


def _served_by(uow: UnitOfWork, participant_id: str) -> str | None:
    value = uow.conn.execute(select(tt.token_holders.c.intermediary_id)
                             .where(tt.token_holders.c.participant_id == participant_id)).scalar()
    return str(value) if value else None


def _want_identity(uow: UnitOfWork, participant_id: str, address: str, role: str, eligible: bool,
                   intermediary_address: str | None) -> None:
    """Record what the chain's identity registry must say about ``address`` and enqueue the call."""
    if role == "intermediary":
        outbox_id = enqueue(uow, "set_intermediary", {"intermediary": address, "licensed": eligible})
    else:
        assert intermediary_address is not None
        outbox_id = enqueue(uow, "set_identity", {"holder": address, "kyc_verified": eligible,
                                                  "intermediary": intermediary_address})
    c = tt.token_identity_sync.c
    values = dict(participant_id=participant_id, role=role, eligible=eligible,
                  intermediary_address=intermediary_address, outbox_id=outbox_id, status=PENDING,
                  updated_at=uow.now)
    if uow.conn.execute(select(c.address).where(c.address == address)).first() is None:
        uow.repo.insert(tt.token_identity_sync, address=address, **values)
    else:
        uow.repo.update(tt.token_identity_sync, [c.address == address], **values)


def sync_identity(uow: UnitOfWork, participant_id: str, previous: Mapping[Any, Any] | None = None) -> list[str]:
    """Enqueue the identity-registry calls that make the chain follow this participant's NR record:
    an intermediary's licence (and its clients, if its address moved), a served holder's KYC status,
    suspension and address. ``previous`` is the participant row before the change. Returns the
    addresses enqueued; participants unrelated to tokens enqueue nothing."""
    p = uow.repo.participant(participant_id)
    wallet = _wallet(uow, participant_id)
    old_wallet = str(previous["wallet_address"]).lower() if previous and previous["wallet_address"] else None
    touched: list[str] = []
    if p.kind == ParticipantKind.INTERMEDIARY:
        if old_wallet and old_wallet != wallet:
            _want_identity(uow, p.id, old_wallet, "intermediary", False, None)
            touched.append(old_wallet)
        if wallet:
            _want_identity(uow, p.id, wallet, "intermediary", rules.intermediary_licensed(p), None)
            touched.append(wallet)
            if old_wallet and old_wallet != wallet:
                clients = uow.conn.execute(select(tt.token_holders.c.participant_id)
                                           .where(tt.token_holders.c.intermediary_id == p.id)).scalars()
                for client in list(clients):
                    touched += sync_identity(uow, str(client))
    served_by = _served_by(uow, participant_id)
    if served_by is not None:
        intermediary_wallet = _wallet(uow, served_by)
        if intermediary_wallet is not None:
            if old_wallet and old_wallet != wallet and p.kind != ParticipantKind.INTERMEDIARY:
                _want_identity(uow, p.id, old_wallet, "holder", False, intermediary_wallet)
                touched.append(old_wallet)
            if wallet:
                _want_identity(uow, p.id, wallet, "holder", rules.holder_eligible(p), intermediary_wallet)
                touched.append(wallet)
    return touched


def onboard_holder(reg: Registry, uow: UnitOfWork, actor: Actor, req: TokenHolderIn) -> dict[str, Any]:
    """Needs the holder's act: either the holder's own key names the licensed intermediary that will serve it,
    or that intermediary presents the holder's consent (``consent_id``, ``services.token_consents``). Nobody
    else onboards a holder (1002)."""
    consent_id: str | None = None
    if actor.role == Role.INTERMEDIARY and actor.participant_id != req.participant_id:
        consent_id = token_consents.require_consent(uow, actor, req.consent_id, req.participant_id, None)["id"]
        intermediary_id: str | None = actor.participant_id
    else:
        require_role(actor, HOLDING_ROLES, "onboard a token holder (the holder names its intermediary)")
        if actor.participant_id != req.participant_id:
            raise RegistryError(1002, "a holder is onboarded by its own act (its key names the intermediary) or "
                                      "by the intermediary presenting its consent", participant_id=req.participant_id)
        intermediary_id = req.intermediary_id
    if intermediary_id is None:
        raise RegistryError(1003, "intermediary_id is required: name the intermediary that serves you")
    intermediary = uow.repo.participant(intermediary_id)
    rules.check_intermediary(intermediary, _wallet(uow, intermediary.id))
    holder = uow.repo.participant(req.participant_id)
    rules.check_holder(holder, _wallet(uow, holder.id), None, None)
    served_by = _served_by(uow, holder.id)
    if served_by is not None and served_by != intermediary.id:
        raise RegistryError(5004, f"holder {holder.id} is served by intermediary {served_by}", served_by=served_by)
    if served_by is None:
        uow.repo.insert(tt.token_holders, participant_id=holder.id, intermediary_id=intermediary.id,
                        onboarded_by=actor.key_id, created_at=uow.now)
        uow.append("token_holder_onboarded", {"actor": actor.key_id, "participant_id": holder.id,
                                              "intermediary_id": intermediary.id,
                                              "wallet_address": _wallet(uow, holder.id),
                                              "consent": consent_id or "holder_key"})
        sync_identity(uow, holder.id)
    return {"participant_id": holder.id, "intermediary_id": intermediary.id,
            "wallet_address": _wallet(uow, holder.id)}


# ------------------------------------------------------------------------------------------- tokenize
def _custody_account(uow: UnitOfWork, intermediary_id: str, custody_account_id: str | None) -> str:
    if custody_account_id is not None:
        return custody_account_id
    c = t.accounts.c
    ids = list(uow.conn.execute(select(c.id).where(c.participant_id == intermediary_id,
                                                   c.kind == str(AccountKind.CUSTODY))).scalars())
    if len(ids) != 1:
        raise RegistryError(1003, "name custody_account_id: the intermediary has "
                                  f"{len(ids)} custody accounts", intermediary_id=intermediary_id)
    return str(ids[0])


def tokenize(reg: Registry, uow: UnitOfWork, actor: Actor, req: TokenizationIn) -> dict[str, Any]:
    """Immobilize units in the custody account of the intermediary serving the holder as a new lot; enqueue
    open-lot and mint. Needs the holder's act: its own request (its key, its account), or the intermediary
    presenting the holder's consent for this account (``consent_id``; the kg count against it). Nobody else
    tokenizes a holder's units (1002)."""
    holder_account = uow.repo.account(req.holder_account_id)
    consent: dict[str, Any] | None = None
    if actor.role == Role.INTERMEDIARY and actor.participant_id != holder_account.participant_id:
        consent = token_consents.require_consent(uow, actor, req.consent_id, holder_account.participant_id,
                                                 holder_account)
        if req.intermediary_id not in (None, actor.participant_id):
            raise RegistryError(1002, "an intermediary tokenizes under a consent for itself only")
        intermediary_id: str | None = actor.participant_id
    else:
        require_controls(actor, holder_account, "tokenize")
        intermediary_id = req.intermediary_id or _served_by(uow, holder_account.participant_id)
    holder = uow.repo.participant(holder_account.participant_id)
    if intermediary_id is None:
        raise RegistryError(5004, f"holder {holder.id} is not onboarded with an intermediary", participant_id=holder.id)
    intermediary = uow.repo.participant(intermediary_id)
    intermediary_wallet = _wallet(uow, intermediary.id)
    rules.check_intermediary(intermediary, intermediary_wallet)
    holder_wallet = _wallet(uow, holder.id)
    rules.check_holder(holder, holder_wallet, _served_by(uow, holder.id), intermediary.id)
    assert holder_wallet is not None
    require_active(holder_account, "holder")
    custody = uow.repo.account(_custody_account(uow, intermediary.id, req.custody_account_id))
    rules.check_custody(custody, intermediary.id)
    picks = select_units(uow, holder_account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                         project_id=req.project_id, vintage=req.vintage)
    lot_id, txn_id = new_id("lot"), new_id("txn")
    chain_lot_id = int(uow.conn.execute(select(func.coalesce(func.max(tt.token_lots.c.chain_lot_id), 0)))
                       .scalar_one()) + 1
    movement = rules.plan_immobilization(picks, txn_id, lambda: new_id("blk"), custody.id, lot_id)
    quantity_kg = movement.quantity_kg
    if consent is not None:
        token_consents.consume(uow, consent, quantity_kg)
    serials = [block_view(b)["serial"] for b in movement.moved]
    record(uow, movement, txn_id, "tokenization", actor.key_id, holder_account.id, custody.id,
           {"lot_id": lot_id, "chain_lot_id": chain_lot_id, "holder_address": holder_wallet,
            "intermediary_id": intermediary.id, "note": req.note,
            "consent": consent["id"] if consent is not None else "holder_key"})
    uow.repo.insert(tt.token_lots, id=lot_id, chain_lot_id=chain_lot_id, holder_participant_id=holder.id,
                    holder_account_id=holder_account.id, holder_address=holder_wallet,
                    intermediary_id=intermediary.id, custody_account_id=custody.id, quantity_kg=quantity_kg,
                    retired_kg=0, redeemed_kg=0, status=LotStatus.MINTING, frozen=False, serials=_dumps(serials),
                    txn_id=txn_id, mint_block=None, failure=None, created_at=uow.now, updated_at=uow.now)
    enqueue(uow, "open_lot", {"chain_lot_id": chain_lot_id, "immobilized_kg": quantity_kg}, lot_id)
    enqueue(uow, "mint", {"chain_lot_id": chain_lot_id, "to": holder_wallet, "amount_kg": quantity_kg}, lot_id)
    return lot_view(uow, lot_id)


# ------------------------------------------------------------------------------------------- lots
def lot_row(uow: UnitOfWork, lot_id: str) -> RowMapping:
    row = uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.id == lot_id)).mappings().first()
    if row is None:
        raise RegistryError(7003, f"lot {lot_id} not found", lot_id=lot_id)
    return row


def lot_by_chain_id(uow: UnitOfWork, chain_lot_id: int) -> RowMapping:
    row = uow.conn.execute(select(tt.token_lots).where(tt.token_lots.c.chain_lot_id == chain_lot_id)
                           ).mappings().first()
    if row is None:
        raise RegistryError(7003, f"no NR lot for chain lot {chain_lot_id}", chain_lot_id=chain_lot_id)
    return row


def _kg_by_state(uow: UnitOfWork, lot_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    c = t.blocks.c
    q = select(c.lot_id, c.state, func.sum(c.quantity_kg)).where(LEAF, c.lot_id.is_not(None))
    if lot_ids is not None:
        q = q.where(c.lot_id.in_(list(lot_ids)))
    out: dict[str, dict[str, int]] = {}
    for lot_id, state, kg in uow.conn.execute(q.group_by(c.lot_id, c.state)):
        out.setdefault(str(lot_id), {})[str(state)] = int(kg)
    return out


def lot_view(uow: UnitOfWork, lot_id: str, *, with_blocks: bool = False) -> dict[str, Any]:
    r = lot_row(uow, lot_id)
    kg = _kg_by_state(uow, [lot_id]).get(lot_id, {})
    view = _lot_dict(r, kg)
    if with_blocks:
        c = t.blocks.c
        rows = uow.conn.execute(select(t.blocks).where(LEAF, c.lot_id == lot_id)
                                .order_by(c.serial_prefix, c.first_kg)).mappings()
        view["blocks"] = [block_view(b) for b in rows]
        bc = tt.token_balances.c
        view["token_holders"] = [{"address": a, "balance_kg": int(b)} for a, b in uow.conn.execute(
            select(bc.address, bc.balance_kg).where(bc.chain_lot_id == r["chain_lot_id"], bc.balance_kg > 0)
            .order_by(bc.address))]
        ec = tt.token_events.c
        burns = uow.conn.execute(select(ec.tx_hash, ec.log_index, t.retirements.c.id).join(
            t.retirements, t.retirements.c.txn_id == ec.applied_txn).where(ec.chain_lot_id == r["chain_lot_id"])
            .order_by(ec.block_number, ec.log_index)).all()
        view["retirements"] = []
        for tx_hash, log_index, retirement_id in burns:
            ret = retirements.view(uow, retirement_id)
            view["retirements"].append({"id": retirement_id, "chain_tx": tx_hash, "log_index": log_index,
                                        "quantity_kg": ret["quantity_kg"], "serials": ret["serials"],
                                        "certificate_id": ret["certificate_id"], "created_at": ret["created_at"]})
        view["outbox"] = [outbox_view(o) for o in uow.conn.execute(
            select(tt.token_outbox).where(tt.token_outbox.c.lot_id == lot_id).order_by(tt.token_outbox.c.seq)
        ).mappings()]
    return view


def _lot_dict(r: Mapping[Any, Any], kg: Mapping[str, int]) -> dict[str, Any]:
    return dict(id=r["id"], chain_lot_id=r["chain_lot_id"], status=r["status"], frozen=bool(r["frozen"]),
                holder_participant_id=r["holder_participant_id"], holder_account_id=r["holder_account_id"],
                holder_address=r["holder_address"], intermediary_id=r["intermediary_id"],
                custody_account_id=r["custody_account_id"], quantity_kg=r["quantity_kg"],
                immobilized_kg=kg.get(str(BlockState.IMMOBILIZED), 0), retired_kg=r["retired_kg"],
                redeemed_kg=r["redeemed_kg"], serials=json.loads(r["serials"]), txn_id=r["txn_id"],
                mint_block=r["mint_block"], failure=r["failure"], created_at=r["created_at"],
                updated_at=r["updated_at"])


def list_lots(uow: UnitOfWork, *, limit: int, cursor: str | None, where: Sequence[Any] = ()) -> dict[str, Any]:
    rows, nxt = uow.repo.page(tt.token_lots, limit=limit, cursor=cursor, where=where)
    kg = _kg_by_state(uow, [r["id"] for r in rows])
    return {"data": [_lot_dict(r, kg.get(r["id"], {})) for r in rows], "next_cursor": nxt}


def _set_lot(uow: UnitOfWork, lot_id: str, **values: Any) -> None:
    uow.repo.update(tt.token_lots, [tt.token_lots.c.id == lot_id], updated_at=uow.now, **values)


# ------------------------------------------------------------------------------------------- chain outcomes
def confirm(uow: UnitOfWork, outbox_id: str, tx_hash: str | None, block_number: int | None) -> None:
    """The chain executed the row's operation (its receipt, or the contract says the op id is used)."""
    row = uow.conn.execute(select(tt.token_outbox).where(tt.token_outbox.c.id == outbox_id)).mappings().one()
    if row["status"] in TERMINAL:
        return
    set_outbox(uow, outbox_id, status=CONFIRMED, tx_hash=tx_hash or row["tx_hash"], last_error=None)
    if row["kind"] == "mint" and row["lot_id"] is not None:
        _set_lot(uow, row["lot_id"], status=LotStatus.ACTIVE, mint_block=block_number)
        lot = lot_row(uow, row["lot_id"])
        uow.append("tokens_minted", {"lot_id": lot["id"], "chain_lot_id": lot["chain_lot_id"],
                                     "amount_kg": lot["quantity_kg"], "to": lot["holder_address"],
                                     "chain_tx": tx_hash or row["tx_hash"], "block": block_number,
                                     "outbox_id": outbox_id})
    elif row["kind"] in ("set_identity", "set_intermediary"):
        c = tt.token_identity_sync.c
        uow.repo.update(tt.token_identity_sync, [c.outbox_id == outbox_id], status=CONFIRMED, updated_at=uow.now)


def fail(uow: UnitOfWork, outbox_id: str, code: int, reason: str) -> None:
    """The chain rejected the row's operation for good. A lot's open/mint is compensated in the NR: its
    units go back to the holder and the lot fails with 7002; nothing is left half-done."""
    row = uow.conn.execute(select(tt.token_outbox).where(tt.token_outbox.c.id == outbox_id)).mappings().one()
    if row["status"] in TERMINAL:
        return
    message = f"7002 CHAIN_REJECTED: {code} {reason}"
    set_outbox(uow, outbox_id, status=FAILED, last_error=message)
    if row["kind"] in LOT_OPS and row["lot_id"] is not None:
        _compensate_lot(uow, row["lot_id"], outbox_id, message)
    elif row["kind"] in ("set_identity", "set_intermediary"):
        c = tt.token_identity_sync.c
        uow.repo.update(tt.token_identity_sync, [c.outbox_id == outbox_id], status=FAILED, updated_at=uow.now)


def _compensate_lot(uow: UnitOfWork, lot_id: str, outbox_id: str, message: str) -> None:
    lot = lot_row(uow, lot_id)
    if lot["status"] != LotStatus.MINTING:
        return
    leaves = list(uow.repo.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot_id))
    assert sum(b.quantity_kg for b in leaves) == lot["quantity_kg"], "a lot that never minted lost units"
    txn_id = new_id("txn")
    picks = rules.pick_from_lot(leaves, lot["quantity_kg"], lot_id)
    movement = rules.plan_release(picks, txn_id, lambda: new_id("blk"), lot["holder_account_id"])
    record(uow, movement, txn_id, "tokenization_compensated", SYSTEM_ACTOR.key_id, lot["custody_account_id"],
           lot["holder_account_id"], {"lot_id": lot_id, "chain_lot_id": lot["chain_lot_id"], "code": 7002,
                                      "reason": message, "outbox_id": outbox_id})
    _set_lot(uow, lot_id, status=LotStatus.FAILED, failure=message)
    c = tt.token_outbox.c
    uow.repo.update(tt.token_outbox, [c.lot_id == lot_id, c.id != outbox_id, c.status.in_([PENDING, SENT]),
                                      c.kind.in_(list(LOT_OPS))],
                    status=FAILED, last_error=f"lot {lot_id} compensated after {outbox_id} failed", updated_at=uow.now)


def apply_transfer(uow: UnitOfWork, chain_lot_id: int, sender: str | None, receiver: str | None,
                   amount_kg: int) -> None:
    """Mirror a TransferSingle (mint: from zero, burn: to zero) into ``token_balances``."""
    zero = "0x" + "00" * 20
    c = tt.token_balances.c
    for address, delta_kg in ((sender, -amount_kg), (receiver, amount_kg)):
        if address is None or address.lower() == zero:
            continue
        key = address.lower()
        current = uow.conn.execute(select(c.balance_kg).where(c.chain_lot_id == chain_lot_id, c.address == key)
                                   ).scalar()
        if current is None:
            uow.repo.insert(tt.token_balances, chain_lot_id=chain_lot_id, address=key, balance_kg=delta_kg)
        else:
            uow.repo.update(tt.token_balances, [c.chain_lot_id == chain_lot_id, c.address == key],
                            balance_kg=int(current) + delta_kg)


def _participant_by_wallet(uow: UnitOfWork, address: str) -> RowMapping | None:
    return uow.conn.execute(select(t.participants).where(t.participants.c.wallet_address == address.lower())
                            ).mappings().first()


def apply_retired(reg: Registry, uow: UnitOfWork, event: Mapping[Any, Any]) -> tuple[str, int]:
    """A burn for a claim on chain becomes an NR retirement of the lot's lowest serials, with the chain
    tx as evidence and a certificate. Returns (transaction id, journal seq)."""
    lot = lot_by_chain_id(uow, int(event["lot_id"]))
    amount_kg = int(event["amount_kg"])
    try:
        purpose = Purpose(str(event["purpose"]))
    except ValueError as exc:
        raise RegistryError(1003, f"purpose {event['purpose']!r} burned on chain is not a registry purpose",
                            purpose=str(event["purpose"])[:40]) from exc
    leaves = uow.repo.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot["id"])
    picks = rules.pick_from_lot(leaves, amount_kg, lot["id"])
    holder = _participant_by_wallet(uow, str(event["holder"]))
    country = holder["country"] if holder is not None else reg.profile.country
    beneficiary = {"name": (str(event["beneficiary"]) or (holder["name"] if holder else "unnamed"))[:200],
                   "country": country}
    evidence = {"chain_tx": event["tx_hash"], "log_index": event["log_index"], "block": event["block_number"],
                "chain_lot_id": lot["chain_lot_id"], "lot_id": lot["id"], "holder_address": event["holder"],
                "chain_retirement_seq": event.get("seq")}
    # The user of the units is the token holder; the units sit in the intermediary's custody account.
    user = holder["id"] if holder is not None else lot["holder_participant_id"]
    _, txn_id, seq = retirements.record_retirement(
        reg, uow, actor_key=SYSTEM_ACTOR.key_id, account_id=lot["custody_account_id"], user_participant_id=user,
        picks=picks, beneficiary=beneficiary, purpose=purpose, claim_year=int(event["claim_year"]),
        note="retired on chain (token burn)", evidence=evidence)
    _set_lot(uow, lot["id"], retired_kg=int(lot["retired_kg"]) + amount_kg)
    return txn_id, seq


def apply_redeemed(reg: Registry, uow: UnitOfWork, event: Mapping[Any, Any]) -> tuple[str, int]:
    """A burn for redemption releases the lot's lowest serials into the holder's NR account named on chain."""
    lot = lot_by_chain_id(uow, int(event["lot_id"]))
    amount_kg = int(event["amount_kg"])
    account_id = str(event["nr_account"])
    row = uow.conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise RegistryError(1005, f"redemption names NR account {account_id[:64]!r}, which does not exist",
                            account_id=account_id[:64])
    account = uow.repo.account(account_id)
    holder = _participant_by_wallet(uow, str(event["holder"]))
    if holder is None or holder["id"] != account.participant_id:
        raise RegistryError(1002, f"account {account_id} does not belong to the token holder {event['holder']}",
                            account_id=account_id, holder=str(event["holder"]))
    require_active(account, "redeeming")
    if account.kind != AccountKind.HOLDING:
        raise RegistryError(1003, f"redemption goes to a holding account, not a {account.kind} account",
                            account_id=account_id)
    leaves = uow.repo.free_leaves(lot["custody_account_id"], BlockState.IMMOBILIZED, lot_id=lot["id"])
    picks = rules.pick_from_lot(leaves, amount_kg, lot["id"])
    txn_id = new_id("txn")
    movement = rules.plan_release(picks, txn_id, lambda: new_id("blk"), account.id)
    seq, _ = record(uow, movement, txn_id, "redemption", SYSTEM_ACTOR.key_id, lot["custody_account_id"], account.id,
                    {"lot_id": lot["id"], "chain_lot_id": lot["chain_lot_id"], "chain_tx": event["tx_hash"],
                     "log_index": event["log_index"], "block": event["block_number"],
                     "holder_address": event["holder"], "chain_redemption_seq": event.get("seq")})
    _set_lot(uow, lot["id"], redeemed_kg=int(lot["redeemed_kg"]) + amount_kg)
    return txn_id, seq


def freeze_lot(uow: UnitOfWork, lot_id: str, reason: str, report_id: str) -> bool:
    """Freeze a lot in the NR (journal entry) and enqueue the freeze on chain. False if already frozen."""
    lot = lot_row(uow, lot_id)
    if lot["frozen"]:
        return False
    _set_lot(uow, lot_id, frozen=True)
    enqueue(uow, "freeze_lot", {"chain_lot_id": lot["chain_lot_id"]}, lot_id)
    uow.append("lot_frozen", {"lot_id": lot_id, "chain_lot_id": lot["chain_lot_id"], "code": 7001,
                              "reason": reason, "reconciliation_id": report_id})
    return True


# ------------------------------------------------------------------------------------------- I4
def event_cursor_block(uow: UnitOfWork, contract_address: str) -> int | None:
    """The last chain block whose events the NR has consumed (None before the first read)."""
    value = uow.conn.execute(select(tt.token_event_cursor.c.next_block)
                             .where(tt.token_event_cursor.c.contract_address == contract_address)).scalar()
    return None if value is None else int(value) - 1


def lot_facts(uow: UnitOfWork, reader: ChainReader | None = None, at_block: int | None = None,
              lot_ids: Sequence[str] | None = None) -> list[LotFacts]:
    """Every lot as the NR records it; with a reader, plus the chain's figures at ``at_block`` (the last
    block whose events the NR has consumed, so both sides describe the same moment)."""
    q = select(tt.token_lots)
    if lot_ids is not None:
        q = q.where(tt.token_lots.c.id.in_(list(lot_ids)))
    lots = list(uow.conn.execute(q.order_by(tt.token_lots.c.chain_lot_id)).mappings())
    kg = _kg_by_state(uow, None if lot_ids is None else list(lot_ids))
    c = tt.token_outbox.c
    busy = {str(r[0]) for r in uow.conn.execute(
        select(c.lot_id).where(c.lot_id.is_not(None), c.status.in_([PENDING, SENT]), c.kind.in_(list(LOT_OPS)))
        .distinct())}
    chain: dict[int, ChainLotFigures] = {}
    if reader is not None and at_block is not None and at_block >= 0 and lots:
        chain = reader([int(r["chain_lot_id"]) for r in lots], at_block)
    unsettled = token_burns.unsettled_by_lot(uow)
    facts: list[LotFacts] = []
    for r in lots:
        by_state = kg.get(r["id"], {})
        accepted_retire_kg, accepted_redeem_kg, refused_kg = unsettled.get(int(r["chain_lot_id"]), (0, 0, 0))
        in_flight = (r["status"] == LotStatus.MINTING or r["id"] in busy
                     or (r["mint_block"] is not None and at_block is not None and int(r["mint_block"]) > at_block))
        facts.append(LotFacts(
            lot_id=r["id"], chain_lot_id=int(r["chain_lot_id"]), status=r["status"],
            quantity_kg=int(r["quantity_kg"]), immobilized_kg=by_state.get(str(BlockState.IMMOBILIZED), 0),
            retired_kg=by_state.get(str(BlockState.RETIRED), 0), retired_counter_kg=int(r["retired_kg"]),
            redeemed_kg=int(r["redeemed_kg"]), chain=chain.get(int(r["chain_lot_id"])), in_flight=in_flight,
            accepted_retire_kg=accepted_retire_kg, accepted_redeem_kg=accepted_redeem_kg, refused_kg=refused_kg))
    return facts


def load_lot_facts(uow: UnitOfWork, snapshot: LedgerSnapshot) -> None:
    """I4 snapshot loader: NR lot facts always; the chain's figures when a bridge serves this store."""
    reader: ChainReader | None = None
    at_block: int | None = None
    source = CHAIN_READERS.get(uow.store)
    attached = source() if source is not None else None
    if attached is not None:
        reader, contract_address = attached
        at_block = event_cursor_block(uow, contract_address)
    snapshot.extra[rules.LOT_FACTS_KEY] = lot_facts(uow, reader, at_block)

