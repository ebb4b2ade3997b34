"""Article 6 use cases: authorizations (four-eyes, versions), attaching units, first transfer with its
corresponding adjustment, the Article 6 check on retirement, labels, ITMO look-ups, and the I6
snapshot loader. Rules live in ``domain.article6``; exports in ``services.article6_export``; the AEF
report in ``services.aef``.

Every operation is one write transaction with one journal entry; first transfers and corresponding
adjustments are written in the transaction (and the journal entry) of the operation that causes them.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, check_movable
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor, Block, BlockState, Purpose, Role
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.domain.serials import SerialRange, format_serial, parse_serial, parse_serial_list
from sovcarbon.services.article6_requests import AttachIn, AuthorizationIn, DocumentIn, LabelIn, RevocationIn
from sovcarbon.services.movements import require_issued_range
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import DecisionIn
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

APPROVERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides
ITMO_REGISTRY_NUMBER_SETTING = "itmo_registry_number"
MAX_RANGES_PER_ATTACH = 1000


def today(uow: UnitOfWork) -> date:
    return date.fromisoformat(uow.now[:10])


def registry_id(reg: Registry, uow: UnitOfWork) -> str:
    number = uow.repo.setting(ITMO_REGISTRY_NUMBER_SETTING)
    return rules.itmo_registry_id(reg.profile.party_code, int(number) if number else 1)


# --- serial-range look-ups (rows of one table that never overlap under ``conds``) -------------------------------
def overlapping(uow: UnitOfWork, table: Any, rng: SerialRange, *conds: Any) -> list[Any]:
    """Rows of ``table`` overlapping ``rng``. Rows under ``conds`` never overlap, so at most one starts
    before the range: take it plus those starting inside (two bounded index range scans)."""
    c = table.c
    before = uow.conn.execute(select(table).where(c.serial_prefix == rng.prefix, c.first_kg <= rng.first_kg, *conds)
                              .order_by(c.first_kg.desc()).limit(1)).mappings().first()
    inside = uow.conn.execute(select(table).where(c.serial_prefix == rng.prefix, c.first_kg > rng.first_kg,
                                                  c.first_kg <= rng.last_kg, *conds).order_by(c.first_kg)).mappings()
    out = [before] if before is not None and before["last_kg"] >= rng.first_kg else []
    return out + list(inside)


def active_coverage(uow: UnitOfWork, rng: SerialRange) -> list[Any]:
    return overlapping(uow, a6.a6_coverage, rng, a6.a6_coverage.c.released_at.is_(None))


def first_transfers_in(uow: UnitOfWork, rng: SerialRange) -> list[Any]:
    return overlapping(uow, a6.a6_first_transfers, rng)


def range_of(row: Any) -> SerialRange:
    return SerialRange(row["serial_prefix"], int(row["first_kg"]), int(row["last_kg"]))


# --- documents ------------------------------------------------------------------------------------------------
def store_document(uow: UnitOfWork, doc: DocumentIn) -> dict[str, Any]:
    """Keep the signed document in the registry's own store, addressed by its SHA-256."""
    content = doc.content()
    digest = hashlib.sha256(content).hexdigest()
    if uow.conn.execute(select(a6.a6_documents.c.sha256).where(a6.a6_documents.c.sha256 == digest)).first() is None:
        uow.repo.insert(a6.a6_documents, sha256=digest, name=doc.name, media_type=doc.media_type,
                        size_bytes=len(content), content=content, created_at=uow.now)
    return {"sha256": digest, "name": doc.name, "media_type": doc.media_type, "size_bytes": len(content)}


def document(uow: UnitOfWork, sha256: str) -> tuple[bytes, str, str]:
    row = uow.conn.execute(select(a6.a6_documents).where(a6.a6_documents.c.sha256 == sha256)).mappings().first()
    if row is None:
        raise RegistryError(1005, f"document {sha256} not found", sha256=sha256)
    return bytes(row["content"]), str(row["media_type"]), str(row["name"])


def _document_meta(uow: UnitOfWork, sha256: str | None) -> dict[str, Any] | None:
    if sha256 is None:
        return None
    d = a6.a6_documents.c
    row = uow.conn.execute(select(d.sha256, d.name, d.media_type, d.size_bytes).where(d.sha256 == sha256)).first()
    return {"sha256": row[0], "name": row[1], "media_type": row[2], "size_bytes": int(row[3])} if row else None


# --- authorizations: load and view ----------------------------------------------------------------------------
def _header(uow: UnitOfWork, loa_id: str) -> Any:
    return uow.repo.one(a6.a6_authorizations, loa_id, "authorization")


def _version(uow: UnitOfWork, loa_id: str, version: int) -> Any:
    v = a6.a6_authorization_versions.c
    return uow.conn.execute(select(a6.a6_authorization_versions).where(v.loa_id == loa_id, v.version == version)
                            ).mappings().one()


def _versions(uow: UnitOfWork, loa_id: str) -> list[Any]:
    v = a6.a6_authorization_versions.c
    return list(uow.conn.execute(select(a6.a6_authorization_versions).where(v.loa_id == loa_id)
                                 .order_by(v.version)).mappings())


