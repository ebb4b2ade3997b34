"""Pledges with lien ids (rules: ``domain/pledge.py``): registry units pledged to a bank, and the mirror of tokens
pledged on chain (CarbonToken ``pledge``), under one model and one table (``liens``).

Registry units:

| step | who | effect |
|---|---|---|
| request | the holder (its own account) | a lien ``requested``; nothing is locked yet (the kg must be free now) |
| withdraw | the holder, while requested | ``withdrawn`` |
| accept | the pledgee (a bank) | ``active``: the lien's kg (lowest free serials) become blocks in state |
|  |  | ``pledged`` carrying the lien id: every movement path refuses them (4003) without reading the liens |
| release (part or all) | the pledgee | that many pledged kg go back to ``held`` (lowest serials of the lien first) |
| default | the pledgee | ``defaulted`` (enforcement now allowed) |
| enforce (part or all) | the pledgee | that many pledged kg move, ``held``, to the pledgee's own holding account |

The pledgee must be an active, KYC-verified participant of kind ``bank`` (5004 otherwise); the acting key is a
``bank`` role key of that participant (1002 otherwise, ``domain.pledge``). An administrative (forced) transfer
takes the free balance first, then the live liens newest first (``forced_picks``), and records what it took from
each lien as released by that transfer (journaled with the transfer).

Tokens: the holder pledges on chain with its own key; the bridge's event consumer applies ``Pledged`` /
``Released`` / ``Enforced`` / ``PledgeDelivered`` once each (``apply_chain_event``, in the transaction of its
``token_events`` row) and keeps a ``liens`` row with asset ``tokens`` and the chain evidence. The chain enforces
7004; the registry mirrors it. A pledge to a wallet that is not an active bank participant is recorded (the
tokens are locked on chain all the same) with a ``flag`` saying so. Pledges to the DvP escrow are the escrow's
own lock (docs/settlement.md), not liens: they are skipped here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import or_, select

from sovcarbon.domain import pledge as rules
from sovcarbon.domain.access import require_controls, require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, carve, pick_by_quantity
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.invariants import LedgerSnapshot
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import (
    HOLDING_ROLES,
    AccountKind,
    AccountStatus,
    Actor,
    Block,
    BlockState,
    KycStatus,
    ParticipantKind,
    ParticipantStatus,
    Role,
)
from sovcarbon.services import settlement
from sovcarbon.services.movements import record, select_units
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import Command, Id, Kg
from sovcarbon.store import lien_tables as lt
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.repository import BLOCK_COLS, block_from_tuple
from sovcarbon.store.uow import UnitOfWork

CHAIN_EVENTS = ("Pledged", "Released", "Enforced", "PledgeDelivered")
SETTLEMENT_SETTING = "settlement_contracts"  # bridge/settlement_setup.py: "<chain id>:<cash>:<escrow>"


class LienIn(Command):
    account_id: Id
    pledgee_id: Id
    quantity_kg: Kg
    note: Annotated[str, Field(max_length=2000)] = ""


class LienQuantityIn(Command):
    quantity_kg: Kg | None = None  # None: all that remains


class LienEnforceIn(LienQuantityIn):
    to_account_id: Id | None = None  # the pledgee's holding account (default: its first active one)


# ------------------------------------------------------------------------------------------------ reading
def _row(uow: UnitOfWork, lien_id: str) -> Mapping[Any, Any]:
    return uow.repo.one(lt.liens, lien_id, "lien")


def _lien(r: Mapping[Any, Any]) -> rules.Lien:
    return rules.lien_from_row(r)


def view(r: Mapping[Any, Any], blocks: Sequence[Block] | None = None) -> dict[str, Any]:
    lien = _lien(r)
    out = {k: r[k] for k in ("id", "asset", "holding", "account_id", "chain_lot_id", "holder_address", "pledgor_id",
                             "pledgee_id", "pledgee_address", "pledged_kg", "released_kg", "enforced_kg", "status",
                             "flag", "created_at", "updated_at")}
    out["remaining_kg"] = lien.remaining_kg
    out["evidence"] = ({"tx_hash": r["tx_hash"], "log_index": r["log_index"], "block_number": r["block_number"]}
                       if r["tx_hash"] else None)
    out["history"] = json.loads(r["detail"]).get("history", [])
    if blocks is not None:
        out["pledged_serials"] = [{"serial_prefix": b.serial_prefix, "first_kg": b.first_kg, "last_kg": b.last_kg,
                                   "quantity_kg": b.quantity_kg, "frozen": b.frozen} for b in blocks]
    return out


def _visible(actor: Actor, r: Mapping[Any, Any]) -> bool:
    return actor.role in READ_ALL_ROLES or (actor.participant_id is not None
                                            and actor.participant_id in (r["pledgor_id"], r["pledgee_id"]))


def get(uow: UnitOfWork, actor: Actor, lien_id: str) -> dict[str, Any]:
    r = uow.conn.execute(select(lt.liens).where(lt.liens.c.id == lien_id)).mappings().first()
    if r is None or not _visible(actor, r):
        raise RegistryError(1005, f"lien {lien_id} not found", id=lien_id)
    return view(r, lien_leaves(uow, lien_id) if r["asset"] == rules.UNITS else None)


def list_liens(uow: UnitOfWork, actor: Actor, *, side: str | None = None, status: str | None = None,
               account_id: str | None = None) -> list[dict[str, Any]]:
    """A statement: the liens the caller gave (``side`` pledgor), took (pledgee) or both; officers and the
    regulator see all. ``account_id`` narrows to one holding account's liens."""
    c = lt.liens.c
    q = select(lt.liens).order_by(c.created_at, c.id)
    if actor.role not in READ_ALL_ROLES:
        mine = actor.participant_id or ""
        if side == "pledgor":
            q = q.where(c.pledgor_id == mine)
        elif side == "pledgee":
            q = q.where(c.pledgee_id == mine)
        else:
            q = q.where(or_(c.pledgor_id == mine, c.pledgee_id == mine))
    elif side == "pledgor" and actor.participant_id:
        q = q.where(c.pledgor_id == actor.participant_id)
    elif side == "pledgee" and actor.participant_id:
        q = q.where(c.pledgee_id == actor.participant_id)
    if status is not None:
        q = q.where(c.status == status)
    if account_id is not None:
        q = q.where(c.account_id == account_id)
    return [view(r) for r in uow.conn.execute(q).mappings()]


