"""Retirement with beneficiary, purpose and claim year, and its offline-verifiable certificate.

| certificate rule | how |
|---|---|
| signed once, at retirement | ``issue_certificate`` runs in the retirement's transaction (NR request or token burn) |
| stored | ``certificates`` row: the signed bytes, the signature and the key id, written through ``uow.repo`` |
| served as stored | ``certificate_document`` wraps the stored bytes; nothing is re-read from the retirement row |
| checked against a pinned key | ``verify_certificate``: "signature valid", "signed by this registry" apart |
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import retire as rules
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_json, canonical_text, verify_signature
from sovcarbon.domain.model import Actor, Purpose
from sovcarbon.services import article6_use, peer_notices
from sovcarbon.services.movements import blocks_of_txn, load_selection, record
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import RetirementIn
from sovcarbon.services.views import block_view, retirement_view
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def load_facts(reg: Registry, uow: UnitOfWork, actor: Actor, req: RetirementIn) -> rules.RetirementFacts:
    account = uow.repo.find_account(req.account_id)
    units = None
    if account is not None:
        eligible = [s.code for s in reg.profile.standards.values() if req.purpose in s.allowed_purposes]
        units = load_selection(uow, account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                               project_id=req.project_id, vintage=req.vintage, standards=eligible)
    return rules.RetirementFacts(actor=actor, account_id=req.account_id, account=account, units=units)


def retire(reg: Registry, uow: UnitOfWork, actor: Actor, req: RetirementIn) -> dict[str, Any]:
    plan = rules.check_retirement(load_facts(reg, uow, actor, req))
    account = plan.account
    retirement_id, _, _ = record_retirement(
        reg, uow, actor_key=actor.key_id, account_id=account.id, user_participant_id=account.participant_id,
        picks=list(plan.picks), beneficiary=req.beneficiary.model_dump(), purpose=req.purpose,
        claim_year=req.claim_year, note=req.note, evidence={})
    return view(uow, retirement_id)


def record_retirement(reg: Registry, uow: UnitOfWork, *, actor_key: str, account_id: str, user_participant_id: str,
                      picks: list[Pick], beneficiary: dict[str, str], purpose: Purpose, claim_year: int, note: str,
                      evidence: dict[str, Any]) -> tuple[str, str, int]:
    """Retire exactly ``picks`` (an NR request or a token burn); returns (retirement id, txn id, journal seq).

    The use rules (5001) and Article 6 (LoA coverage and purpose for oimp/corsia, no domestic claim on
    first-transferred units, and the first transfer + CA a use may cause) run here, so every path to a
    retirement obeys them, in the same transaction and journal entry.
    """
    rules.check_use_of(reg.profile, picks, purpose, claim_year)
    a6_use = article6_use.plan_use(reg, uow, user_participant_id, picks, purpose)
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
                    note=note, certificate_id=certificate_id, evidence=canonical_text(evidence),
                    journal_seq=seq, created_at=uow.now)
    issue_certificate(reg, uow, certificate_id=certificate_id, retirement_id=retirement_id, txn_id=txn_id,
                      account_id=account_id, quantity_kg=movement.quantity_kg, beneficiary=beneficiary,
                      purpose=purpose, claim_year=claim_year, journal_seq=seq, evidence=evidence)
    # A peer's company using units authorized for its Party (e.g. tokens retired on chain): its registry is
    # told, by a signed notice stored in this transaction and sent after the commit.
    peer_notices.notify_entity_use(reg, uow, retirement_id=retirement_id, user_participant_id=user_participant_id,
                                   picks=picks, purpose=str(purpose), beneficiary=beneficiary,
                                   claim_year=claim_year, evidence=evidence)
    return retirement_id, txn_id, seq


def view(uow: UnitOfWork, retirement_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.retirements, retirement_id, "retirement")
    blocks = [block_view(b) for b in blocks_of_txn(uow, row["txn_id"], "retired")]
    return retirement_view(row, blocks)


CERTIFICATE_TYPE = "sovcarbon.retirement-certificate.v1"
CERTIFICATE_ALGORITHM = "Ed25519 over canonical JSON (sorted keys, compact)"


def issue_certificate(reg: Registry, uow: UnitOfWork, *, certificate_id: str, retirement_id: str, txn_id: str,
                      account_id: str, quantity_kg: int, beneficiary: dict[str, str], purpose: Purpose,
                      claim_year: int, journal_seq: int, evidence: dict[str, Any]) -> bytes:
    """Sign the certificate once, in the retirement's own transaction, and store the signed bytes.

    The certificate names its journal entry by seq: that entry (written in this transaction) commits to
    the retirement and to this certificate row, so the chain and its signed checkpoints cover both.
    """
    blocks = [block_view(b) for b in blocks_of_txn(uow, txn_id, "retired")]
    body = {"type": CERTIFICATE_TYPE, "certificate_id": certificate_id,
            "registry": reg.profile.registry_name, "registry_country": reg.profile.country,
            "retirement_id": retirement_id, "account_id": account_id, "quantity_kg": quantity_kg,
            "beneficiary": {"name": beneficiary["name"], "country": beneficiary["country"]},
            "purpose": str(purpose), "claim_year": claim_year, "retired_at": uow.now,
            "serials": [b["serial"] for b in blocks],
            "standards": sorted({b["standard"] for b in blocks}), "vintages": sorted({b["vintage"] for b in blocks}),
            "journal": {"seq": journal_seq},
            "evidence": json.loads(json.dumps(evidence, sort_keys=True))}
    document = canonical_json(body)
    uow.repo.insert(t.certificates, id=certificate_id, retirement_id=retirement_id, document=document,
                    signature=reg.store.signer.sign(document).hex(), public_key=reg.store.public_key_hex,
                    created_at=uow.now)
    return document


def certificate_document(uow: UnitOfWork, certificate_id: str) -> bytes:
    """The certificate as served: the stored signed bytes, byte for byte, in a canonical JSON envelope
    (keys ``algorithm``, ``certificate``, ``public_key``, ``signature``)."""
    row = uow.conn.execute(select(t.certificates).where(t.certificates.c.id == certificate_id)).mappings().first()
    if row is None:
        raise RegistryError(1005, f"certificate {certificate_id} not found", id=certificate_id)
    return (b'{"algorithm":' + canonical_json(CERTIFICATE_ALGORITHM) + b',"certificate":' + bytes(row["document"])
            + b',"public_key":' + canonical_json(row["public_key"]) + b',"signature":'
            + canonical_json(row["signature"]) + b"}")


def certificate(reg: Registry, uow: UnitOfWork, certificate_id: str) -> dict[str, Any]:
    """The stored certificate, parsed (for pages); the API serves ``certificate_document``'s bytes."""
    parsed: dict[str, Any] = json.loads(certificate_document(uow, certificate_id))
    return parsed