def _pending(uow: UnitOfWork, loa_id: str) -> Any | None:
    v = a6.a6_authorization_versions.c
    return uow.conn.execute(select(a6.a6_authorization_versions).where(
        v.loa_id == loa_id, v.status == str(rules.VersionStatus.PENDING_APPROVAL))).mappings().first()


def current(uow: UnitOfWork, loa_id: str) -> rules.Loa:
    """The LoA as it stands: its approved version (or the requested grant while pending)."""
    head = _header(uow, loa_id)
    row = _version(uow, loa_id, head["current_version"] or 1)
    return rules.Loa.from_body(loa_id, int(row["version"]), head["status"], json.loads(row["body"]))


def attached_kg(uow: UnitOfWork, loa_id: str) -> int:
    c = a6.a6_coverage.c
    return int(uow.conn.execute(select(func.coalesce(func.sum(c.quantity_kg), 0))
                                .where(c.loa_id == loa_id, c.released_at.is_(None))).scalar_one())


def first_transferred(uow: UnitOfWork, loa_id: str) -> tuple[int, set[int]]:
    c = a6.a6_first_transfers.c
    rows = uow.conn.execute(select(c.vintage, func.sum(c.quantity_kg)).where(c.loa_id == loa_id)
                            .group_by(c.vintage)).all()
    return sum(int(r[1]) for r in rows), {int(r[0]) for r in rows}


def _exported_kg(uow: UnitOfWork, loa_id: str) -> int:
    c = a6.a6_exports.c
    return int(uow.conn.execute(select(func.coalesce(func.sum(c.quantity_kg), 0)).where(c.loa_id == loa_id))
               .scalar_one())


def _version_view(uow: UnitOfWork, row: Any) -> dict[str, Any]:
    return {"version": row["version"], "kind": row["kind"], "status": row["status"],
            "max_quantity_kg": row["max_quantity_kg"], "reason": row["reason"],
            "revoked_serials": json.loads(row["revoked_serials"]) if row["revoked_serials"] else None,
            "document": _document_meta(uow, row["document_sha256"]), "requested_by": row["requested_by_key"],
            "decided_by": row["decided_by_key"], "request_journal_seq": row["request_seq"],
            "decision_journal_seq": row["decision_seq"], "created_at": row["created_at"],
            "decided_at": row["decided_at"], "fields": json.loads(row["body"])}


def view(reg: Registry, uow: UnitOfWork, loa_id: str) -> dict[str, Any]:
    head = _header(uow, loa_id)
    versions = [_version_view(uow, r) for r in _versions(uow, loa_id)]
    shown = next((v for v in versions if v["version"] == (head["current_version"] or 1)), versions[0])
    ft_kg, _ = first_transferred(uow, loa_id)
    return {"id": loa_id, "status": head["status"], "version": head["current_version"], **shown["fields"],
            "document": next((v["document"] for v in reversed(versions)
                              if v["document"] and v["version"] <= shown["version"]), None),
            "itmo_registry_id": registry_id(reg, uow), "attached_kg": attached_kg(uow, loa_id),
            "first_transferred_kg": ft_kg, "exported_kg": _exported_kg(uow, loa_id),
            "pending_version": next((v["version"] for v in versions if v["status"] == "pending_approval"), None),
            "versions": versions, "created_at": head["created_at"], "updated_at": head["updated_at"]}


# --- authorizations: four-eyes lifecycle -----------------------------------------------------------------------
def _new_version(uow: UnitOfWork, actor: Actor, loa_id: str, version: int, kind: rules.VersionKind,
                 body: dict[str, Any], doc: dict[str, Any] | None, reason: str,
                 revoked: list[str] | None) -> dict[str, Any]:
    entry = uow.append("a6_authorization_requested", {
        "actor": actor.key_id, "authorization_id": loa_id, "version": version, "kind": str(kind), "fields": body,
        "document": doc, "reason": reason, "revoked_serials": revoked})
    uow.repo.insert(a6.a6_authorization_versions, loa_id=loa_id, version=version, kind=str(kind),
                    status=str(rules.VersionStatus.PENDING_APPROVAL), body=canonical_json(body).decode(),
                    max_quantity_kg=int(body["max_quantity_kg"]), document_sha256=doc["sha256"] if doc else None,
                    revoked_serials=json.dumps(revoked) if revoked is not None else None, reason=reason,
                    requested_by_key=actor.key_id, requested_by_name=actor.name, decided_by_key=None,
                    request_seq=entry.seq, decision_seq=None, created_at=uow.now, decided_at=None)
    return {"seq": entry.seq}


def _check_projects(uow: UnitOfWork, body: dict[str, Any]) -> None:
    for pid in body.get("project_ids") or ():
        uow.repo.project(pid)


def request_grant(reg: Registry, uow: UnitOfWork, actor: Actor, req: AuthorizationIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "request an authorization")
    body = req.loa_body()
    rules.check_body(body, reg.profile.party_code)
    _check_projects(uow, body)
    if req.document is None:
        raise RegistryError(1003, "an LoA is granted on its signed document: give document")
    loa_id = new_id("loa")
    doc = store_document(uow, req.document)
    uow.repo.insert(a6.a6_authorizations, id=loa_id, status=str(rules.LoaStatus.PENDING_APPROVAL), current_version=0,
                    created_at=uow.now, updated_at=uow.now)
    _new_version(uow, actor, loa_id, 1, rules.VersionKind.GRANT, body, doc, "", None)
    return view(reg, uow, loa_id)