def account_liens(uow: UnitOfWork, account_id: str) -> list[dict[str, Any]]:
    """The liens on one account (its holder's statement of what it pledged)."""
    c = lt.liens.c
    return [view(r) for r in uow.conn.execute(select(lt.liens).where(c.holding == account_id)
                                              .order_by(c.created_at, c.id)).mappings()]


def lien_leaves(uow: UnitOfWork, lien_id: str) -> list[Block]:
    """The pledged leaf blocks of a lien, lowest serials first (index ix_blocks_leaf_lien)."""
    rows = uow.repo.hot.all(f"SELECT {BLOCK_COLS} FROM blocks WHERE is_leaf AND lien_id = ? AND state = ? "
                            "ORDER BY lien_id, serial_prefix, first_kg", (lien_id, str(BlockState.PLEDGED)))
    return [block_from_tuple(r) for r in rows]


def _liens_of(uow: UnitOfWork, holding: str) -> list[rules.Lien]:
    c = lt.liens.c
    return [_lien(r) for r in uow.conn.execute(select(lt.liens).where(c.holding == holding)
                                               .order_by(c.created_at, c.id)).mappings()]


def _held_free_kg(uow: UnitOfWork, account_id: str) -> int:
    row = uow.repo.hot.one("SELECT COALESCE(SUM(last_kg - first_kg + 1), 0) FROM blocks WHERE is_leaf AND "
                           "account_id = ? AND state = ? AND NOT frozen", (account_id, str(BlockState.HELD)))
    return int(row[0])


def _units_balance(uow: UnitOfWork, account_id: str, liens: Iterable[rules.Lien]) -> int:
    """What the domain's rules call the balance of a holding: its free held kg plus its live liens' kg."""
    return _held_free_kg(uow, account_id) + rules.pledged_kg(liens, account_id)


# ------------------------------------------------------------------------------------------------ writing
def _history(r: Mapping[Any, Any] | None, step: str, **facts: Any) -> str:
    detail = json.loads(r["detail"]) if r is not None else {}
    detail.setdefault("history", []).append({"step": step, **facts})
    return canonical_text(detail)


