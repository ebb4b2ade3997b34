"""Rows and domain values rendered as API dictionaries (ids, integer kg, RFC 3339 times)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sovcarbon.domain.model import Block
from sovcarbon.domain.serials import format_serial


def block_view(b: Block | Mapping[Any, Any]) -> dict[str, Any]:
    if isinstance(b, Block):
        d: dict[str, Any] = dict(id=b.id, issuance_id=b.issuance_id, project_id=b.project_id, standard=b.standard,
                                 vintage=b.vintage, serial_prefix=b.serial_prefix, first_kg=b.first_kg,
                                 last_kg=b.last_kg, state=str(b.state), account_id=b.account_id,
                                 parent_id=b.parent_id, txn_id=b.txn_id, frozen=b.frozen, lot_id=b.lot_id,
                                 lien_id=b.lien_id)
    else:
        d = {k: b[k] for k in ("id", "issuance_id", "project_id", "standard", "vintage", "serial_prefix", "first_kg",
                               "last_kg", "state", "account_id", "parent_id", "txn_id", "frozen", "lot_id",
                               "is_leaf", "consumed_by_txn", "created_at")}
        d["lien_id"] = b.get("lien_id")  # migration 0016
        d["frozen"] = bool(d["frozen"])
        d["is_leaf"] = bool(d["is_leaf"])
    d["quantity_kg"] = d["last_kg"] - d["first_kg"] + 1
    d["serial"] = format_serial(d["serial_prefix"], d["first_kg"], d["last_kg"])
    return d


def participant_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    lic = {"kind": r["license_kind"], "number": r["license_number"]} if r["license_kind"] else None
    return dict(id=r["id"], name=r["name"], kind=r["kind"], country=r["country"], kyc_status=r["kyc_status"],
                status=r["status"], license=lic, wallet_address=r["wallet_address"], created_at=r["created_at"])


def account_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(id=r["id"], participant_id=r["participant_id"], kind=r["kind"], status=r["status"], name=r["name"],
                created_at=r["created_at"])


def project_view(r: Mapping[Any, Any], registrations: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return dict(id=r["id"], number=r["number"], name=r["name"], standard=r["standard"], methodology=r["methodology"],
                host_country=r["host_country"], proponent_id=r["proponent_id"],
                crediting_period={"start": r["crediting_start"], "end": r["crediting_end"]},
                location=json.loads(r["location"]), status=r["status"], description=r["description"],
                validated_by=r["validated_by"], registered_by=r["registered_by"],
                other_registrations=registrations or [], created_at=r["created_at"],
                mitigation_type=r.get("mitigation_type"))


def issuance_view(r: Mapping[Any, Any], blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    d = dict(id=r["id"], project_id=r["project_id"], number=r["number"], vintage=r["vintage"],
             monitoring_period={"start": r["period_start"], "end": r["period_end"]}, quantity_kg=r["quantity_kg"],
             buffer_kg=r["buffer_kg"], account_id=r["account_id"], buffer_account_id=r["buffer_account_id"],
             status=r["status"], serial_prefix=r["serial_prefix"], requested_by=r["requested_by_key"],
             decided_by=r["decided_by_key"], verification_ref=r["verification_ref"],
             verified_kg=r.get("verified_kg"), mitigation_type=r.get("mitigation_type"), created_at=r["created_at"],
             decided_at=r["decided_at"])
    if blocks is not None:
        d["blocks"] = blocks
    return d


def retirement_view(r: Mapping[Any, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(id=r["id"], txn_id=r["txn_id"], account_id=r["account_id"], quantity_kg=r["quantity_kg"],
                beneficiary={"name": r["beneficiary_name"], "country": r["beneficiary_country"]},
                purpose=r["purpose"], claim_year=r["claim_year"], note=r["note"], certificate_id=r["certificate_id"],
                evidence=json.loads(r["evidence"]), journal_seq=r["journal_seq"], created_at=r["created_at"],
                serials=[b["serial"] for b in blocks], blocks=blocks)


def cancellation_view(r: Mapping[Any, Any], blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return dict(id=r["id"], status=r["status"], account_id=r["account_id"], quantity_kg=r["quantity_kg"],
                serials=json.loads(r["serials"]) if r["serials"] else None, reason=r["reason"],
                requested_by=r["requested_by_key"], decided_by=r["decided_by_key"], txn_id=r["txn_id"],
                created_at=r["created_at"], decided_at=r["decided_at"], blocks=blocks or [])
