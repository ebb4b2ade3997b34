"""The UNFCCC Agreed Electronic Format (AEF, decision 6/CMA.4 annex II) for one reporting year,
generated from the ledger: submission, authorizations, actions, holdings at 31 December, authorized
entities; as JSON and as an ``.xlsx`` workbook (openpyxl).

| rule | code |
|---|---|
| the report is read by registry officers and regulators | 1002 |
| a year closes once, after 31 December (UTC) has passed, by a registry admin | 1002 / 1003 |
| holdings at 31 December are frozen when the year closes and never recomputed | |

Reporting years and the 31 December cut-off are UTC. Holdings of a year that is not closed yet are
reconstructed from the block tree as of the cut-off (or now, for the running year) and the
submission is marked ``provisional``. Quantities are integer kg; tCO2e are derived (kg / 1000).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor, BlockState, Role
from sovcarbon.domain.serials import SerialRange
from sovcarbon.services import article6 as a6s
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

LIVE_STATES = (BlockState.HELD, BlockState.IMMOBILIZED, BlockState.PLEDGED, BlockState.IN_TRANSIT)
MIN_YEAR, MAX_YEAR = 1990, 2100
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PURPOSE_LABELS = {("ndc",): "NDC", ("oimp",): "OIMP", ("ndc", "oimp"): "NDC and OIMP"}


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
    rid = a6s.registry_id(reg, uow)
    out: list[dict[str, Any]] = []
    for piece, (vintage, state, account_id), loa_id in rules.sweep(blocks, coverage):
        for part, done in _split_first_transferred(piece, fts.get(piece.prefix, [])):
            first_id, last_id = rules.itmo_ids(rid, part)
            out.append({"authorization_id": loa_id, "serial": str(part), "serial_prefix": part.prefix,
                        "first_kg": part.first_kg, "last_kg": part.last_kg, "itmo_first_id": first_id,
                        "itmo_last_id": last_id, "vintage": vintage, "quantity_kg": part.quantity_kg,
                        "quantity_tco2e": tonnes(part.quantity_kg), "state": state, "account_id": account_id,
                        "first_transferred": done})
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


def _frozen_holdings(reg: Registry, uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    rid = a6s.registry_id(reg, uow)
    h = a6.a6_holdings.c
    out = []
    for r in uow.conn.execute(select(a6.a6_holdings).where(h.year == year).order_by(h.row_no)).mappings():
        part = SerialRange(r["serial_prefix"], int(r["first_kg"]), int(r["last_kg"]))
        first_id, last_id = rules.itmo_ids(rid, part)
        out.append({"authorization_id": r["loa_id"], "serial": str(part), "serial_prefix": part.prefix,
                    "first_kg": part.first_kg, "last_kg": part.last_kg, "itmo_first_id": first_id,
                    "itmo_last_id": last_id, "vintage": int(r["vintage"]), "quantity_kg": int(r["quantity_kg"]),
                    "quantity_tco2e": tonnes(int(r["quantity_kg"])), "state": r["state"],
                    "account_id": r["account_id"], "first_transferred": bool(r["first_transferred"])})
    return out


# --- the report -------------------------------------------------------------------------------------------------
class _Loas:
    """LoA version bodies, loaded once per report."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.cache: dict[str, rules.Loa] = {}

    def get(self, loa_id: str) -> rules.Loa:
        if loa_id not in self.cache:
            self.cache[loa_id] = a6s.current(self.uow, loa_id)
        return self.cache[loa_id]


def _purposes(loa: rules.Loa) -> str:
    return PURPOSE_LABELS[tuple(sorted(str(p) for p in loa.purposes))]