def _require_no_pending(uow: UnitOfWork, loa_id: str) -> None:
    pending = _pending(uow, loa_id)
    if pending is not None:
        raise RegistryError(3002, f"version {pending['version']} of authorization {loa_id} awaits approval",
                            authorization_id=loa_id, pending_version=pending["version"])


def _next_version(uow: UnitOfWork, loa_id: str) -> int:
    v = a6.a6_authorization_versions.c
    return int(uow.conn.execute(select(func.max(v.version)).where(v.loa_id == loa_id)).scalar_one()) + 1


def _check_amendment(uow: UnitOfWork, loa: rules.Loa, body: dict[str, Any]) -> None:
    ft_kg, ft_vintages = first_transferred(uow, loa.id)
    rules.check_amendment(loa.body, body, first_transferred_kg=ft_kg, attached_kg=attached_kg(uow, loa.id),
                          first_transferred_vintages=ft_vintages)


def request_amendment(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str,
                      req: AuthorizationIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "amend an authorization")
    loa = current(uow, loa_id)
    rules.require_granted(loa)
    _require_no_pending(uow, loa_id)
    body = req.loa_body()
    rules.check_body(body, reg.profile.party_code)
    _check_projects(uow, body)
    _check_amendment(uow, loa, body)
    doc = store_document(uow, req.document) if req.document is not None else None
    _new_version(uow, actor, loa_id, _next_version(uow, loa_id), rules.VersionKind.AMENDMENT, body, doc, "", None)
    return view(reg, uow, loa_id)


def _check_revocation(uow: UnitOfWork, loa: rules.Loa, ranges: list[SerialRange] | None) -> None:
    if ranges is None:
        ft_kg, _ = first_transferred(uow, loa.id)
        if ft_kg:
            raise RegistryError(6005, f"authorization {loa.id} has first-transferred units; revoke only the "
                                      f"units not yet first-transferred", first_transferred_kg=ft_kg)
        return
    for rng in ranges:
        mine = [range_of(r) for r in active_coverage(uow, rng) if r["loa_id"] == loa.id]
        if rules.subtract(rng, mine):
            raise RegistryError(6001, f"units {rng} are not under authorization {loa.id}", serial=str(rng))
        done = first_transfers_in(uow, rng)
        if done:
            raise RegistryError(6005, "first-transferred units cannot be revoked", serial=str(rng),
                                first_transferred=[str(range_of(r)) for r in done])
        rules.require_whole_itmos(rng, "a partial revocation")  # what stays covered stays whole tonnes


def request_revocation(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str,
                       req: RevocationIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "revoke an authorization")
    loa = current(uow, loa_id)
    rules.require_granted(loa)
    _require_no_pending(uow, loa_id)
    ranges = parse_serial_list(list(req.serials)) if req.serials is not None else None
    _check_revocation(uow, loa, ranges)
    doc = store_document(uow, req.document) if req.document is not None else None
    _new_version(uow, actor, loa_id, _next_version(uow, loa_id), rules.VersionKind.REVOCATION, loa.body, doc,
                 req.reason, [str(r) for r in ranges] if ranges is not None else None)
    return view(reg, uow, loa_id)


def _release(uow: UnitOfWork, loa_id: str, ranges: list[SerialRange] | None, seq: int) -> int:
    """Take units out from under the LoA; coverage rows are closed, never deleted (history)."""
    c = a6.a6_coverage.c
    released = 0
    if ranges is None:
        released = attached_kg(uow, loa_id)
        uow.repo.update(a6.a6_coverage, [c.loa_id == loa_id, c.released_at.is_(None)],
                        released_at=uow.now, released_seq=seq)
        return released
    for rng in ranges:
        for row in active_coverage(uow, rng):
            if row["loa_id"] != loa_id:
                continue
            uow.repo.update(a6.a6_coverage, [c.id == row["id"]], released_at=uow.now, released_seq=seq)
            whole = range_of(row)
            released += whole.quantity_kg
            for rest in rules.subtract(whole, [rng]):
                released -= rest.quantity_kg
                uow.repo.insert(a6.a6_coverage, **{**_coverage_values(row), "serial_prefix": rest.prefix,
                                                   "first_kg": rest.first_kg, "last_kg": rest.last_kg,
                                                   "quantity_kg": rest.quantity_kg})
    return released


def _coverage_values(row: Any) -> dict[str, Any]:
    keep = ("loa_id", "issuance_id", "project_id", "standard", "vintage", "attached_at", "attach_seq")
    return {k: row[k] for k in keep} | {"released_at": None, "released_seq": None}


