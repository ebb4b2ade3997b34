"""Retirement with beneficiary, purpose and claim year, and its offline-verifiable certificate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import retire as rules
from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_json, sign, verify_signature
from sovcarbon.domain.model import Actor, Purpose
from sovcarbon.services.movements import blocks_of_txn, record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import RetirementIn
from sovcarbon.services.views import block_view, retirement_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

INTERNATIONAL_PURPOSES = frozenset({Purpose.OIMP, Purpose.CORSIA})


def _no_authorizations(uow: UnitOfWork, picks: list[Pick], purpose: Purpose) -> None:
    raise RegistryError(6001, f"use for {purpose} needs units covered by an Article 6 authorization")


# Article 6 replaces this with its own check (LoA coverage, purposes, first transfer on use).
international_use_check: Callable[[UnitOfWork, list[Pick], Purpose], None] = _no_authorizations


def retire(reg: Registry, uow: UnitOfWork, actor: Actor, req: RetirementIn,
           evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    account = uow.repo.account(req.account_id)
    require_controls(actor, account, "retire")
    require_active(account, "retiring")
    eligible = [s.code for s in reg.profile.standards.values() if req.purpose in s.allowed_purposes]
    picks = select_units(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                         project_id=req.project_id, vintage=req.vintage, standards=eligible)
    rules.check_use(reg.profile, (p.block for p in picks), req.purpose)
    if req.purpose in INTERNATIONAL_PURPOSES:
        international_use_check(uow, picks, req.purpose)
    txn_id = new_id("txn")
    movement = rules.plan_retirement(picks, txn_id, lambda: new_id("blk"))
    retirement_id, certificate_id = new_id("ret"), new_id("cert")
    details = {"retirement_id": retirement_id, "certificate_id": certificate_id,
               "beneficiary": req.beneficiary.model_dump(), "purpose": str(req.purpose),
               "claim_year": req.claim_year, "note": req.note, "evidence": evidence or {}}
    seq, moved = record(uow, movement, txn_id, "retirement", actor.key_id, account.id, None, details)
    uow.repo.insert(t.retirements, id=retirement_id, txn_id=txn_id, account_id=account.id,
                    quantity_kg=movement.quantity_kg, beneficiary_name=req.beneficiary.name,
                    beneficiary_country=req.beneficiary.country, purpose=str(req.purpose),
                    claim_year=req.claim_year, note=req.note, certificate_id=certificate_id,
                    evidence=json.dumps(evidence or {}, sort_keys=True), journal_seq=seq, created_at=uow.now)
    return view(uow, retirement_id)


def view(uow: UnitOfWork, retirement_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.retirements, retirement_id, "retirement")
    blocks = [block_view(b) for b in blocks_of_txn(uow, row["txn_id"], "retired")]
    return retirement_view(row, blocks)


def certificate(reg: Registry, uow: UnitOfWork, certificate_id: str) -> dict[str, Any]:
    """The signed certificate: anyone holding the registry's public key can verify it offline."""
    row = uow.conn.execute(select(t.retirements).where(t.retirements.c.certificate_id == certificate_id)).mappings().first()
    if row is None:
        raise RegistryError(1005, f"certificate {certificate_id} not found", id=certificate_id)
    blocks = [block_view(b) for b in blocks_of_txn(uow, row["txn_id"], "retired")]
    journal_hash = uow.conn.execute(select(t.journal.c.hash).where(t.journal.c.seq == row["journal_seq"])).scalar_one()
    body = {"type": "sovcarbon.retirement-certificate.v1", "certificate_id": certificate_id,
            "registry": reg.profile.registry_name, "registry_country": reg.profile.country,
            "retirement_id": row["id"], "account_id": row["account_id"], "quantity_kg": row["quantity_kg"],
            "beneficiary": {"name": row["beneficiary_name"], "country": row["beneficiary_country"]},
            "purpose": row["purpose"], "claim_year": row["claim_year"], "retired_at": row["created_at"],
            "serials": [b["serial"] for b in blocks],
            "standards": sorted({b["standard"] for b in blocks}), "vintages": sorted({b["vintage"] for b in blocks}),
            "journal": {"seq": row["journal_seq"], "hash": journal_hash},
            "evidence": json.loads(row["evidence"])}
    return {"certificate": body, "signature": sign(reg.store.signing_key, canonical_json(body)),
            "public_key": reg.store.public_key_hex, "algorithm": "Ed25519 over canonical JSON (sorted keys, compact)"}


def verify_certificate(document: dict[str, Any], public_key_hex: str | None = None) -> dict[str, Any]:
    """Offline check: the signature over the certificate's canonical JSON, under the given key."""
    body, signature = document.get("certificate"), document.get("signature")
    key = public_key_hex or document.get("public_key")
    if not isinstance(body, dict) or not isinstance(signature, str) or not isinstance(key, str):
        raise RegistryError(1003, "a certificate document has 'certificate', 'signature' and 'public_key'")
    ok = verify_signature(key, canonical_json(body), signature)
    return {"valid": ok, "certificate_id": body.get("certificate_id"), "public_key": key}