def _save(uow: UnitOfWork, r: Mapping[Any, Any], lien: rules.Lien, step: str, **facts: Any) -> None:
    uow.repo.update(lt.liens, [lt.liens.c.id == lien.id], status=lien.status, released_kg=lien.released_kg,
                    enforced_kg=lien.enforced_kg, detail=_history(r, step, at=uow.now, **facts), updated_at=uow.now)


def _require_bank(uow: UnitOfWork, participant_id: str) -> None:
    p = uow.repo.participant(participant_id)
    if p.kind != ParticipantKind.BANK or p.status != ParticipantStatus.ACTIVE or p.kyc_status != KycStatus.VERIFIED:
        raise RegistryError(5004, f"pledgee {participant_id} is not an active, KYC-verified bank participant",
                            pledgee_id=participant_id, kind=str(p.kind), status=str(p.status),
                            kyc_status=str(p.kyc_status))


def request(uow: UnitOfWork, actor: Actor, req: LienIn) -> dict[str, Any]:
    account = uow.repo.account(req.account_id)
    require_controls(actor, account, "pledge")
    if account.kind != AccountKind.HOLDING or account.status != AccountStatus.ACTIVE:
        raise RegistryError(3004, f"account {account.id} is a {account.status} {account.kind} account: only an "
                                  "active holding account pledges", account_id=account.id)
    _require_bank(uow, req.pledgee_id)
    liens = _liens_of(uow, account.id)
    lien = rules.request(new_id("plg"), rules.UNITS, account.id, account.participant_id, req.pledgee_id,
                         req.quantity_kg, _units_balance(uow, account.id, liens), liens)
    row = dict(id=lien.id, asset=lien.asset, holding=lien.holding, account_id=account.id, chain_lot_id=None,
               holder_address=None, pledgor_id=lien.pledgor_id, pledgee_id=lien.pledgee_id, pledgee_address=None,
               pledged_kg=lien.pledged_kg, released_kg=0, enforced_kg=0, status=lien.status, flag=None, tx_hash=None,
               log_index=None, block_number=None,
               detail=_history(None, "requested", at=uow.now, by=actor.key_id, kg=lien.pledged_kg, note=req.note),
               requested_by_key=actor.key_id, created_at=uow.now, updated_at=uow.now)
    uow.repo.insert(lt.liens, **row)
    entry = uow.append("lien_requested", {"actor": actor.key_id, "lien_id": lien.id, "account_id": account.id,
                                          "pledgor_id": lien.pledgor_id, "pledgee_id": lien.pledgee_id,
                                          "quantity_kg": lien.pledged_kg, "note": req.note})
    return {**get(uow, actor, lien.id), "journal_seq": entry.seq}


def _units_lien(uow: UnitOfWork, actor: Actor, lien_id: str, action: str) -> tuple[Mapping[Any, Any], rules.Lien]:
    """The lien, after the early role gate (1002 before a lookup: a bank acts as pledgee, a holder withdraws)."""
    require_role(actor, HOLDING_ROLES if action == "withdraw" else [Role.BANK], f"{action} a lien")
    r = _row(uow, lien_id)
    if r["asset"] != rules.UNITS:
        raise RegistryError(1008, f"lien {lien_id} pledges tokens on chain: the pledgee must {action} it on chain "
                                  "(the registry mirrors the chain's events)", lien_id=lien_id)
    return r, _lien(r)


def accept(uow: UnitOfWork, actor: Actor, lien_id: str) -> dict[str, Any]:
    r, lien = _units_lien(uow, actor, lien_id, "accept")
    liens = _liens_of(uow, lien.holding)
    done = rules.accept(lien, actor.participant_id or "", _units_balance(uow, lien.holding, liens), liens)
    account = uow.repo.account(lien.holding)
    if account.status != AccountStatus.ACTIVE:  # suspended or closed since the request: nothing is locked there
        raise RegistryError(3004, f"account {account.id} is {account.status}: its units are not pledged now",
                            account_id=account.id, lien_id=lien.id, status=str(account.status))
    _require_bank(uow, lien.pledgee_id)
    picks = select_units(uow, lien.holding, quantity_kg=lien.pledged_kg, serials=None)
    txn_id = new_id("txn")
    movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.PLEDGED, lien_id=lien.id)
    seq, _ = record(uow, movement, txn_id, "pledge", actor.key_id, lien.holding, None,
                    {"lien_id": lien.id, "pledgor_id": lien.pledgor_id, "pledgee_id": lien.pledgee_id},
                    journal_kind="lien_accepted")
    _save(uow, r, done, "accepted", by=actor.key_id, kg=lien.pledged_kg, txn_id=txn_id)
    return {**get(uow, actor, lien_id), "journal_seq": seq, "txn_id": txn_id}