def approve(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str) -> dict[str, Any]:
    require_role(actor, APPROVERS, "approve an authorization")
    _header(uow, loa_id)
    pending = _pending(uow, loa_id)
    if pending is None:
        raise RegistryError(3002, f"authorization {loa_id} has no version awaiting approval", authorization_id=loa_id)
    require_four_eyes(actor, pending["requested_by_key"], pending["requested_by_name"],
                      "approve an authorization")
    kind = rules.VersionKind(pending["kind"])
    body = json.loads(pending["body"])
    # Everything checked at request time is checked again: the world may have moved since.
    released_kg = 0
    revoked = json.loads(pending["revoked_serials"]) if pending["revoked_serials"] else None
    ranges = [parse_serial(s) for s in revoked] if revoked is not None else None
    if kind == rules.VersionKind.AMENDMENT:
        _check_amendment(uow, current(uow, loa_id), body)
    elif kind == rules.VersionKind.REVOCATION:
        _check_revocation(uow, current(uow, loa_id), ranges)
    entry = uow.append("a6_authorization_approved", {
        "actor": actor.key_id, "authorization_id": loa_id, "version": pending["version"], "kind": str(kind),
        "requested_by": pending["requested_by_key"], "revoked_serials": revoked})
    if kind == rules.VersionKind.REVOCATION:
        released_kg = _release(uow, loa_id, ranges, entry.seq)
    status = rules.LoaStatus.REVOKED if kind == rules.VersionKind.REVOCATION and ranges is None \
        else rules.LoaStatus.ACTIVE
    v = a6.a6_authorization_versions.c
    uow.repo.update(a6.a6_authorization_versions, [v.loa_id == loa_id, v.version == pending["version"]],
                    status=str(rules.VersionStatus.APPROVED), decided_by_key=actor.key_id,
                    decision_seq=entry.seq, decided_at=uow.now)
    uow.repo.update(a6.a6_authorizations, [a6.a6_authorizations.c.id == loa_id],
                    status=str(status), current_version=pending["version"], updated_at=uow.now)
    result = view(reg, uow, loa_id)
    result["released_kg"] = released_kg
    return result


def reject(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str, req: DecisionIn) -> dict[str, Any]:
    require_role(actor, APPROVERS, "reject an authorization")
    head = _header(uow, loa_id)
    pending = _pending(uow, loa_id)
    if pending is None:
        raise RegistryError(3002, f"authorization {loa_id} has no version awaiting approval", authorization_id=loa_id)
    require_four_eyes(actor, pending["requested_by_key"], pending["requested_by_name"],
                      "reject an authorization")
    entry = uow.append("a6_authorization_rejected", {"actor": actor.key_id, "authorization_id": loa_id,
                                                     "version": pending["version"], "reason": req.reason})
    v = a6.a6_authorization_versions.c
    uow.repo.update(a6.a6_authorization_versions, [v.loa_id == loa_id, v.version == pending["version"]],
                    status=str(rules.VersionStatus.REJECTED), decided_by_key=actor.key_id,
                    decision_seq=entry.seq, decided_at=uow.now, reason=req.reason or pending["reason"])
    if head["current_version"] == 0:
        uow.repo.update(a6.a6_authorizations, [a6.a6_authorizations.c.id == loa_id],
                        status=str(rules.LoaStatus.REJECTED), updated_at=uow.now)
    return view(reg, uow, loa_id)


# --- first transfer and corresponding adjustment ------------------------------------------------------------------
@dataclass
class Piece:
    """Part of a movement under one LoA: a serial range with its vintage."""

    rng: SerialRange
    vintage: int
    loa_id: str


@dataclass
class FirstTransferPlan:
    """Kilograms first-transferred by one operation under one LoA, and their adjustments (one per vintage)."""

    loa: rules.Loa
    event: str
    purpose: rules.LoaPurpose
    pieces: list[Piece]
    adjustments: dict[int, tuple[str, int]] = field(default_factory=dict)  # vintage -> (ca id, kg)

    @property
    def quantity_kg(self) -> int:
        return sum(p.rng.quantity_kg for p in self.pieces)

    def payload(self, registry: str, party: str) -> dict[str, Any]:
        return {"authorization_id": self.loa.id, "event": self.event, "purpose": str(self.purpose),
                "first_transfers": [{"serial": str(p.rng), "vintage": p.vintage, "quantity_kg": p.rng.quantity_kg,
                                     "itmo_first_id": itmo_ids(self.loa, registry, party, p.rng, p.vintage)[0],
                                     "itmo_last_id": itmo_ids(self.loa, registry, party, p.rng, p.vintage)[1],
                                     "ca_id": self.adjustments[p.vintage][0]} for p in self.pieces],
                "corresponding_adjustments": [{"id": ca, "party": party, "vintage": v, "quantity_kg": kg,
                                               "method": str(self.loa.ca_method)}
                                              for v, (ca, kg) in self.adjustments.items()]}


def plan_first_transfer(uow: UnitOfWork, loa: rules.Loa, pieces: Iterable[Piece], event: str,
                        purpose: rules.LoaPurpose) -> FirstTransferPlan | None:
    """The kilograms of ``pieces`` not yet first-transferred; None if there are none (never twice, I6)."""
    fresh: list[Piece] = []
    for p in pieces:
        done = [range_of(r) for r in first_transfers_in(uow, p.rng)]
        fresh += [Piece(part, p.vintage, p.loa_id) for part in rules.subtract(p.rng, done)]
    if not fresh:
        return None
    by_vintage = rules.adjustments_by_vintage((p.vintage, p.rng.quantity_kg) for p in fresh)
    plan = FirstTransferPlan(loa, event, purpose, fresh, {v: (new_id("ca"), kg) for v, kg in by_vintage.items()})
    assert sum(kg for _, kg in plan.adjustments.values()) == plan.quantity_kg
    return plan


