"""Article 6 holdings for the AEF's Table 4: authorized kilograms live in this registry at a point in time,
reconstructed from the immutable block tree, and the year close that freezes them at 31 December.

| rule | code |
|---|---|
| a year closes once, after 31 December (UTC) has passed, by a registry admin | 1002 / 1003 |
| holdings at 31 December are frozen when the year closes and never recomputed | |

Reporting years and the 31 December cut-off are UTC."""

from __future__ import annotations

import bisect
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor, BlockState, Role
from sovcarbon.domain.serials import SerialRange, parse_serial
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import peer_tables as pt
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

LIVE_STATES = (BlockState.HELD, BlockState.IMMOBILIZED, BlockState.PLEDGED, BlockState.IN_TRANSIT)
MIN_YEAR, MAX_YEAR = 1990, 2100


def year_start(year: int) -> str:
    return f"{year:04d}-01-01T00:00:00.000000Z"


def year_cutoff(year: int) -> str:
    return f"{year:04d}-12-31T23:59:59.999999Z"


def check_year(year: int) -> None:
    if not (MIN_YEAR <= year <= MAX_YEAR):
        raise RegistryError(1003, f"year must lie between {MIN_YEAR} and {MAX_YEAR}", year=year)


def tonnes(kg: int) -> str:
    """Derived tCO2e, exact: integer kg shown with three decimals (never a float)."""
    return f"{kg // 1000}.{kg % 1000:03d}"


# --- holdings at a point in time --------------------------------------------------------------------------------
def holdings_as_of(reg: Registry, uow: UnitOfWork, cutoff: str) -> list[dict[str, Any]]:
    """Authorized kilograms live in this registry at ``cutoff``, from the immutable block tree:
    a block was a leaf then if it existed and was not yet consumed; coverage and first transfers
    as they stood then."""
    cov = a6.a6_coverage.c
    coverage = sorted(
        ((SerialRange(r[0], int(r[1]), int(r[2])), r[3]) for r in uow.conn.execute(
            select(cov.serial_prefix, cov.first_kg, cov.last_kg, cov.loa_id).where(
                cov.attached_at <= cutoff, or_(cov.released_at.is_(None), cov.released_at > cutoff)))),
        key=lambda x: (x[0].prefix, x[0].first_kg))
    if not coverage:
        return []
    prefixes = sorted({r.prefix for r, _ in coverage})
    b = t.blocks.c
    consumer = aliased(t.transactions)
    rows = uow.conn.execute(
        select(b.serial_prefix, b.first_kg, b.last_kg, b.vintage, b.state, b.account_id)
        .select_from(t.blocks.outerjoin(consumer, consumer.c.id == b.consumed_by_txn))
        .where(b.serial_prefix.in_(prefixes), b.created_at <= cutoff, b.state.in_([str(s) for s in LIVE_STATES]),
               or_(b.consumed_by_txn.is_(None), consumer.c.created_at > cutoff))
        .order_by(b.serial_prefix, b.first_kg)).all()
    blocks = [(SerialRange(r[0], int(r[1]), int(r[2])), (int(r[3]), r[4], r[5])) for r in rows]
    ft = a6.a6_first_transfers.c
    fts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in uow.conn.execute(select(ft.serial_prefix, ft.first_kg, ft.last_kg).where(ft.created_at <= cutoff)
                              .order_by(ft.serial_prefix, ft.first_kg)):
        fts[r[0]].append((int(r[1]), int(r[2])))
    out: list[dict[str, Any]] = []
    for piece, (vintage, state, account_id), loa_id in rules.sweep(blocks, coverage):
        for part, done in _split_first_transferred(piece, fts.get(piece.prefix, [])):
            out.append({"authorization_id": loa_id, "serial": str(part), "serial_prefix": part.prefix,
                        "first_kg": part.first_kg, "last_kg": part.last_kg,
                        "vintage": vintage, "quantity_kg": part.quantity_kg,
                        "quantity_tco2e": tonnes(part.quantity_kg), "state": state, "account_id": account_id,
                        "first_transferred": done})
    return out