def withdraw(uow: UnitOfWork, actor: Actor, lien_id: str) -> dict[str, Any]:
    r, lien = _units_lien(uow, actor, lien_id, "withdraw")
    done = rules.withdraw(lien, actor.participant_id or "")
    _save(uow, r, done, "withdrawn", by=actor.key_id)
    entry = uow.append("lien_withdrawn", {"actor": actor.key_id, "lien_id": lien.id, "account_id": lien.holding})
    return {**get(uow, actor, lien_id), "journal_seq": entry.seq}


def notify_default(uow: UnitOfWork, actor: Actor, lien_id: str) -> dict[str, Any]:
    """The pledgee notifies a default (units and tokens alike: for tokens it is the registry's record)."""
    require_role(actor, [Role.BANK], "notify a default")
    r = _row(uow, lien_id)
    done = rules.notify_default(_lien(r), actor.participant_id or "")
    _save(uow, r, done, "default_notified", by=actor.key_id)
    entry = uow.append("lien_default_notified", {"actor": actor.key_id, "lien_id": lien_id, "holding": r["holding"],
                                                 "remaining_kg": done.remaining_kg})
    return {**get(uow, actor, lien_id), "journal_seq": entry.seq}


def _take(uow: UnitOfWork, lien: rules.Lien, quantity_kg: int) -> list[Pick]:
    """``quantity_kg`` of the lien's pledged leaves, lowest serials first; frozen units do not move (4006)."""
    leaves = [b for b in lien_leaves(uow, lien.id) if not b.frozen]
    picks = pick_by_quantity(leaves, quantity_kg)
    got = sum(p.quantity_kg for p in picks)
    if got < quantity_kg:
        raise RegistryError(4006, f"lien {lien.id}: {quantity_kg - got} kg of its units are frozen",
                            lien_id=lien.id, requested_kg=quantity_kg, movable_kg=got)
    return picks


def release(uow: UnitOfWork, actor: Actor, lien_id: str, req: LienQuantityIn) -> dict[str, Any]:
    r, lien = _units_lien(uow, actor, lien_id, "release")
    done = rules.release(lien, actor.participant_id or "", req.quantity_kg)
    kg = done.released_kg - lien.released_kg
    txn_id = new_id("txn")
    movement = carve(_take(uow, lien, kg), txn_id, lambda: new_id("blk"), state=BlockState.HELD, lien_id=None)
    seq, _ = record(uow, movement, txn_id, "pledge_release", actor.key_id, lien.holding, None,
                    {"lien_id": lien.id, "pledgee_id": lien.pledgee_id, "remaining_kg": done.remaining_kg},
                    journal_kind="lien_released")
    _save(uow, r, done, "released", by=actor.key_id, kg=kg, txn_id=txn_id)
    return {**get(uow, actor, lien_id), "journal_seq": seq, "txn_id": txn_id}


def _pledgee_account(uow: UnitOfWork, pledgee_id: str, account_id: str | None) -> str:
    c = t.accounts.c
    if account_id is None:
        found = uow.conn.execute(select(c.id).where(c.participant_id == pledgee_id, c.kind == str(AccountKind.HOLDING),
                                                    c.status == str(AccountStatus.ACTIVE))
                                 .order_by(c.created_at, c.id).limit(1)).scalar()
        if found is None:
            raise RegistryError(3004, f"pledgee {pledgee_id} has no active holding account to enforce into",
                                pledgee_id=pledgee_id)
        return str(found)
    account = uow.repo.account(account_id)
    if account.participant_id != pledgee_id:
        raise RegistryError(1002, f"account {account_id} is not the pledgee's own account", account_id=account_id)
    if account.kind != AccountKind.HOLDING or account.status != AccountStatus.ACTIVE:
        raise RegistryError(3004, f"account {account_id} is not an active holding account", account_id=account_id)
    return account.id