def apply_first_transfer(uow: UnitOfWork, plan: FirstTransferPlan, party: str, seq: int, txn_id: str | None,
                         action: dict[str, Any]) -> None:
    """Write the first transfers, their adjustments and the AEF first-transfer actions (same transaction)."""
    year = int(uow.now[:4])
    uow.repo.insert_many(a6.a6_adjustments, [
        dict(id=ca, loa_id=plan.loa.id, party_code=party, vintage=v, quantity_kg=kg, method=str(plan.loa.ca_method),
             year=year, journal_seq=seq, created_at=uow.now) for v, (ca, kg) in plan.adjustments.items()])
    uow.repo.insert_many(a6.a6_first_transfers, [
        dict(loa_id=plan.loa.id, serial_prefix=p.rng.prefix, first_kg=p.rng.first_kg, last_kg=p.rng.last_kg,
             quantity_kg=p.rng.quantity_kg, vintage=p.vintage, event=plan.event, purpose=str(plan.purpose),
             txn_id=txn_id, ca_id=plan.adjustments[p.vintage][0], journal_seq=seq, created_at=uow.now)
        for p in plan.pieces])
    insert_actions(uow, rules.ActionType.FIRST_TRANSFER, plan.pieces, seq, txn_id,
                   {**action, "purpose": str(plan.purpose), "first_transfer": True})


def insert_actions(uow: UnitOfWork, action_type: rules.ActionType, pieces: Sequence[Piece], seq: int,
                   txn_id: str | None, extra: dict[str, Any]) -> None:
    if not pieces:
        return
    base = {"purpose": None, "first_transfer": False, "transferring_party": None, "acquiring_party": None,
            "acquiring_registry": None, "acquiring_entity": None, "using_entity": None}
    base.update(extra)
    year = int(uow.now[:4])
    uow.repo.insert_many(a6.a6_actions, [
        dict(base, action_type=str(action_type), year=year, action_at=uow.now, loa_id=p.loa_id,
             serial_prefix=p.rng.prefix, first_kg=p.rng.first_kg, last_kg=p.rng.last_kg,
             quantity_kg=p.rng.quantity_kg, vintage=p.vintage, txn_id=txn_id, journal_seq=seq) for p in pieces])


# --- attaching units to an authorization ------------------------------------------------------------------------
@dataclass
class _Unit:
    rng: SerialRange
    block: Block


def _attach_by_serials(uow: UnitOfWork, req: AttachIn) -> list[_Unit]:
    assert req.serials is not None
    units: list[_Unit] = []
    for rng in parse_serial_list(list(req.serials), max_ranges=MAX_RANGES_PER_ATTACH):
        require_issued_range(uow, rng)
        for leaf in uow.repo.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            check_movable(leaf, req.account_id or leaf.account_id)
            part = rules.intersect(rng, SerialRange(leaf.serial_prefix, leaf.first_kg, leaf.last_kg))
            assert part is not None
            units.append(_Unit(part, leaf))
    return units


def _attach_by_quantity(reg: Registry, uow: UnitOfWork, req: AttachIn) -> list[_Unit]:
    """Lowest free serials of the account not yet under any LoA, of exportable standards."""
    assert req.account_id is not None
    quantity = require_quantity(req.quantity_kg)
    uow.repo.account(req.account_id)
    exportable = [s.code for s in reg.profile.standards.values() if s.exportable]
    units: list[_Unit] = []
    remaining = quantity
    for leaf in uow.repo.free_leaves(req.account_id, BlockState.HELD, project_id=req.project_id,
                                     vintage=req.vintage, standards=exportable):
        whole = SerialRange(leaf.serial_prefix, leaf.first_kg, leaf.last_kg)
        for part in rules.subtract(whole, [range_of(r) for r in active_coverage(uow, whole)]):
            take = min(remaining, part.quantity_kg)
            units.append(_Unit(SerialRange(part.prefix, part.first_kg, part.first_kg + take - 1), leaf))
            remaining -= take
            if remaining == 0:
                return units
    free_any = sum(b.quantity_kg for b in uow.repo.free_leaves(req.account_id, BlockState.HELD,
                                                               project_id=req.project_id, vintage=req.vintage))
    if free_any >= quantity and not any(True for _ in uow.repo.free_leaves(
            req.account_id, BlockState.HELD, project_id=req.project_id, vintage=req.vintage, standards=exportable)):
        raise RegistryError(5002, "the account's free units are of standards that cannot be authorized",
                            account_id=req.account_id)
    raise RegistryError(4001, "quantity above the account's free units not yet under an authorization",
                        requested_kg=quantity, available_kg=quantity - remaining, account_id=req.account_id)