def _action_row(rid: str, loa: rules.Loa, *, action_id: str, action_type: rules.ActionType, action_at: str,
                rng: SerialRange, vintage: int, first_transfer: bool, purpose: str | None, txn_id: str | None,
                journal_seq: int, transferring_party: str | None = None, acquiring_party: str | None = None,
                acquiring_registry: str | None = None, acquiring_entity: str | None = None,
                using_entity: str | None = None) -> dict[str, Any]:
    first_id, last_id = rules.itmo_ids(rid, rng)
    body = loa.body
    return {"action_id": action_id, "cooperative_approach_id": loa.cooperative_approach_id,
            "authorization_id": loa.id, "itmo_first_id": first_id, "itmo_last_id": last_id, "serial": str(rng),
            "metric": body.get("metric", "tCO2e"), "gwp": body.get("gwp", ""), "vintage": vintage,
            "sector": "; ".join(body.get("sectors") or ()),
            "activity_type": "; ".join(body.get("activity_types") or ()),
            "quantity_kg": rng.quantity_kg, "quantity_tco2e": tonnes(rng.quantity_kg), "conversion_factor": "1",
            "action_type": str(action_type), "action_type_label": rules.AEF_ACTION_LABELS[action_type],
            "action_date": action_at[:10], "action_at": action_at, "first_transfer": first_transfer,
            "purpose": purpose, "purposes_for_authorization": _purposes(loa), "oimp_authorized": "; ".join(loa.oimp),
            "first_transfer_definition": str(loa.first_transfer_event) if loa.first_transfer_event else "",
            "transferring_party": transferring_party, "acquiring_party": acquiring_party,
            "acquiring_registry": acquiring_registry, "acquiring_entity": acquiring_entity,
            "using_entity": using_entity, "txn_id": txn_id, "journal_seq": journal_seq}


def actions(reg: Registry, uow: UnitOfWork, year: int, loas: _Loas | None = None) -> list[dict[str, Any]]:
    loas = loas or _Loas(uow)
    rid = a6s.registry_id(reg, uow)
    c = a6.a6_actions.c
    out: list[dict[str, Any]] = []
    for r in uow.conn.execute(select(a6.a6_actions).where(c.year == year).order_by(c.id)).mappings():
        out.append(_action_row(
            rid, loas.get(r["loa_id"]), action_id=f"act-{r['id']}", action_type=rules.ActionType(r["action_type"]),
            action_at=r["action_at"], rng=SerialRange(r["serial_prefix"], int(r["first_kg"]), int(r["last_kg"])),
            vintage=int(r["vintage"]), first_transfer=bool(r["first_transfer"]), purpose=r["purpose"],
            txn_id=r["txn_id"], journal_seq=int(r["journal_seq"]), transferring_party=r["transferring_party"],
            acquiring_party=r["acquiring_party"], acquiring_registry=r["acquiring_registry"],
            acquiring_entity=r["acquiring_entity"], using_entity=r["using_entity"]))
    out += _cancellations(reg, uow, year, loas, rid)
    out.sort(key=lambda a: (a["journal_seq"], a["action_id"]))
    return out


def _cancellations(reg: Registry, uow: UnitOfWork, year: int, loas: _Loas, rid: str) -> list[dict[str, Any]]:
    """Cancellations (four-eyes, core) of first-transferred kilograms, read from the ledger itself."""
    tx, b, ft = t.transactions.c, t.blocks.c, a6.a6_first_transfers.c
    rows = uow.conn.execute(
        select(b.serial_prefix, b.first_kg, b.last_kg, b.vintage, tx.id, tx.journal_seq, tx.created_at)
        .select_from(t.blocks.join(t.transactions, tx.id == b.txn_id))
        .where(tx.kind == "cancellation", tx.created_at >= year_start(year), tx.created_at <= year_cutoff(year),
               b.state == str(BlockState.CANCELLED))
        .order_by(tx.journal_seq, b.serial_prefix, b.first_kg)).all()
    out: list[dict[str, Any]] = []
    for prefix, first, last, vintage, txn_id, seq, at in rows:
        rng = SerialRange(prefix, int(first), int(last))
        for row in uow.conn.execute(select(ft.serial_prefix, ft.first_kg, ft.last_kg, ft.loa_id).where(
                and_(ft.serial_prefix == prefix, ft.first_kg <= rng.last_kg, ft.last_kg >= rng.first_kg))
                .order_by(ft.first_kg)):
            part = rules.intersect(rng, SerialRange(row[0], int(row[1]), int(row[2])))
            if part is None:
                continue
            out.append(_action_row(rid, loas.get(row[3]), action_id=f"can-{txn_id}-{part.first_kg}",
                                   action_type=rules.ActionType.CANCELLATION, action_at=at, rng=part,
                                   vintage=int(vintage), first_transfer=False, purpose=None, txn_id=txn_id,
                                   journal_seq=int(seq), transferring_party=reg.profile.party_code))
    return out