def enforce(uow: UnitOfWork, actor: Actor, lien_id: str, req: LienEnforceIn) -> dict[str, Any]:
    """After a notified default the pledgee takes (part of) the lien into its own holding account."""
    r, lien = _units_lien(uow, actor, lien_id, "enforce")
    done = rules.enforce(lien, actor.participant_id or "", req.quantity_kg)
    kg = done.enforced_kg - lien.enforced_kg
    _require_bank(uow, lien.pledgee_id)
    to_account = _pledgee_account(uow, lien.pledgee_id, req.to_account_id)
    txn_id = new_id("txn")
    movement = carve(_take(uow, lien, kg), txn_id, lambda: new_id("blk"), state=BlockState.HELD, lien_id=None,
                     account_id=to_account)
    seq, _ = record(uow, movement, txn_id, "pledge_enforcement", actor.key_id, lien.holding, to_account,
                    {"lien_id": lien.id, "pledgee_id": lien.pledgee_id, "remaining_kg": done.remaining_kg},
                    journal_kind="lien_enforced")
    _save(uow, r, done, "enforced", by=actor.key_id, kg=kg, txn_id=txn_id, to_account_id=to_account)
    return {**get(uow, actor, lien_id), "journal_seq": seq, "txn_id": txn_id}


# ------------------------------------------------------------------------------ forced (administrative) moves
def forced_picks(uow: UnitOfWork, account_id: str, quantity_kg: int, *, project_id: str | None = None,
                 vintage: int | None = None) -> tuple[list[Pick], list[tuple[str, int]]]:
    """An administrative transfer's units by quantity: the free balance first (lowest serials), then the live
    liens, newest first (``domain.pledge.forced_move``). Returns the picks and (lien id, kg) taken per lien;
    4001 beyond free + pledged."""
    held = list(uow.repo.blocks.free_leaves(account_id, BlockState.HELD, project_id=project_id, vintage=vintage))
    picks = pick_by_quantity(held, quantity_kg) if held else []
    need = quantity_kg - sum(p.quantity_kg for p in picks)
    taken: list[tuple[str, int]] = []
    if need > 0:
        c = lt.liens.c
        live = uow.conn.execute(select(c.id).where(c.holding == account_id, c.status.in_(sorted(rules.LIVE)))
                                .order_by(c.created_at.desc(), c.id.desc())).scalars()
        for lien_id in live:
            leaves = [b for b in lien_leaves(uow, lien_id) if not b.frozen
                      and (project_id is None or b.project_id == project_id)
                      and (vintage is None or b.vintage == vintage)]
            if not leaves:
                continue
            more = pick_by_quantity(leaves, need)
            kg = sum(p.quantity_kg for p in more)
            picks += more
            taken.append((str(lien_id), kg))
            need -= kg
            if need == 0:
                break
    if need > 0:
        raise RegistryError(4001, "quantity above the account's balance (free and pledged)",
                            requested_kg=quantity_kg, available_kg=quantity_kg - need, account_id=account_id)
    return picks, taken


def liens_of_picks(picks: Iterable[Pick]) -> list[tuple[str, int]]:
    """(lien id, kg) of the pledged units among ``picks`` (an administrative transfer by serials)."""
    out: dict[str, int] = {}
    for p in picks:
        if p.block.state == BlockState.PLEDGED and p.block.lien_id is not None:
            out[p.block.lien_id] = out.get(p.block.lien_id, 0) + p.quantity_kg
    return sorted(out.items())


def reduce_for_forced_move(uow: UnitOfWork, taken: Iterable[tuple[str, int]], admin_transfer_id: str,
                           txn_id: str) -> list[dict[str, Any]]:
    """Record on each lien what an administrative transfer took from it (as released by that transfer)."""
    out = []
    for lien_id, kg in taken:
        r = _row(uow, lien_id)
        lien = _lien(r)
        if kg > lien.remaining_kg or lien.status not in rules.LIVE:
            raise RegistryError(1008, f"lien {lien_id} is {lien.status} with {lien.remaining_kg} kg: "
                                      f"cannot take {kg} kg", lien_id=lien_id)
        released = lien.released_kg + kg
        status = rules.RELEASED if released + lien.enforced_kg == lien.pledged_kg else lien.status
        done = rules.Lien(**{**lien.__dict__, "released_kg": released, "status": status})
        _save(uow, r, done, "taken_by_administrative_transfer", kg=kg, admin_transfer_id=admin_transfer_id,
              txn_id=txn_id)
        out.append({"lien_id": lien_id, "kg": kg, "remaining_kg": done.remaining_kg, "status": done.status})
    return out