def attach(reg: Registry, uow: UnitOfWork, actor: Actor, loa_id: str, req: AttachIn) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "attach units to an authorization")
    loa = current(uow, loa_id)
    rules.require_valid_on(loa, today(uow))
    units = _attach_by_serials(uow, req) if req.serials is not None else _attach_by_quantity(reg, uow, req)
    for u in units:
        rules.require_exportable(reg.profile, u.block.standard, str(u.rng))
        rules.check_attach_unit(loa, u.block.project_id, u.block.vintage, str(u.rng))
        taken = active_coverage(uow, u.rng)
        if taken:
            raise RegistryError(6008, "units are already under an authorization", serial=str(u.rng),
                                authorization_ids=sorted({r["loa_id"] for r in taken}))
        rules.require_whole_itmos(u.rng, "units placed under an authorization")
    adding = sum(u.rng.quantity_kg for u in units)
    rules.check_capacity(loa, attached_kg(uow, loa_id), adding)
    pieces = [Piece(u.rng, u.block.vintage, loa_id) for u in units]
    rid, party = registry_id(reg, uow), reg.profile.party_code
    event = rules.first_transfer_at_attach(loa)
    plan = plan_first_transfer(uow, loa, pieces, str(event), rules.LoaPurpose.OIMP) if event else None
    payload: dict[str, Any] = {
        "actor": actor.key_id, "authorization_id": loa_id, "version": loa.version, "quantity_kg": adding,
        "units": [{"serial": str(p.rng), "vintage": p.vintage, "quantity_kg": p.rng.quantity_kg,
                   "itmo_first_id": itmo_ids(loa, rid, party, p.rng, p.vintage)[0],
                   "itmo_last_id": itmo_ids(loa, rid, party, p.rng, p.vintage)[1]}
                  for p in pieces]}
    if plan is not None:
        payload["article6"] = plan.payload(rid, party)
    entry = uow.append("a6_units_attached", payload)
    uow.repo.insert_many(a6.a6_coverage, [
        dict(loa_id=loa_id, issuance_id=u.block.issuance_id, project_id=u.block.project_id, standard=u.block.standard,
             vintage=u.block.vintage, serial_prefix=u.rng.prefix, first_kg=u.rng.first_kg, last_kg=u.rng.last_kg,
             quantity_kg=u.rng.quantity_kg, attached_at=uow.now, attach_seq=entry.seq, released_at=None,
             released_seq=None) for u in units])
    insert_actions(uow, rules.ActionType.AUTHORIZATION, pieces, entry.seq, None, {"transferring_party": party})
    if plan is not None:
        apply_first_transfer(uow, plan, party, entry.seq, None, {"transferring_party": party})
    return {"authorization_id": loa_id, "quantity_kg": adding, "journal_seq": entry.seq,
            "units": payload["units"], "first_transferred_kg": plan.quantity_kg if plan else 0,
            "corresponding_adjustments": plan.payload(rid, party)["corresponding_adjustments"] if plan else [],
            "attached_kg": attached_kg(uow, loa_id), "max_quantity_kg": loa.max_quantity_kg}


# --- use here: the Article 6 check on retirement --------------------------------------------------------------------
INTERNATIONAL_PURPOSES = frozenset({Purpose.OIMP, Purpose.CORSIA})
DOMESTIC_CLAIMS = frozenset({Purpose.DOMESTIC_COMPLIANCE, Purpose.NDC})


@dataclass
class UsePlan:
    """What a retirement means for Article 6: first transfers it causes and the AEF actions it is."""

    registry: str
    party: str
    plans: list[FirstTransferPlan] = field(default_factory=list)
    actions: list[tuple[rules.ActionType, list[Piece], dict[str, Any]]] = field(default_factory=list)

    def journal_fields(self) -> dict[str, Any]:
        if not self.plans and not self.actions:
            return {}
        return {"article6": {
            "first_transfers": [p.payload(self.registry, self.party) for p in self.plans],
            "actions": [{"type": str(kind), "serials": [str(p.rng) for p in pieces]} for kind, pieces, _ in
                        self.actions]}}

    def apply(self, uow: UnitOfWork, txn_id: str, seq: int) -> None:
        for kind, pieces, extra in self.actions:
            insert_actions(uow, kind, pieces, seq, txn_id, extra)
        for plan in self.plans:
            apply_first_transfer(uow, plan, self.party, seq, txn_id, {"transferring_party": self.party})


def _pieces_under_loas(uow: UnitOfWork, picks: Sequence[Pick]) -> tuple[list[Piece], list[SerialRange]]:
    covered: list[Piece] = []
    uncovered: list[SerialRange] = []
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        rows = active_coverage(uow, rng)
        for row in rows:
            part = rules.intersect(rng, range_of(row))
            if part is not None:
                covered.append(Piece(part, pick.block.vintage, row["loa_id"]))
        uncovered += rules.subtract(rng, [range_of(r) for r in rows])
    return covered, uncovered


def _labelled(uow: UnitOfWork, rng: SerialRange, label: rules.Label) -> bool:
    c = a6.a6_labels.c
    rows = uow.conn.execute(select(c.serial_prefix, c.first_kg, c.last_kg).where(
        c.serial_prefix == rng.prefix, c.label == str(label), c.first_kg <= rng.last_kg, c.last_kg >= rng.first_kg))
    return not rules.subtract(rng, [SerialRange(r[0], int(r[1]), int(r[2])) for r in rows])


