"""Reconciliation (I4): every lot's chain supply, retired and redeemed kg against the NR.

Both sides are read at the same moment: the chain at the last block whose events the NR has consumed
(``eth_call`` at that block), the NR as it stands (the bridge holds its cycle lock, so nothing is being
applied meanwhile). Lots whose mint is still in flight are counted and skipped. A mismatch freezes the
lot in the NR (journal entry) and on chain (an outbox ``freeze_lot``) and is reported with 7001
SUPPLY_MISMATCH; nothing is ever corrected. Every run is recorded in ``token_reconciliations`` and the
journal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select

from sovcarbon.bridge import audit
from sovcarbon.chain import CarbonTokenChain
from sovcarbon.domain.chain_ops import (
    ADDRESS_FREEZE_OPS,
    LOT_FREEZE_OPS,
    FreezeAddress,
    FreezeLot,
    OpKind,
    UnfreezeAddress,
    UnfreezeLot,
)
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.tokenize import ChainLotFigures, lot_mismatches
from sovcarbon.services import bridge_officer, token_identity, token_lots, token_outbox
from sovcarbon.services.registry import Registry
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork

SUPPLY_MISMATCH = 7001


def chain_reader(token: CarbonTokenChain) -> token_lots.ChainReader:
    """Read (supply, retired, redeemed, frozen) of chain lots at one block, 256 lots per eth_call."""
    def read(chain_lot_ids: Sequence[int], at_block: int) -> dict[int, ChainLotFigures]:
        figures = token.lot_figures(list(chain_lot_ids), at_block)
        return {lot: ChainLotFigures(*f) for lot, f in zip(chain_lot_ids, figures, strict=True)}
    return read


def reconcile(reg: Registry, token: CarbonTokenChain) -> dict[str, Any]:
    """Compare every lot; freeze and report the ones that disagree. The caller holds the bridge's cycle."""
    started_s = time.perf_counter()
    reader = chain_reader(token)
    with reg.store.read() as uow:
        at_block = token_lots.event_cursor_block(uow, token.address)
        facts = token_lots.lot_facts(uow, reader, at_block)
    report_id = new_id("rep")
    mismatches: list[dict[str, Any]] = []
    in_flight = 0
    for f in facts:
        if f.in_flight:
            in_flight += 1
        problems = lot_mismatches(f)
        if problems:
            mismatches.append({"lot_id": f.lot_id, "chain_lot_id": f.chain_lot_id, "code": SUPPLY_MISMATCH,
                               "name": "SUPPLY_MISMATCH", "problems": problems,
                               "nr": {"immobilized_kg": f.immobilized_kg, "retired_kg": f.retired_kg,
                                      "redeemed_kg": f.redeemed_kg, "quantity_kg": f.quantity_kg},
                               "chain": asdict(f.chain) if f.chain is not None else None})
    drift = state_drift(reg, token, facts)
    duration_ms = int((time.perf_counter() - started_s) * 1000)
    with reg.store.read() as uow:
        halted = audit.halted(uow)  # the whole-chain audit: acts on the contract the registry did not order
    status = "mismatch" if mismatches or halted else "ok"
    with reg.store.write() as uow:
        repush_drift(uow, drift)
        for m in mismatches:
            offenders = _offenders(uow, int(m["chain_lot_id"]))
            if offenders:  # the gap is a holder's own unapplied burns: freeze that holder, not the lot
                m["frozen_addresses"] = offenders
                m["frozen_now"] = False
                for address in offenders:
                    bridge_officer.freeze_address(uow, address, "; ".join(m["problems"]), report_id)
            else:
                m["frozen_now"] = token_lots.freeze_lot(uow, m["lot_id"], "; ".join(m["problems"]), report_id)
        report = {"id": report_id, "status": status, "code": SUPPLY_MISMATCH if status == "mismatch" else None,
                  "halted": halted, "state_drift": drift,
                  "chain_block": at_block if at_block is not None else -1, "contract": token.address,
                  "lots_checked": len(facts), "lots_in_flight": in_flight, "mismatches": mismatches,
                  "duration_ms": duration_ms, "created_at": uow.now}
        uow.repo.insert(tt.token_reconciliations, id=report_id, status=status, chain_block=report["chain_block"],
                        lots_checked=len(facts), lots_in_flight=in_flight, mismatches=len(mismatches),
                        report=canonical_text(report), duration_ms=duration_ms, created_at=uow.now)
        uow.append("reconciliation", {"id": report_id, "status": status, "chain_block": report["chain_block"],
                                      "lots_checked": len(facts), "lots_in_flight": in_flight,
                                      "mismatched_lots": [m["lot_id"] for m in mismatches]})
    return report