def verify_certificate(document: dict[str, Any], pinned_public_key_hex: str | None = None) -> dict[str, Any]:
    """Offline check of a certificate document against the registry's pinned public key.

    ``signature_valid``: the signature covers the certificate's canonical JSON under the key the
    document names (anyone can make a self-signed document for which this holds).
    ``signed_by_this_registry``: the signature verifies under the pinned key (None when no key is pinned).
    ``valid`` only when both hold.
    """
    body, signature, embedded = document.get("certificate"), document.get("signature"), document.get("public_key")
    if not isinstance(body, dict) or not isinstance(signature, str) or not (embedded is None
                                                                           or isinstance(embedded, str)):
        raise RegistryError(1003, "a certificate document has 'certificate', 'signature' and 'public_key'")
    message = canonical_json(body)
    named_key = embedded if embedded is not None else pinned_public_key_hex
    signature_valid = named_key is not None and verify_signature(named_key, message, signature)
    by_registry = None if pinned_public_key_hex is None else verify_signature(pinned_public_key_hex, message, signature)
    return {"valid": bool(signature_valid and by_registry), "signature_valid": signature_valid,
            "signed_by_this_registry": by_registry, "certificate_id": body.get("certificate_id"),
            "public_key": embedded, "pinned_public_key": pinned_public_key_hex}