def check_domestic_exit(uow: UnitOfWork, picks: Sequence[Pick], what: str) -> list[Piece]:
    """A domestic retirement or a cancellation: units under an LoA and not first-transferred cannot leave
    this way (6007: the report would lose them; release the coverage first); first-transferred units leave
    as whole ITMOs (6006). Returns the first-transferred pieces."""
    done: list[Piece] = []
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        for row in first_transfers_in(uow, rng):
            part = rules.intersect(rng, range_of(row))
            if part is not None:
                done.append(Piece(part, pick.block.vintage, row["loa_id"]))
    covered, _ = _pieces_under_loas(uow, picks)
    pending = [part for p in covered for part in rules.subtract(p.rng, [d.rng for d in done])]
    if pending:
        raise RegistryError(6007, f"units under an Article 6 authorization and not first-transferred cannot "
                                  f"leave by {what}; release them from the authorization first",
                            serials=[str(r) for r in pending[:20]])
    for d in done:
        rules.require_whole_itmos(d.rng, f"{what} of first-transferred units")
    return done


def plan_use(reg: Registry, uow: UnitOfWork, user_participant_id: str, picks: Sequence[Pick],
             purpose: Purpose) -> UsePlan:
    """Check a retirement by ``user_participant_id`` against Article 6 and plan its first transfers
    (6001, 6003, 6004, 5001)."""
    plan = UsePlan(registry_id(reg, uow), reg.profile.party_code)
    if purpose in INTERNATIONAL_PURPOSES:
        covered, uncovered = _pieces_under_loas(uow, picks)
        if uncovered:
            raise RegistryError(6001, f"use for {purpose} needs units covered by an Article 6 authorization",
                                serials=[str(r) for r in uncovered[:20]])
        participant = uow.repo.participant(user_participant_id)
        by_loa: dict[str, list[Piece]] = defaultdict(list)
        for p in covered:
            by_loa[p.loa_id].append(p)
        for loa_id, pieces in sorted(by_loa.items()):
            loa = current(uow, loa_id)
            rules.require_valid_on(loa, today(uow))
            rules.check_purpose(loa, rules.LoaPurpose.OIMP, rules.CORSIA if purpose == Purpose.CORSIA else None)
            rules.check_user(loa, participant.id, participant.name, reg.profile.party_code)
            if purpose == Purpose.CORSIA:
                for p in pieces:
                    if not _labelled(uow, p.rng, rules.Label.CORSIA_ELIGIBLE):
                        raise RegistryError(5001, "CORSIA use needs units labelled CORSIA-eligible",
                                            serial=str(p.rng))
            for p in pieces:
                rules.require_whole_itmos(p.rng, f"a use for {purpose} of authorized units")
            if rules.first_transfer_at_use(loa):
                ft = plan_first_transfer(uow, loa, pieces, "use", rules.LoaPurpose.OIMP)
                if ft is not None:
                    plan.plans.append(ft)
            # The purpose stays what it was (CORSIA is reported as CORSIA, not as OIMP in general).
            plan.actions.append((rules.ActionType.USE, pieces, {"purpose": str(purpose),
                                                                "using_entity": participant.name}))
        return plan
    done = check_domestic_exit(uow, picks, f"a {purpose} retirement")
    if done and purpose in DOMESTIC_CLAIMS:
        raise RegistryError(6003, f"first-transferred units carry a corresponding adjustment and cannot serve a "
                                  f"{purpose} claim here", serials=[str(p.rng) for p in done[:20]])
    if done:
        participant = uow.repo.participant(user_participant_id)
        plan.actions.append((rules.ActionType.VOLUNTARY_CANCELLATION, done, {"using_entity": participant.name}))
    return plan


# --- labels --------------------------------------------------------------------------------------------------------
def set_label(reg: Registry, uow: UnitOfWork, actor: Actor, req: LabelIn) -> dict[str, Any]:
    """Label issued Premium units CORSIA-eligible (host attestation) or ICVCM CCP (5002 for other standards)."""
    require_role(actor, [Role.REGISTRY_ADMIN], "label units")
    ranges = parse_serial_list(list(req.serials))
    for rng in ranges:
        require_issued_range(uow, rng)
        for leaf in uow.repo.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            rules.require_exportable(reg.profile, leaf.standard, str(rng))
    entry = uow.append("a6_label_set", {"actor": actor.key_id, "label": str(req.label), "reference": req.reference,
                                        "detail": req.detail, "serials": [str(r) for r in ranges]})
    for rng in ranges:
        uow.repo.insert(a6.a6_labels, label=str(req.label), serial_prefix=rng.prefix, first_kg=rng.first_kg,
                        last_kg=rng.last_kg, reference=req.reference, detail=json.dumps(req.detail, sort_keys=True),
                        set_by_key=actor.key_id, journal_seq=entry.seq, created_at=uow.now)
    return {"label": str(req.label), "serials": [str(r) for r in ranges], "reference": req.reference,
            "detail": req.detail, "journal_seq": entry.seq}