def state_drift(reg: Registry, token: CarbonTokenChain, facts: Sequence[Any]) -> list[dict[str, Any]]:
    """Identities, licences, lot freezes and address freezes where the chain does not say what the NR says (a push
    that failed, or a change made on chain outside the registry). Both ways; rows still in flight are skipped."""
    out: list[dict[str, Any]] = []
    s, c = tt.token_identity_sync.c, tt.token_outbox.c
    with reg.store.read() as uow:
        rows = list(uow.conn.execute(select(tt.token_identity_sync).where(
            s.status.not_in([token_outbox.PENDING, token_outbox.SENT]))).mappings())
        nr_frozen = {str(r[0]): bool(r[1]) for r in uow.conn.execute(select(tt.token_lots.c.id,
                                                                             tt.token_lots.c.frozen))}
        busy_lots = {str(r[0]) for r in uow.conn.execute(select(c.lot_id).where(
            c.status.in_([token_outbox.PENDING, token_outbox.SENT]), c.kind.in_(sorted(LOT_FREEZE_OPS))))}
        # address freezes as the NR ordered them: the last freeze/unfreeze per address (in flight: skipped)
        nr_address_frozen: dict[str, bool] = {}
        busy_addresses: set[str] = set()
        for kind, payload, status in uow.conn.execute(select(c.kind, c.payload, c.status).where(
                c.kind.in_(sorted(ADDRESS_FREEZE_OPS))).order_by(c.seq)):
            holder = str(json.loads(payload)["holder"]).lower()
            if status in (token_outbox.PENDING, token_outbox.SENT):
                busy_addresses.add(holder)
            elif status == token_outbox.CONFIRMED:
                nr_address_frozen[holder] = kind == OpKind.FREEZE_ADDRESS
    for r in rows:
        address, eligible = str(r["address"]), bool(r["eligible"])
        if r["role"] == "intermediary":
            on_chain = bool(token.call("licensed", [to_checksum_address(address)])[0])
            if on_chain != eligible:
                out.append({"kind": "licence", "address": address, "nr": eligible, "chain": on_chain,
                            "participant_id": r["participant_id"], "role": r["role"],
                            "intermediary_address": None})
        else:
            ident = token.identity(address)
            want = str(r["intermediary_address"] or "").lower()
            if ident.kyc_verified != eligible or ident.intermediary.lower() != want:
                out.append({"kind": "identity", "address": address, "nr": eligible, "chain": ident.kyc_verified,
                            "participant_id": r["participant_id"], "role": r["role"],
                            "intermediary_address": r["intermediary_address"]})
            nr_address_frozen.setdefault(address.lower(), False)  # a holder the NR never froze: not frozen
    for address, nr_frozen_now in sorted(nr_address_frozen.items()):
        if address in busy_addresses:
            continue
        on_chain = bool(token.call("frozen", [to_checksum_address(address)])[0])
        if on_chain != nr_frozen_now:
            out.append({"kind": "address_freeze", "address": address, "nr": nr_frozen_now, "chain": on_chain})
    for f in facts:
        if f.chain is None or f.in_flight or f.lot_id in busy_lots:
            continue
        if f.chain.frozen != nr_frozen.get(f.lot_id, False):
            out.append({"kind": "lot_freeze", "lot_id": f.lot_id, "chain_lot_id": f.chain_lot_id,
                        "nr": nr_frozen.get(f.lot_id, False), "chain": f.chain.frozen})
    return out


def repush_drift(uow: UnitOfWork, drift: Sequence[Mapping[str, Any]]) -> None:
    """The NR is the registry of record: push its state again through the outbox (journaled)."""
    for d in drift:
        if d["kind"] in ("identity", "licence"):
            token_identity.want_identity(uow, str(d["participant_id"]), str(d["address"]), str(d["role"]),
                                         bool(d["nr"]), d["intermediary_address"])
        elif d["kind"] == "address_freeze":
            holder = str(d["address"]).lower()
            token_outbox.enqueue(uow, FreezeAddress(holder=holder) if d["nr"] else UnfreezeAddress(holder=holder))
        else:
            lot = int(d["chain_lot_id"])
            token_outbox.enqueue(uow, FreezeLot(chain_lot_id=lot) if d["nr"] else UnfreezeLot(chain_lot_id=lot),
                                 str(d["lot_id"]))
    if drift:
        uow.append("chain_state_repushed", {"drift": [dict(d) for d in drift]})


def _offenders(uow: UnitOfWork, chain_lot_id: int) -> list[str]:
    """Holders whose burns on this lot are parked as open dead letters (their part is the gap)."""
    d = tt.token_dead_letters.c
    out: set[str] = set()
    for event_json in uow.conn.execute(select(d.event).where(d.status == "open", d.chain_lot_id == chain_lot_id,
                                                             d.name.in_(["Retired", "Redeemed"]))).scalars():
        holder = json.loads(event_json).get("holder")
        if isinstance(holder, str) and holder:
            out.add(holder.lower())
    return sorted(out)


def report_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(r["report"])
    return report


def latest_reports(reg: Registry, limit: int = 20) -> list[dict[str, Any]]:
    c = tt.token_reconciliations.c
    with reg.store.read() as uow:
        rows = uow.conn.execute(select(tt.token_reconciliations).order_by(c.created_at.desc(), c.id).limit(limit))
        return [report_view(r) for r in rows.mappings()]