# ------------------------------------------------------------------------------------------ tokens on chain
def _escrow_addresses(uow: UnitOfWork) -> set[str]:
    """The DvP escrow's address: the one this registry recorded, and the one attached to this store."""
    out = set()
    value = uow.repo.setting(SETTLEMENT_SETTING)
    if value and value.count(":") == 2:
        out.add(value.rsplit(":", 1)[1].lower())
    attached = settlement.ESCROW_READERS.get(uow.store)
    if attached is not None:
        out.add(str(attached[0]).lower())
    return out


def _participant_by_wallet(uow: UnitOfWork, address: str) -> Mapping[Any, Any] | None:
    return uow.conn.execute(select(t.participants).where(t.participants.c.wallet_address == address.lower())
                            ).mappings().first()


def apply_chain_event(uow: UnitOfWork, event: Mapping[Any, Any]) -> int | None:
    """Apply one carbon-token pledge event (called once per (tx hash, log index) by the bridge's consumer, in
    the transaction that records it). Returns the journal seq, or None for the DvP escrow's own pledges."""
    name = str(event["name"])
    holder = str(event.get("holder") or "").lower()
    pledgee = str(event.get("pledgee") or "").lower()
    amount = event.get("amount_kg")
    lot = event.get("lot_id")
    if not holder or not pledgee or not isinstance(amount, int) or not isinstance(lot, int) or amount <= 0:
        raise RegistryError(7002, f"{name} without holder, pledgee, lot or a positive amount")
    if pledgee in _escrow_addresses(uow):
        return None  # the DvP escrow's lock of a funded delivery leg: escrow conservation covers it
    evidence = {"tx_hash": str(event["tx_hash"]), "log_index": int(event["log_index"]),
                "block_number": int(event["block_number"])}
    holding = f"{holder}:{lot}"
    if name == "Pledged":
        pledgor_row = _participant_by_wallet(uow, holder)
        pledgee_row = _participant_by_wallet(uow, pledgee)
        flag = None
        if pledgee_row is None:
            flag = "the pledgee's wallet belongs to no participant of this registry"
        elif (pledgee_row["kind"] != ParticipantKind.BANK or pledgee_row["status"] != ParticipantStatus.ACTIVE
              or pledgee_row["kyc_status"] != KycStatus.VERIFIED):
            flag = f"the pledgee {pledgee_row['id']} is not an active, KYC-verified bank participant"
        lien_id = new_id("plg")
        uow.repo.insert(lt.liens, id=lien_id, asset=rules.TOKENS, holding=holding, account_id=None, chain_lot_id=lot,
                        holder_address=holder, pledgor_id=None if pledgor_row is None else pledgor_row["id"],
                        pledgee_id=None if pledgee_row is None else pledgee_row["id"], pledgee_address=pledgee,
                        pledged_kg=amount, released_kg=0, enforced_kg=0, status=rules.ACTIVE, flag=flag,
                        detail=_history(None, "pledged_on_chain", at=uow.now, kg=amount, **evidence),
                        requested_by_key=None, created_at=uow.now, updated_at=uow.now, **evidence)
        entry = uow.append("lien_pledged_on_chain", {"lien_id": lien_id, "holding": holding, "chain_lot_id": lot,
                                                     "holder_address": holder, "pledgee_address": pledgee,
                                                     "quantity_kg": amount, "flag": flag, **evidence})
        return entry.seq
    if name not in ("Released", "Enforced", "PledgeDelivered"):
        raise RegistryError(7002, f"{name} is no pledge event")
    c = lt.liens.c
    rows = list(uow.conn.execute(select(lt.liens).where(c.asset == rules.TOKENS, c.holding == holding,
                                                        c.pledgee_address == pledgee, c.status.in_(sorted(rules.LIVE)))
                                 .order_by(c.created_at, c.id)).mappings())
    live = sum(_lien(r).remaining_kg for r in rows)
    if live < amount:  # the chain checked it (7004): the registry missed a Pledged, or another registry's act
        raise RegistryError(7001, f"{name} of {amount} kg on {holding} to {pledgee}: the registry mirrors only "
                                  f"{live} kg pledged", holding=holding, pledgee=pledgee)
    need = amount
    touched = []
    for r in rows:
        if need == 0:
            break
        lien = _lien(r)
        kg = min(need, lien.remaining_kg)
        need -= kg
        if name == "Released":
            done = rules.Lien(**{**lien.__dict__, "released_kg": lien.released_kg + kg})
            final = rules.RELEASED
        else:
            done = rules.Lien(**{**lien.__dict__, "enforced_kg": lien.enforced_kg + kg})
            final = rules.ENFORCED
        status = final if done.remaining_kg == 0 else (rules.DEFAULTED if final == rules.ENFORCED else lien.status)
        done = rules.Lien(**{**done.__dict__, "status": status})
        facts: dict[str, Any] = {"kg": kg, **evidence}
        if name == "PledgeDelivered":
            facts["receiver"] = str(event.get("receiver") or "").lower()
        if final == rules.ENFORCED and lien.status == rules.ACTIVE:
            facts["note"] = "enforced on chain without a default notified in the registry"
        uow.repo.update(lt.liens, [c.id == lien.id], status=done.status, released_kg=done.released_kg,
                        enforced_kg=done.enforced_kg, detail=_history(r, name, at=uow.now, **facts),
                        updated_at=uow.now, **evidence)
        touched.append({"lien_id": lien.id, "kg": kg, "status": done.status})
    entry = uow.append(f"lien_{name.lower()}_on_chain", {"holding": holding, "pledgee_address": pledgee,
                                                         "quantity_kg": amount, "liens": touched, **evidence,
                                                         **({"receiver": str(event.get("receiver")).lower()}
                                                            if name == "PledgeDelivered" else {})})
    return entry.seq