def labels_of(uow: UnitOfWork, rng: SerialRange) -> list[dict[str, Any]]:
    c = a6.a6_labels.c
    rows = uow.conn.execute(select(a6.a6_labels).where(c.serial_prefix == rng.prefix, c.first_kg <= rng.last_kg,
                                                       c.last_kg >= rng.first_kg).order_by(c.first_kg, c.id)).mappings()
    return [{"label": r["label"], "serial": format_serial(r["serial_prefix"], r["first_kg"], r["last_kg"]),
             "reference": r["reference"], "detail": json.loads(r["detail"]), "journal_seq": r["journal_seq"],
             "created_at": r["created_at"]} for r in rows]


# --- Article 6 view of serials and ITMO ids --------------------------------------------------------------------------
def serial_status(reg: Registry, uow: UnitOfWork, rng: SerialRange) -> dict[str, Any]:
    """Which LoA covers these kilograms, which are first-transferred, their labels and ITMO ids (for the
    whole tonnes under an LoA)."""
    rid, party = registry_id(reg, uow), reg.profile.party_code
    blocks = uow.repo.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)
    if not blocks:
        raise RegistryError(1005, "no issued units carry this serial", serial=str(rng))
    vintage = blocks[0].vintage
    loas: dict[str, rules.Loa] = {}
    coverage = []
    for r in active_coverage(uow, rng):
        part = rules.intersect(rng, range_of(r))
        if part is None:
            continue
        loa = loas.setdefault(r["loa_id"], current(uow, r["loa_id"]))
        first_id, last_id = itmo_ids(loa, rid, party, part, vintage)
        coverage.append({"authorization_id": r["loa_id"], "cooperative_approach_id": loa.cooperative_approach_id,
                         "serial": str(part), "itmo_first_id": first_id, "itmo_last_id": last_id})
    fts = [{"authorization_id": r["loa_id"], "serial": str(part), "event": r["event"], "purpose": r["purpose"],
            "ca_id": r["ca_id"], "journal_seq": r["journal_seq"], "at": r["created_at"]}
           for r in first_transfers_in(uow, rng) if (part := rules.intersect(rng, range_of(r))) is not None]
    return {"serial": str(rng), "itmo_registry_id": rid, "states": sorted({str(b.state) for b in blocks}),
            "authorizations": coverage, "first_transfers": fts, "labels": labels_of(uow, rng)}


def itmo_ids(loa: rules.Loa, rid: str, party: str, rng: SerialRange, vintage: int) -> tuple[str, str]:
    """First and last ITMO unique ids (one per tonne) of units under ``loa``; empty when the range is not
    whole tonnes (only ranges from before the 6006 rule can be)."""
    if not rules.is_whole_itmos(rng):
        return "", ""
    return rules.cma_itmo_ids(loa.cooperative_approach_id, rid, party, rng, vintage)


def itmo(reg: Registry, uow: UnitOfWork, unique_id: str) -> dict[str, Any]:
    """Resolve an ITMO unique id (one tonne) back to its serial range, state, authorization, first transfer."""
    parsed = rules.parse_cma_itmo_id(unique_id)
    if parsed.registry_id != registry_id(reg, uow) or parsed.party != reg.profile.party_code:
        raise RegistryError(1005, f"ITMO {unique_id} belongs to registry {parsed.registry_id}, not this one",
                            itmo_id=unique_id)
    prefix = uow.conn.execute(select(t.issuances.c.serial_prefix).where(t.issuances.c.serial_prefix.like(
        f"%-{parsed.project_number:05d}-{parsed.vintage:04d}-{parsed.issuance_number:03d}"))).scalar()
    not_found = RegistryError(1005, f"no ITMO {unique_id} in this registry", itmo_id=unique_id)
    if prefix is None:
        raise not_found
    rng = parsed.kg_range(prefix)
    status = serial_status(reg, uow, rng)
    if not any(a["cooperative_approach_id"] == parsed.ca_id and a["itmo_first_id"] == unique_id
               for a in status["authorizations"]):
        raise not_found
    return {"itmo_id": unique_id, "tonne": parsed.tonne, **status}


# --- invariant I6: snapshot loader ------------------------------------------------------------------------------------
def load_snapshot(uow: UnitOfWork, snap: Any) -> None:
    ft = a6.a6_first_transfers.c
    ca = a6.a6_adjustments.c
    cov = a6.a6_coverage.c
    snap.extra[rules.SNAPSHOT_KEY] = rules.Article6Facts(
        first_transfers=[(r[0], int(r[1]), int(r[2]), int(r[3]), r[4], r[5]) for r in uow.conn.execute(
            select(ft.serial_prefix, ft.first_kg, ft.last_kg, ft.vintage, ft.ca_id, ft.loa_id))],
        adjustments=[(r[0], int(r[1]), int(r[2]), r[3]) for r in uow.conn.execute(
            select(ca.id, ca.vintage, ca.quantity_kg, ca.loa_id))],
        coverage=[(r[0], int(r[1]), int(r[2]), r[3]) for r in uow.conn.execute(
            select(cov.serial_prefix, cov.first_kg, cov.last_kg, cov.loa_id).where(cov.released_at.is_(None)))],
        coverage_history=[(r[0], r[1], int(r[2]), int(r[3]), r[4], int(r[5]), r[6] is not None)
                          for r in uow.conn.execute(select(cov.issuance_id, cov.serial_prefix, cov.first_kg,
                                                           cov.last_kg, cov.loa_id, cov.vintage, cov.released_at))])