def authorizations(reg: Registry, uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    """Every LoA version approved during the year (grants, amendments, revocations)."""
    v = a6.a6_authorization_versions.c
    rows = list(uow.conn.execute(select(a6.a6_authorization_versions).where(
        v.status == str(rules.VersionStatus.APPROVED), v.decided_at >= year_start(year),
        v.decided_at <= year_cutoff(year)).order_by(v.decision_seq)).mappings())
    out = []
    for r in rows:
        body = json.loads(r["body"])
        loa = rules.Loa.from_body(r["loa_id"], int(r["version"]), "active", body)
        prev = uow.conn.execute(select(v.body).where(v.loa_id == r["loa_id"], v.version < r["version"],
                                                     v.status == str(rules.VersionStatus.APPROVED))
                                .order_by(v.version.desc()).limit(1)).scalar()
        changes = sorted(k for k, val in body.items() if prev is not None and json.loads(prev).get(k) != val)
        out.append({
            "authorization_id": r["loa_id"], "reference": body["reference"], "version": r["version"],
            "version_kind": r["kind"], "authorization_date": body["authorization_date"],
            "approved_at": r["decided_at"], "cooperative_approach_id": body["cooperative_approach_id"],
            "authorized_parties": "; ".join(body["authorized_parties"]),
            "authorized_entities": "; ".join(e["name"] for e in body.get("authorized_entities") or ()),
            "purposes_for_authorization": _purposes(loa), "oimp_authorized": "; ".join(loa.oimp),
            "first_transfer_definition": body.get("first_transfer_event") or "",
            "max_quantity_kg": int(body["max_quantity_kg"]), "max_quantity_tco2e": tonnes(int(body["max_quantity_kg"])),
            "metric": body.get("metric", "tCO2e"), "gwp": body.get("gwp", ""),
            "sectors": "; ".join(body["sectors"]), "activity_types": "; ".join(body["activity_types"]),
            "timeframe_start": body["timeframe"]["start"], "timeframe_end": body["timeframe"]["end"],
            "terms": body.get("terms", ""), "ca_method": body["ca_method"],
            "document_sha256": r["document_sha256"] or "", "changes": "; ".join(changes),
            "revoked_serials": "; ".join(json.loads(r["revoked_serials"])) if r["revoked_serials"] else
            ("all units not first-transferred" if r["kind"] == rules.VersionKind.REVOCATION else ""),
            "reason": r["reason"], "journal_seq": r["decision_seq"]})
    return out


def authorized_entities(uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    """Entities of every LoA in force at some time in the year, as of its latest version then."""
    v = a6.a6_authorization_versions.c
    rows = uow.conn.execute(select(a6.a6_authorization_versions).where(
        v.status == str(rules.VersionStatus.APPROVED), v.decided_at <= year_cutoff(year))
        .order_by(v.loa_id, v.version)).mappings()
    latest: dict[str, Any] = {}
    revoked_before: set[str] = set()
    for r in rows:
        whole = r["kind"] == rules.VersionKind.REVOCATION and not r["revoked_serials"]
        if whole and r["decided_at"] < year_start(year):
            revoked_before.add(r["loa_id"])
        latest[r["loa_id"]] = r
    out = []
    for loa_id, r in sorted(latest.items()):
        if loa_id in revoked_before:
            continue
        body = json.loads(r["body"])
        for e in body.get("authorized_entities") or ():
            out.append({"authorization_id": loa_id, "version": r["version"], "entity": e["name"], "party": e["party"],
                        "participant_id": e.get("participant_id") or "",
                        "authorization_date": body["authorization_date"],
                        "purposes_for_authorization": PURPOSE_LABELS[tuple(sorted(body["purposes"]))]})
    return out


def build(reg: Registry, uow: UnitOfWork, year: int) -> dict[str, Any]:
    check_year(year)
    closed = uow.conn.execute(select(a6.a6_year_closes).where(a6.a6_year_closes.c.year == year)).mappings().first()
    loas = _Loas(uow)
    rows = actions(reg, uow, year, loas)
    if closed is not None:
        holdings = _frozen_holdings(reg, uow, year)
    else:
        holdings = holdings_as_of(reg, uow, min(uow.now, year_cutoff(year)))
    ca = a6.a6_adjustments.c
    adjustments = {int(r[0]): int(r[1]) for r in uow.conn.execute(
        select(ca.vintage, func.sum(ca.quantity_kg)).where(ca.year == year).group_by(ca.vintage))}
    by_type: dict[str, int] = defaultdict(int)
    ft_by_vintage: dict[int, int] = defaultdict(int)
    for a in rows:
        by_type[a["action_type"]] += a["quantity_kg"]
        if a["action_type"] == rules.ActionType.FIRST_TRANSFER:
            ft_by_vintage[a["vintage"]] += a["quantity_kg"]
    head = uow.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).first()
    auths = authorizations(reg, uow, year)
    approaches = sorted({a["cooperative_approach_id"] for a in rows} | {a["cooperative_approach_id"] for a in auths})
    submission = {
        "party": reg.profile.party_code, "itmo_registry_id": a6s.registry_id(reg, uow),
        "registry": reg.profile.registry_name, "agency": reg.profile.agency_name, "reporting_year": year,
        "version": 1, "status": "final" if closed is not None else "provisional", "generated_at": uow.now,
        "holdings_cutoff": year_cutoff(year),
        "holdings_source": (f"frozen at year close {closed['closed_at']} (journal #{closed['journal_seq']})"
                            if closed is not None else "reconstructed from the ledger at generation (year not closed)"),
        "journal_head_seq": int(head[0]) if head else 0, "journal_head_hash": str(head[1]) if head else "",
        "cooperative_approaches": "; ".join(approaches), "actions": len(rows), "authorizations": len(auths),
        "action_kg_by_type": dict(sorted(by_type.items())),
        "first_transferred_kg_by_vintage": {str(k): v for k, v in sorted(ft_by_vintage.items())},
        "corresponding_adjustments_kg_by_vintage": {str(k): v for k, v in sorted(adjustments.items())},
        "holdings_kg": sum(h["quantity_kg"] for h in holdings),
        "metric": "tCO2e (quantities in integer kg; tCO2e = kg / 1000)"}
    return {"submission": submission, "authorizations": auths, "actions": rows, "holdings": holdings,
            "authorized_entities": authorized_entities(uow, year)}


def report(reg: Registry, uow: UnitOfWork, actor: Actor, year: int) -> dict[str, Any]:
    require_role(actor, READ_ALL_ROLES, "read the AEF report")
    return build(reg, uow, year)


# --- the workbook -----------------------------------------------------------------------------------------------
SHEETS: dict[str, list[tuple[str, str]]] = {
    "authorizations": [
        ("authorization_id", "Authorization ID"), ("reference", "LoA reference"), ("version", "Version"),
        ("version_kind", "Version kind"), ("authorization_date", "Date of authorization"),
        ("approved_at", "Approved at (UTC)"), ("cooperative_approach_id", "Cooperative approach ID"),
        ("authorized_parties", "Authorized Parties"), ("authorized_entities", "Authorized entities"),
        ("purposes_for_authorization", "Purposes for authorization"), ("oimp_authorized", "OIMP authorized"),
        ("first_transfer_definition", "First transfer definition (OIMP)"),
        ("max_quantity_kg", "Authorized quantity (kg CO2e)"), ("max_quantity_tco2e", "Authorized quantity (tCO2e)"),
        ("metric", "Metric"), ("gwp", "GWP values"), ("sectors", "Sector(s)"), ("activity_types", "Activity type(s)"),
        ("timeframe_start", "Timeframe start"), ("timeframe_end", "Timeframe end"), ("terms", "Terms"),
        ("ca_method", "Corresponding adjustment method"), ("document_sha256", "LoA document SHA-256"),
        ("changes", "Changes from previous version"), ("revoked_serials", "Revoked units"), ("reason", "Reason"),
        ("journal_seq", "Journal entry")],
    "actions": [
        ("action_id", "Action ID"), ("cooperative_approach_id", "Cooperative approach ID"),
        ("authorization_id", "Authorization ID"), ("itmo_first_id", "ITMO first unique ID"),
        ("itmo_last_id", "ITMO last unique ID"), ("serial", "Serial range"), ("metric", "Metric"),
        ("gwp", "GWP values"), ("vintage", "Vintage"), ("sector", "Sector"), ("activity_type", "Activity type"),
        ("quantity_kg", "Quantity (kg CO2e)"), ("quantity_tco2e", "Quantity (tCO2e)"),
        ("conversion_factor", "Conversion factor"), ("action_type_label", "Action type"),
        ("action_date", "Action date"), ("first_transfer", "First transfer"), ("purpose", "Purpose of action"),
        ("purposes_for_authorization", "Purposes for authorization"), ("oimp_authorized", "OIMP authorized"),
        ("first_transfer_definition", "First transfer definition"), ("transferring_party", "Transferring Party"),
        ("acquiring_party", "Acquiring Party"), ("acquiring_registry", "Acquiring registry"),
        ("acquiring_entity", "Acquiring entity"), ("using_entity", "Using entity"), ("txn_id", "Transaction"),
        ("journal_seq", "Journal entry")],
    "holdings": [
        ("authorization_id", "Authorization ID"), ("itmo_first_id", "ITMO first unique ID"),
        ("itmo_last_id", "ITMO last unique ID"), ("serial", "Serial range"), ("vintage", "Vintage"),
        ("quantity_kg", "Quantity (kg CO2e)"), ("quantity_tco2e", "Quantity (tCO2e)"), ("state", "State"),
        ("account_id", "Holding account"), ("first_transferred", "First transferred")],
    "authorized_entities": [
        ("authorization_id", "Authorization ID"), ("version", "Version"), ("entity", "Authorized entity"),
        ("party", "Party"), ("participant_id", "Participant in this registry"),
        ("authorization_date", "Date of authorization"), ("purposes_for_authorization", "Purposes for authorization")],
}
SHEET_TITLES = {"submission": "Submission", "authorizations": "Authorizations", "actions": "Actions",
                "holdings": "Holdings 31 Dec", "authorized_entities": "Authorized entities"}


def _cell(value: Any, key: str) -> Any:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key.endswith("_tco2e") and isinstance(value, str):
        return Decimal(value)
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def write_xlsx(rep: dict[str, Any], out: Path | IO[bytes]) -> None:
    """The five AEF tables as one workbook, one sheet each, one row per record."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLES["submission"])
    ws.append(["Field", "Value"])
    for key, value in rep["submission"].items():
        ws.append([key, _cell(value, key)])
    for name, columns in SHEETS.items():
        ws = wb.create_sheet(SHEET_TITLES[name])
        ws.append([label for _, label in columns])
        keys = [k for k, _ in columns]
        for row in rep[name]:
            ws.append([_cell(row.get(k), k) for k in keys])
    wb.save(out)


def xlsx_bytes(rep: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(rep, buffer)
    return buffer.getvalue()