def acquired_holdings_as_of(uow: UnitOfWork, cutoff: str) -> list[dict[str, Any]]:
    """ITMOs another Party first transferred to us through the peer protocol (destination side, the COMMIT
    applied) that are live here at ``cutoff`` (held, in suspense, immobilized or pledged; not retired, not sent
    on), from the immutable block tree, with the description the first transferring Party sent (its ids). A
    kilogram received twice (sent back and received again) is listed once, under its latest acquisition."""
    pt_, tx = pt.peer_transfers.c, t.transactions.c
    acquisitions = []
    for tid, peer_id, serials, detail_text in uow.conn.execute(
            select(pt_.id, pt_.peer_id, pt_.serials, pt_.detail)
            .select_from(pt.peer_transfers.join(t.transactions, tx.id == pt_.txn_id))
            .where(pt_.side == "destination", tx.created_at <= cutoff).order_by(tx.journal_seq.desc())):
        itmo = json.loads(detail_text).get("itmo")
        if isinstance(itmo, dict):  # units that were ITMOs (not, e.g., our own units coming back)
            acquisitions += [(parse_serial(s), itmo, str(tid), str(peer_id)) for s in json.loads(serials)]
    if not acquisitions:
        return []
    prefixes = sorted({a[0].prefix for a in acquisitions})
    b = t.blocks.c
    consumer = aliased(t.transactions)
    live: dict[str, list[tuple[SerialRange, int, str, str]]] = defaultdict(list)
    for r in uow.conn.execute(
            select(b.serial_prefix, b.first_kg, b.last_kg, b.vintage, b.state, b.account_id)
            .select_from(t.blocks.outerjoin(consumer, consumer.c.id == b.consumed_by_txn))
            .where(b.serial_prefix.in_(prefixes), b.created_at <= cutoff, b.state.in_([str(s) for s in LIVE_STATES]),
                   or_(b.consumed_by_txn.is_(None), consumer.c.created_at > cutoff))
            .order_by(b.serial_prefix, b.first_kg)):
        live[r[0]].append((SerialRange(r[0], int(r[1]), int(r[2])), int(r[3]), str(r[4]), str(r[5])))
    out: list[dict[str, Any]] = []
    listed: dict[str, list[SerialRange]] = defaultdict(list)
    for rng, itmo, transfer_id, peer_id in acquisitions:  # latest first
        for block, vintage, state, account_id in live.get(rng.prefix, []):
            part = rules.intersect(rng, block)
            if part is None:
                continue
            for piece in rules.subtract(part, listed[rng.prefix]):
                listed[rng.prefix].append(piece)
                out.append({"authorization_id": itmo["authorization_id"], "serial": str(piece),
                            "serial_prefix": piece.prefix, "first_kg": piece.first_kg, "last_kg": piece.last_kg,
                            "vintage": vintage, "quantity_kg": piece.quantity_kg,
                            "quantity_tco2e": tonnes(piece.quantity_kg), "state": state, "account_id": account_id,
                            "first_transferred": True, "itmo": itmo, "acquired_from": peer_id,
                            "transfer_id": transfer_id})
    out.sort(key=lambda h: (h["serial_prefix"], h["first_kg"]))
    return out


def _split_first_transferred(rng: SerialRange, done: list[tuple[int, int]]) -> Iterable[tuple[SerialRange, bool]]:
    """``rng`` cut into first-transferred and not-yet parts (``done`` sorted and non-overlapping)."""
    pos = rng.first_kg
    i = max(0, bisect.bisect_right(done, (rng.first_kg, rng.first_kg)) - 1)
    while i < len(done) and done[i][0] <= rng.last_kg:
        lo, hi = max(done[i][0], rng.first_kg), min(done[i][1], rng.last_kg)
        if lo <= hi:
            if lo > pos:
                yield SerialRange(rng.prefix, pos, lo - 1), False
            yield SerialRange(rng.prefix, lo, hi), True
            pos = hi + 1
        i += 1
    if pos <= rng.last_kg:
        yield SerialRange(rng.prefix, pos, rng.last_kg), False


# --- year close -------------------------------------------------------------------------------------------------
def close_year(reg: Registry, uow: UnitOfWork, actor: Actor, year: int) -> dict[str, Any]:
    """Freeze the holdings at 31 December of ``year``; they are never recomputed afterwards."""
    require_role(actor, [Role.REGISTRY_ADMIN], "close a reporting year")
    check_year(year)
    cutoff = year_cutoff(year)
    if uow.now <= cutoff:
        raise RegistryError(1003, f"reporting year {year} has not ended", year=year, cutoff=cutoff)
    if uow.conn.execute(select(a6.a6_year_closes.c.year).where(a6.a6_year_closes.c.year == year)).first():
        raise RegistryError(1003, f"reporting year {year} is already closed", year=year)
    holdings = holdings_as_of(reg, uow, cutoff)
    digest = hashlib.sha256(canonical_json(holdings)).hexdigest()
    total = sum(h["quantity_kg"] for h in holdings)
    entry = uow.append("a6_year_closed", {"actor": actor.key_id, "year": year, "cutoff": cutoff,
                                          "holdings_rows": len(holdings), "holdings_kg": total,
                                          "holdings_sha256": digest})
    if holdings:
        uow.repo.insert_many(a6.a6_holdings, [
            dict(year=year, row_no=i + 1, loa_id=h["authorization_id"], serial_prefix=h["serial_prefix"],
                 first_kg=h["first_kg"], last_kg=h["last_kg"], quantity_kg=h["quantity_kg"], vintage=h["vintage"],
                 state=h["state"], account_id=h["account_id"], first_transferred=h["first_transferred"])
            for i, h in enumerate(holdings)])
    uow.repo.insert(a6.a6_year_closes, year=year, cutoff=cutoff, closed_at=uow.now, closed_by_key=actor.key_id,
                    holdings_kg=total, holdings_rows=len(holdings), digest=digest, journal_seq=entry.seq)
    return {"year": year, "cutoff": cutoff, "closed_at": uow.now, "holdings_rows": len(holdings),
            "holdings_kg": total, "holdings_sha256": digest, "journal_seq": entry.seq}


def frozen_holdings(reg: Registry, uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    h = a6.a6_holdings.c
    out = []
    for r in uow.conn.execute(select(a6.a6_holdings).where(h.year == year).order_by(h.row_no)).mappings():
        part = SerialRange(r["serial_prefix"], int(r["first_kg"]), int(r["last_kg"]))
        out.append({"authorization_id": r["loa_id"], "serial": str(part), "serial_prefix": part.prefix,
                    "first_kg": part.first_kg, "last_kg": part.last_kg,
                    "vintage": int(r["vintage"]), "quantity_kg": int(r["quantity_kg"]),
                    "quantity_tco2e": tonnes(int(r["quantity_kg"])), "state": r["state"],
                    "account_id": r["account_id"], "first_transferred": bool(r["first_transferred"])})
    return out
