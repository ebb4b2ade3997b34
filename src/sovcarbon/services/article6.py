"""Article 6 authorizations (LoAs: documents, four-eyes versions, amendment, revocation), the serial-range
look-ups every Article 6 module shares, ITMO ids and the I6 snapshot loader. Rules live in
``domain.article6``; attaching units in ``services.article6_attach``; first transfers and corresponding
adjustments in ``services.article6_first_transfer``; the check on retirement in ``services.article6_use``;
labels and serial/ITMO look-ups in ``services.article6_serials``; exports in ``services.article6_export``;
the AEF report in ``services.aef``.

Every operation is one write transaction with one journal entry; first transfers and corresponding
adjustments are written in the transaction (and the journal entry) of the operation that causes them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor, Role
from sovcarbon.domain.serials import SerialRange, parse_serial, parse_serial_list
from sovcarbon.services.article6_requests import AuthorizationIn, DocumentIn, RevocationIn
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import DecisionIn
from sovcarbon.store import article6_tables as a6
from sovcarbon.store.uow import UnitOfWork

APPROVERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides
ITMO_REGISTRY_NUMBER_SETTING = "itmo_registry_number"


def today(uow: UnitOfWork) -> date:
    return date.fromisoformat(uow.now[:10])


def registry_id(reg: Registry, uow: UnitOfWork) -> str:
    number = uow.repo.setting(ITMO_REGISTRY_NUMBER_SETTING)
    return rules.itmo_registry_id(reg.profile.party_code, int(number) if number else 1)


# --- serial-range look-ups (store/authorizations.AuthorizationRepository) ------------------------------------------
def active_coverage(uow: UnitOfWork, rng: SerialRange) -> list[Any]:
    return uow.repo.authorizations.active_coverage(rng)


def first_transfers_in(uow: UnitOfWork, rng: SerialRange) -> list[Any]:
    return uow.repo.authorizations.first_transfers_in(rng)


def range_of(row: Any) -> SerialRange:
    return SerialRange(row["serial_prefix"], int(row["first_kg"]), int(row["last_kg"]))


# --- documents ------------------------------------------------------------------------------------------------
def store_document(uow: UnitOfWork, doc: DocumentIn) -> dict[str, Any]:
    """Keep the signed document in the registry's own store, addressed by its SHA-256."""
    content = doc.content()
    digest = hashlib.sha256(content).hexdigest()
    if not uow.repo.authorizations.document_exists(digest):
        uow.repo.insert(a6.a6_documents, sha256=digest, name=doc.name, media_type=doc.media_type,
                        size_bytes=len(content), content=content, created_at=uow.now)
    return {"sha256": digest, "name": doc.name, "media_type": doc.media_type, "size_bytes": len(content)}


def document(uow: UnitOfWork, sha256: str) -> tuple[bytes, str, str]:
    row = uow.repo.authorizations.document(sha256)
    if row is None:
        raise RegistryError(1005, f"document {sha256} not found", sha256=sha256)
    return bytes(row["content"]), str(row["media_type"]), str(row["name"])


def _document_meta(uow: UnitOfWork, sha256: str | None) -> dict[str, Any] | None:
    if sha256 is None:
        return None
    return uow.repo.authorizations.document_meta(sha256)


# --- authorizations: load and view ----------------------------------------------------------------------------
def _header(uow: UnitOfWork, loa_id: str) -> Any:
    return uow.repo.one(a6.a6_authorizations, loa_id, "authorization")


def current(uow: UnitOfWork, loa_id: str) -> rules.Loa:
    """The LoA as it stands: its approved version (or the requested grant while pending)."""
    head = _header(uow, loa_id)
    row = uow.repo.authorizations.version(loa_id, head["current_version"] or 1)
    return rules.Loa.from_body(loa_id, int(row["version"]), head["status"], json.loads(row["body"]))


def attached_kg(uow: UnitOfWork, loa_id: str) -> int:
    return uow.repo.authorizations.attached_kg(loa_id)


def first_transferred(uow: UnitOfWork, loa_id: str) -> tuple[int, set[int]]:
    by_vintage = uow.repo.authorizations.first_transferred_by_vintage(loa_id)
    return sum(by_vintage.values()), set(by_vintage)


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
    versions = [_version_view(uow, r) for r in uow.repo.authorizations.versions(loa_id)]
    shown = next((v for v in versions if v["version"] == (head["current_version"] or 1)), versions[0])
    ft_kg, _ = first_transferred(uow, loa_id)
    return {"id": loa_id, "status": head["status"], "version": head["current_version"], **shown["fields"],
            "document": next((v["document"] for v in reversed(versions)
                              if v["document"] and v["version"] <= shown["version"]), None),
            "itmo_registry_id": registry_id(reg, uow), "attached_kg": attached_kg(uow, loa_id),
            "first_transferred_kg": ft_kg, "exported_kg": uow.repo.authorizations.exported_kg(loa_id),
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
    pending = uow.repo.authorizations.pending_version(loa_id)
    if pending is not None:
        raise RegistryError(3002, f"version {pending['version']} of authorization {loa_id} awaits approval",
                            authorization_id=loa_id, pending_version=pending["version"])


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
    version = uow.repo.authorizations.next_version(loa_id)
    _new_version(uow, actor, loa_id, version, rules.VersionKind.AMENDMENT, body, doc, "", None)
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
    version = uow.repo.authorizations.next_version(loa_id)
    _new_version(uow, actor, loa_id, version, rules.VersionKind.REVOCATION, loa.body, doc, req.reason,
                 [str(r) for r in ranges] if ranges is not None else None)
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
    pending = uow.repo.authorizations.pending_version(loa_id)
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
    pending = uow.repo.authorizations.pending_version(loa_id)
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


def itmo_ids(loa: rules.Loa, rid: str, party: str, rng: SerialRange, vintage: int) -> tuple[str, str]:
    """First and last ITMO unique ids (one per tonne) of units under ``loa``; empty when the range is not
    whole tonnes (only ranges from before the 6006 rule can be)."""
    if not rules.is_whole_itmos(rng):
        return "", ""
    return rules.cma_itmo_ids(loa.cooperative_approach_id, rid, party, rng, vintage)


# --- invariant I6: snapshot loader ------------------------------------------------------------------------------------
def load_snapshot(uow: UnitOfWork, snap: Any) -> None:
    rows = uow.repo.authorizations.snapshot_rows()
    snap.extra[rules.SNAPSHOT_KEY] = rules.Article6Facts(
        first_transfers=rows["first_transfers"], adjustments=rows["adjustments"], coverage=rows["coverage"],
        coverage_history=rows["coverage_history"])
