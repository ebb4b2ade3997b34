"""Retirement with beneficiary, purpose and claim year, and its offline-verifiable certificate."""

from __future__ import annotations

import json
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
from sovcarbon.services import article6
from sovcarbon.services.movements import blocks_of_txn, record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import RetirementIn
from sovcarbon.services.views import block_view, retirement_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def retire(reg: Registry, uow: UnitOfWork, actor: Actor, req: RetirementIn) -> dict[str, Any]:
    account = uow.repo.account(req.account_id)
    require_controls(actor, account, "retire")
    require_active(account, "retiring")
    eligible = [s.code for s in reg.profile.standards.values() if req.purpose in s.allowed_purposes]
    picks = select_units(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                         project_id=req.project_id, vintage=req.vintage, standards=eligible)
    retirement_id, _, _ = record_retirement(
        reg, uow, actor_key=actor.key_id, account_id=account.id, user_participant_id=account.participant_id,
        picks=picks, beneficiary=req.beneficiary.model_dump(), purpose=req.purpose, claim_year=req.claim_year,
        note=req.note, evidence={})
    return view(uow, retirement_id)


def record_retirement(reg: Registry, uow: UnitOfWork, *, actor_key: str, account_id: str, user_participant_id: str,
                      picks: list[Pick], beneficiary: dict[str, str], purpose: Purpose, claim_year: int, note: str,
                      evidence: dict[str, Any]) -> tuple[str, str, int]:
    """Retire exactly ``picks`` (an NR request or a token burn); returns (retirement id, txn id, journal seq).

    The use rules (5001) and Article 6 (LoA coverage and purpose for oimp/corsia, no domestic claim on
    first-transferred units, and the first transfer + CA a use may cause) run here, so every path to a
    retirement obeys them, in the same transaction and journal entry.
    """
    rules.check_claim_year(claim_year)
    rules.check_use(reg.profile, (p.block for p in picks), purpose)
    a6_use = article6.plan_use(reg, uow, user_participant_id, picks, purpose)
    txn_id = new_id("txn")
    movement = rules.plan_retirement(picks, txn_id, lambda: new_id("blk"))
    retirement_id, certificate_id = new_id("ret"), new_id("cert")
    details = {"retirement_id": retirement_id, "certificate_id": certificate_id, "beneficiary": beneficiary,
               "purpose": str(purpose), "claim_year": claim_year, "note": note, "evidence": evidence,
               **a6_use.journal_fields()}
    seq, _ = record(uow, movement, txn_id, "retirement", actor_key, account_id, None, details)
    a6_use.apply(uow, txn_id, seq)
    uow.repo.insert(t.retirements, id=retirement_id, txn_id=txn_id, account_id=account_id,
                    quantity_kg=movement.quantity_kg, beneficiary_name=beneficiary["name"],
                    beneficiary_country=beneficiary["country"], purpose=str(purpose), claim_year=claim_year,
                    note=note, certificate_id=certificate_id, evidence=json.dumps(evidence, sort_keys=True),
                    journal_seq=seq, created_at=uow.now)
    return retirement_id, txn_id, seq


def view(uow: UnitOfWork, retirement_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.retirements, retirement_id, "retirement")
    blocks = [block_view(b) for b in blocks_of_txn(uow, row["txn_id"], "retired")]
    return retirement_view(row, blocks)


def certificate(reg: Registry, uow: UnitOfWork, certificate_id: str) -> dict[str, Any]:
    """The signed certificate: anyone holding the registry's public key can verify it offline."""
    by_certificate = select(t.retirements).where(t.retirements.c.certificate_id == certificate_id)
    row = uow.conn.execute(by_certificate).mappings().first()
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
