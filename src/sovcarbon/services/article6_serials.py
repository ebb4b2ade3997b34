"""Article 6 as seen from serials: labels (CORSIA-eligible, ICVCM CCP) set on issued units, the Article 6
status of a serial range (LoA coverage, first transfers, labels, ITMO ids) and ITMO id look-ups."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import Actor, Role
from sovcarbon.domain.serials import SerialRange, format_serial, parse_serial_list
from sovcarbon.services.article6 import active_coverage, current, first_transfers_in, itmo_ids, range_of, registry_id
from sovcarbon.services.article6_requests import LabelIn
from sovcarbon.services.movements import require_issued_range
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork


def set_label(reg: Registry, uow: UnitOfWork, actor: Actor, req: LabelIn) -> dict[str, Any]:
    """Label issued Premium units CORSIA-eligible (host attestation) or ICVCM CCP (5002 for other standards)."""
    require_role(actor, [Role.REGISTRY_ADMIN], "label units")
    ranges = parse_serial_list(list(req.serials))
    for rng in ranges:
        require_issued_range(uow, rng)
        for leaf in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg):
            rules.require_exportable(reg.profile, leaf.standard, str(rng))
    entry = uow.append("a6_label_set", {"actor": actor.key_id, "label": str(req.label), "reference": req.reference,
                                        "detail": req.detail, "serials": [str(r) for r in ranges]})
    for rng in ranges:
        uow.repo.insert(a6.a6_labels, label=str(req.label), serial_prefix=rng.prefix, first_kg=rng.first_kg,
                        last_kg=rng.last_kg, reference=req.reference, detail=canonical_text(req.detail),
                        set_by_key=actor.key_id, journal_seq=entry.seq, created_at=uow.now)
    return {"label": str(req.label), "serials": [str(r) for r in ranges], "reference": req.reference,
            "detail": req.detail, "journal_seq": entry.seq}


def labels_of(uow: UnitOfWork, rng: SerialRange) -> list[dict[str, Any]]:
    rows = uow.repo.authorizations.labels_overlapping(rng)
    return [{"label": r["label"], "serial": format_serial(r["serial_prefix"], r["first_kg"], r["last_kg"]),
             "reference": r["reference"], "detail": json.loads(r["detail"]), "journal_seq": r["journal_seq"],
             "created_at": r["created_at"]} for r in rows]




def serial_status(reg: Registry, uow: UnitOfWork, rng: SerialRange) -> dict[str, Any]:
    """Which LoA covers these kilograms, which are first-transferred, their labels and ITMO ids (for the
    whole tonnes under an LoA)."""
    rid, party = registry_id(reg, uow), reg.profile.party_code
    blocks = uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)
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
