"""Article 6 test support: LoA bodies, granting with four-eyes, attaching, exporting, the journal."""

from __future__ import annotations

import base64
import json
from typing import Any

from world import Api

LOA_DOCUMENT = b"%PDF-1.4\n% Letter of Authorization, signed by the Minister (test)\n"


def loa_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "TGO-LOA-2026-001", "authorization_date": "2026-01-15",
        "cooperative_approach_id": "CA0007", "max_quantity_kg": 5_000_000,
        "sectors": ["Forestry and land use"], "activity_types": ["Reforestation"],
        "mitigation_type": "Emission reductions",
        "purposes": ["ndc", "oimp"], "oimp": ["CORSIA"], "first_transfer_event": "use_or_cancellation",
        "authorized_parties": ["IDN", "JPN"],
        "authorized_entities": [{"name": "PT Nusantara Energi", "party": "IDN", "identification_number": "AHU-0012345",
                                 "country": "IDN"}],
        "timeframe": {"start": "2021-01-01", "end": "2030-12-31"}, "terms": "ITMOs for NDC and CORSIA",
        "document": {"name": "loa.pdf", "media_type": "application/pdf",
                     "content_base64": base64.b64encode(LOA_DOCUMENT).decode()}}
    body.update(over)
    return body


def ndc_only(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"purposes": ["ndc"], "oimp": [], "first_transfer_event": None}
    fields.update(over)
    return loa_body(**fields)


def grant(api: Api, **over: Any) -> str:
    loa = api.ok("POST", "/v1/authorizations", "admin", loa_body(**over))
    assert loa["status"] == "pending_approval"
    approved = api.ok("POST", f"/v1/authorizations/{loa['id']}/approval", "approver")
    assert approved["status"] == "active"
    loa_id: str = loa["id"]
    return loa_id


def attach(api: Api, loa_id: str, quantity_kg: int, account: str = "foundation_acc") -> dict[str, Any]:
    return api.ok("POST", f"/v1/authorizations/{loa_id}/units", "admin",
                  {"account_id": api.ids[account], "quantity_kg": quantity_kg})


def export_body(api: Api, loa_id: str, *, quantity_kg: int | None = None, serials: list[str] | None = None,
                purpose: str = "ndc", party: str = "IDN", entity: str = "PT Nusantara Energi",
                account: str = "foundation_acc") -> dict[str, Any]:
    body: dict[str, Any] = {"account_id": api.ids[account], "authorization_id": loa_id, "purpose": purpose,
                            "destination": {"party": party, "registry_id": f"{party}01", "account_id": "B-001",
                                            "entity": entity}}
    if serials is not None:
        body["serials"] = serials
    else:
        body["quantity_kg"] = quantity_kg
    return body


def serial(api: Api, first_kg: int, last_kg: int) -> str:
    return f"{api.ids['prefix']}-{first_kg:012d}-{last_kg:012d}"


def journal(api: Api) -> dict[int, dict[str, Any]]:
    """Every journal entry by seq, read through the public API."""
    out: dict[int, dict[str, Any]] = {}
    after = 0
    while True:
        page = api.ok("GET", f"/v1/journal?after_seq={after}&limit=1000", None)
        for e in page["data"]:
            out[e["seq"]] = e
        if not page["data"] or not page.get("next_cursor"):
            return out
        after = max(out)


def payload(entry: dict[str, Any]) -> dict[str, Any]:
    p = entry["payload"]
    return json.loads(p) if isinstance(p, str) else dict(p)