# ------------------------------------------------------------------------------------------ invariant LIEN
def load_snapshot(uow: UnitOfWork, snapshot: LedgerSnapshot) -> None:
    """LIEN snapshot loader: every lien, the pledged leaves per lien (units), and each holding's balance (units:
    held + pledged leaves of the account; tokens: the bridge's balance mirror)."""
    liens = [dict(r) for r in uow.conn.execute(select(lt.liens)).mappings()]
    snapshot.extra[rules.LIENS_KEY] = liens
    b = t.blocks.c
    pledged: dict[str | None, int] = {}
    for lien_id, first, last in uow.conn.execute(select(b.lien_id, b.first_kg, b.last_kg).where(
            b.is_leaf, b.state == str(BlockState.PLEDGED))):
        pledged[lien_id] = pledged.get(lien_id, 0) + int(last) - int(first) + 1
    snapshot.extra[rules.LIEN_BLOCKS_KEY] = pledged
    balances: dict[str, int] = {}
    accounts = sorted({str(r["account_id"]) for r in liens if r["asset"] == rules.UNITS})
    for account_id in accounts:
        rows = uow.conn.execute(select(b.first_kg, b.last_kg).where(
            b.is_leaf, b.account_id == account_id, b.state.in_([str(BlockState.HELD), str(BlockState.PLEDGED)])))
        balances[account_id] = sum(int(r[1]) - int(r[0]) + 1 for r in rows)
    tb = tt.token_balances.c
    for r in liens:
        if r["asset"] == rules.TOKENS and r["holding"] not in balances:
            value = uow.conn.execute(select(tb.balance_kg).where(tb.chain_lot_id == r["chain_lot_id"],
                                                                 tb.address == r["holder_address"])).scalar()
            balances[r["holding"]] = int(value or 0)
    snapshot.extra[rules.LIEN_BALANCES_KEY] = balances


# ------------------------------------------------------------------------------------------ read models
def read(reg: Registry, actor: Actor, lien_id: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        return get(uow, actor, lien_id)


def statement(reg: Registry, actor: Actor, *, side: str | None = None, status: str | None = None,
              account_id: str | None = None) -> list[dict[str, Any]]:
    with reg.store.read() as uow:
        return list_liens(uow, actor, side=side, status=status, account_id=account_id)
