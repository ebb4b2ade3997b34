"""CAD Trust export: the registry's programs, projects, locations, issuances, units and labels in the Climate
Action Data Trust data model v2.0.2 (Chia-Network/cadt ``docs/cadtrust-schema-v2.0.2.json``), field names as
the CADT API's ``apiField``s, records in the schema's insert order.

What the document is: one JSON object per table with the fields the registry supplies (``user_input`` in the
schema). GUID fields that the CADT node generates (``cadTrust*Id``) are given as deterministic local references
(UUID v5 over this registry's id and the ledger id) so that children point at parents; a loader replaces them
with the node's GUIDs in insert order. Kilograms become tCO2e with three decimals (``unitMetric`` tCO2e); a
unit block is a leaf block of the ledger (``unitStartBlock``/``unitEndBlock`` are its kg positions).

``REQUIRED_NOT_FILLED`` names, per table, the required fields the ledger cannot fill yet (and why); they are
also listed in the document's ``unfilled_required``.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from sovcarbon.domain.model import BlockState
from sovcarbon.domain.serials import format_serial
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import peer_tables as pt
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

SCHEMA = "CAD Trust Data Schema v2.0.2"
INSERT_ORDER = ("program", "project", "location", "issuance", "unit", "label", "unit_label")
COUNTRY_NAMES = {"TH": "Thailand", "ID": "Indonesia", "VN": "Viet Nam", "MY": "Malaysia", "PH": "Philippines",
                 "KH": "Cambodia", "LA": "Lao People's Democratic Republic", "SG": "Singapore", "JP": "Japan"}
PROJECT_STATUS = {"submitted": "Listed", "validated": "Validated", "registered": "Registered",
                  "rejected": "Rejected"}
UNIT_STATUS = {BlockState.HELD: "Held", BlockState.RETIRED: "Retired", BlockState.CANCELLED: "Cancelled",
               BlockState.IMMOBILIZED: "Held", BlockState.PLEDGED: "Held", BlockState.IN_TRANSIT: "Held"}

REQUIRED_NOT_FILLED: dict[str, dict[str, str]] = {
    "project": {
        "projectSector": "IPCC sector: projects carry a methodology, not a sector (LoAs carry sectors)",
        "projectType": "CADT project type picklist: not recorded per project",
        "projectStatusDate": "status dates are not kept per status; the record's creation date is given",
    },
    "project_methodology": {"*": "methodologies are a project's text field, not a versioned table"},
    "validation": {"validationId": "the VVB's validation report is stored as text without an id",
                   "validationType": "not recorded", "validationBody": "VVBs are participants, not the CADT "
                                                                       "accredited-body picklist"},
    "verification": {"verificationId": "the verification reference is free text on the issuance",
                     "verificationBody": "the VVB is not recorded on the issuance"},
    "issuance": {"cadTrustVerificationId, cadTrustProjectMethodologyId": "need the two tables above"},
    "unit": {"unitType": "avoidance/reduction/removal and nature/technical are not recorded per project",
             "unitStatusReason": "given only for retired, cancelled and exported units"},
    "label": {"labelType": "the CADT label type picklist is not mapped from the registry's labels"},
    "estimation, rating, co_benefit": {"*": "not recorded by the registry"},
}


def _ref(registry_id: str, ledger_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sovcarbon:{registry_id}:{ledger_id}"))


def _t(kg: int) -> str:
    return str((Decimal(kg) / 1000).quantize(Decimal("0.001")))


def _gis(location: str) -> str | None:
    try:
        geo = json.loads(location)
        lon, lat = geo["coordinates"][:2]
        return f"{lat}, {lon}"
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def export(reg: Registry, uow: UnitOfWork, base_url: str = "") -> dict[str, Any]:
    rid = reg.store.registry_id
    profile = reg.profile
    mirrored = {r[0] for r in uow.conn.execute(select(pt.peer_mirrors.c.issuance_id))}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in INSERT_ORDER}
    for std in profile.standards.values():
        out["program"].append({"cadTrustProgramId": _ref(rid, f"program:{std.code}"), "programName": std.label,
                               "programRegistry": profile.registry_name, "programRegistryId": std.code})
    projects = {r["id"]: r for r in uow.conn.execute(select(t.projects).order_by(t.projects.c.number)).mappings()}
    issuances = list(uow.conn.execute(select(t.issuances).where(t.issuances.c.status == "issued")
                                      .order_by(t.issuances.c.serial_prefix)).mappings())
    foreign_projects = {i["project_id"] for i in issuances if i["id"] in mirrored}
    for p in projects.values():
        if p["id"] in foreign_projects:
            continue  # units recorded from a peer: that registry exports its own project
        pstd = profile.standards.get(p["standard"])
        out["project"].append({
            "cadTrustProjectId": _ref(rid, p["id"]), "projectRegistryName": profile.registry_name,
            "projectId": f"{profile.country}-{pstd.serial_code if pstd else p['standard']}-{p['number']:05d}",
            "projectCreditingProgram": p["standard"], "projectName": p["name"],
            "projectLink": f"{base_url}/explorer/projects/{p['id']}", "projectDescription": p["description"],
            "projectStatus": PROJECT_STATUS.get(p["status"], p["status"]),
            "projectStatusDate": p["created_at"][:10], "projectUnitMetric": "tCO2e",
            "cadTrustProgramId": _ref(rid, f"program:{p['standard']}")})
        out["location"].append({
            "cadTrustLocationId": _ref(rid, f"location:{p['id']}"), "cadTrustProjectId": _ref(rid, p["id"]),
            "locationCountry": COUNTRY_NAMES.get(p["host_country"], p["host_country"]),
            "locationGis": _gis(p["location"])})
    exported_reasons: dict[str, str] = {}
    for e in uow.conn.execute(select(a6.a6_exports.c.txn_id, a6.a6_exports.c.destination_party,
                                     a6.a6_exports.c.purpose)):
        exported_reasons[e[0]] = f"exported to {e[1]} ({e[2]}) under Article 6"
    for iss in issuances:
        if iss["id"] in mirrored:
            continue
        out["issuance"].append({
            "cadTrustIssuanceId": _ref(rid, iss["id"]), "issuanceId": iss["serial_prefix"],
            "issuanceDate": (iss["decided_at"] or iss["created_at"])[:10],
            "cadTrustLocationId": _ref(rid, f"location:{iss['project_id']}")})
        for b in uow.repo.blocks.leaves_overlapping(iss["serial_prefix"], 1, int(iss["quantity_kg"])):
            serial = format_serial(b.serial_prefix, b.first_kg, b.last_kg)
            status = "Buffer" if b.account_id == iss["buffer_account_id"] and b.state == BlockState.HELD \
                else UNIT_STATUS.get(b.state, "Inactive")
            unit: dict[str, Any] = {
                "cadTrustUnitId": _ref(rid, b.id), "cadTrustIssuanceId": _ref(rid, iss["id"]),
                "unitSerialId": serial, "unitStartBlock": str(b.first_kg), "unitEndBlock": str(b.last_kg),
                "unitCount": _t(b.quantity_kg), "unitVintageYear": b.vintage, "unitStatus": status,
                "unitStatusDate": _txn_date(uow, b.txn_id) or (iss["decided_at"] or iss["created_at"])[:10],
                "unitMetric": "tCO2e",
                "unitLink": f"{base_url}/v1/serials/{serial}"}
            if b.state == BlockState.EXPORTED:
                unit["unitStatus"] = "Inactive"
                unit["unitStatusReason"] = exported_reasons.get(b.txn_id, "transferred to another registry")
            elif b.state in (BlockState.RETIRED, BlockState.CANCELLED):
                unit["unitStatusReason"] = str(b.state)
                ret = uow.conn.execute(select(t.retirements.c.beneficiary_name, t.retirements.c.purpose,
                                              t.retirements.c.claim_year)
                                       .where(t.retirements.c.txn_id == b.txn_id)).first()
                if ret is not None:
                    unit["unitRetirementBeneficiary"] = ret[0]
                    unit["unitRetirementDetail"] = f"{ret[1]} claim {ret[2]}"
            out["unit"].append(unit)
    for lab in uow.conn.execute(select(a6.a6_labels).order_by(a6.a6_labels.c.id)).mappings():
        label_ref = _ref(rid, f"label:{lab['label']}")
        if not any(x["cadTrustLabelId"] == label_ref for x in out["label"]):
            out["label"].append({"cadTrustLabelId": label_ref, "labelName": lab["label"],
                                 "labelDate": lab["created_at"][:10]})
        for b in uow.repo.blocks.leaves_overlapping(lab["serial_prefix"], int(lab["first_kg"]), int(lab["last_kg"])):
            out["unit_label"].append({"cadTrustLabelId": label_ref, "cadTrustUnitId": _ref(rid, b.id),
                                      "labelUnitDate": lab["created_at"][:10],
                                      "labelUnitDescription": lab["reference"]})
    return {"schema": SCHEMA, "registry_id": rid, "generated_at": uow.now, "insert_order": list(INSERT_ORDER),
            "tables": out, "unfilled_required": REQUIRED_NOT_FILLED}


def _txn_date(uow: UnitOfWork, txn_id: str) -> str | None:
    row = uow.conn.execute(select(t.transactions.c.created_at).where(t.transactions.c.id == txn_id)).first()
    return None if row is None else str(row[0])[:10]
