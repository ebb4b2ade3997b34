"""Article 6.2: Letters of Authorization (LoA), first transfer, corresponding adjustments, ITMO ids.

Rules (RULES.md 5002, 6001-6008, I6), checked in this order where several apply:

| rule | code |
|---|---|
| only a registry admin requests an LoA, an amendment or a revocation; a registry approver (or another admin) decides | 1002 |
| the approver is not the requester (four-eyes) | 3003 SAME_APPROVER |
| only a version awaiting approval is approved or rejected; one pending version per LoA at a time | 3002 APPROVAL_REQUIRED |
| units are attached to, exported or used under an LoA that is granted (not pending, revoked or rejected) and valid on the day (inside its timeframe) | 3002 / 6001 NOT_AUTHORIZED |
| only units of an exportable standard (Premium T-VER) can be authorized or exported; standard T-VER never | 5002 NOT_EXPORTABLE |
| attached units are issued, held, of a vintage inside the LoA's timeframe and of a project the LoA names (when it names any) | 4001-4006 / 6001 |
| a kilogram is under at most one LoA | 6008 UNITS_ALREADY_AUTHORIZED |
| the kilograms under an LoA never exceed its maximum quantity | 6002 AUTHORIZATION_EXCEEDED |
| export, and use for OIMP (e.g. CORSIA), need every kilogram covered by a valid LoA | 6001 NOT_AUTHORIZED |
| the purpose (NDC, OIMP and the named OIMP, e.g. CORSIA) is named in the LoA | 6003 PURPOSE_NOT_AUTHORIZED |
| first-transferred units carry a corresponding adjustment: they cannot serve a domestic or NDC claim here | 6003 |
| the acquiring Party and, when the LoA names entities, the acquiring or using entity are named in the LoA | 6004 PARTY_NOT_AUTHORIZED |
| CORSIA use needs units labelled CORSIA-eligible (host attestation) | 5001 USE_NOT_ALLOWED |
| revoke or reduce only what is not yet first-transferred: no revocation of first-transferred kg, no maximum below them | 6005 AUTHORIZATION_LOCKED |
| an amendment keeps purposes, named OIMP, first-transfer event, cooperative approach, metric and CA method | 1003 |
| an amendment keeps the maximum at or above the kilograms attached (detach by partial revocation first) | 6002 |
| one ITMO = 1 t: coverage, exports, uses, partial revocations and exits of first-transferred units are whole tonnes on tonne boundaries of the serials | 6006 NOT_WHOLE_ITMO |
| units under an LoA and not first-transferred never leave by a domestic retirement or a cancellation (release them first) | 6007 COVERAGE_CONFLICT |
| the LoA's cooperative approach id is CA + 4 digits, its sectors and activity types are the UNFCCC nomenclature's | 1003 |

First transfer (decision 2/CMA.3 annex I.A para 2(b)): once per kilogram, never undone, and a
corresponding adjustment (vintage, quantity, method, authorization) in the same transaction (I6):

| LoA purposes | action | first transfer? |
|---|---|---|
| NDC | export (first international transfer) | yes, unless already first-transferred |
| OIMP, event "authorization" or "issuance" | attach (units become authorized issued units) | yes |
| OIMP, event "use_or_cancellation" | use for OIMP here (retirement for oimp/corsia) | yes |
| OIMP, event "use_or_cancellation" | export for OIMP | no: it happens at use abroad |

This module is pure: it knows serial ranges, dates and LoA values, nothing of databases or HTTP.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sovcarbon.domain import invariants as inv
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.serials import SerialRange
from sovcarbon.domain.standards import RegistryProfile


class LoaPurpose(StrEnum):
    NDC = "ndc"
    OIMP = "oimp"


class FirstTransferEvent(StrEnum):
    """For OIMP: the event the LoA names as first transfer (2/CMA.3 annex I.A para 2(b))."""

    AUTHORIZATION = "authorization"
    ISSUANCE = "issuance"
    USE_OR_CANCELLATION = "use_or_cancellation"


class LoaStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    REVOKED = "revoked"
    REJECTED = "rejected"


class VersionKind(StrEnum):
    GRANT = "grant"
    AMENDMENT = "amendment"
    REVOCATION = "revocation"


class VersionStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class ActionType(StrEnum):
    """AEF action types (6/CMA.4 annex II, actions table)."""

    AUTHORIZATION = "authorization"
    FIRST_TRANSFER = "first_transfer"
    TRANSFER = "transfer"
    ACQUISITION = "acquisition"
    USE = "use"
    CANCELLATION = "cancellation"
    VOLUNTARY_CANCELLATION = "voluntary_cancellation"


AEF_ACTION_LABELS = {
    ActionType.AUTHORIZATION: "Authorization",
    ActionType.FIRST_TRANSFER: "First transfer",
    ActionType.TRANSFER: "Transfer",
    ActionType.ACQUISITION: "Acquisition",
    ActionType.USE: "Use",
    ActionType.CANCELLATION: "Cancellation",
    ActionType.VOLUNTARY_CANCELLATION: "Voluntary cancellation",
}


class CaMethod(StrEnum):
    """How the Party applies corresponding adjustments (2/CMA.3 annex I.C paras 7-8)."""

    INDICATIVE_TRAJECTORY = "indicative_multi_year_trajectory"
    MULTI_YEAR_TRAJECTORY = "multi_year_trajectory"
    MULTI_YEAR_BUDGET = "multi_year_budget"
    AVERAGING = "averaging"


class Label(StrEnum):
    CORSIA_ELIGIBLE = "corsia_eligible"
    ICVCM_CCP = "icvcm_ccp"


CORSIA = "CORSIA"
# Fields an amendment may not change: they define what was authorized and how it is accounted.
FIXED_FIELDS = ("purposes", "oimp", "first_transfer_event", "cooperative_approach_id", "metric", "ca_method")


@dataclass(frozen=True)
class Entity:
    name: str
    party: str
    participant_id: str | None = None


@dataclass(frozen=True)
class Loa:
    """The approved (current) version of an authorization, as the rules need it."""

    id: str
    version: int
    status: LoaStatus
    max_quantity_kg: int
    purposes: frozenset[LoaPurpose]
    oimp: tuple[str, ...]
    first_transfer_event: FirstTransferEvent | None
    parties: frozenset[str]
    entities: tuple[Entity, ...]
    timeframe_start: date
    timeframe_end: date
    project_ids: frozenset[str]
    ca_method: CaMethod
    cooperative_approach_id: str
    body: dict[str, Any] = field(default_factory=dict, compare=False)

    @staticmethod
    def from_body(loa_id: str, version: int, status: str, body: dict[str, Any]) -> Loa:
        tf = body["timeframe"]
        return Loa(id=loa_id, version=version, status=LoaStatus(status), max_quantity_kg=int(body["max_quantity_kg"]),
                   purposes=frozenset(LoaPurpose(p) for p in body["purposes"]),
                   oimp=tuple(body.get("oimp") or ()),
                   first_transfer_event=(FirstTransferEvent(body["first_transfer_event"])
                                         if body.get("first_transfer_event") else None),
                   parties=frozenset(body["authorized_parties"]),
                   entities=tuple(Entity(e["name"], e["party"], e.get("participant_id"))
                                  for e in body.get("authorized_entities") or ()),
                   timeframe_start=date.fromisoformat(tf["start"]), timeframe_end=date.fromisoformat(tf["end"]),
                   project_ids=frozenset(body.get("project_ids") or ()), ca_method=CaMethod(body["ca_method"]),
                   cooperative_approach_id=body["cooperative_approach_id"], body=body)

    def names_oimp(self, name: str) -> bool:
        return any(o.casefold() == name.casefold() for o in self.oimp)


# --- the shape of an LoA body ------------------------------------------------------------------------------
def check_body(body: dict[str, Any], own_party: str) -> None:
    """Cross-field rules of an LoA version that a schema cannot say (1003)."""
    purposes = set(body["purposes"])
    if LoaPurpose.OIMP in purposes:
        if not body.get("oimp"):
            raise RegistryError(1003, "an LoA for OIMP names the OIMP (e.g. CORSIA, other purposes)")
        if not body.get("first_transfer_event"):
            raise RegistryError(1003, "an LoA for OIMP names the event that counts as first transfer "
                                      "(authorization, issuance or use_or_cancellation)")
    elif body.get("oimp") or body.get("first_transfer_event"):
        raise RegistryError(1003, "oimp and first_transfer_event apply only to an LoA for OIMP")
    tf = body["timeframe"]
    if tf["start"] > tf["end"]:
        raise RegistryError(1003, "the LoA's timeframe starts after it ends", timeframe=tf)
    for entity in body.get("authorized_entities") or ():
        if entity["party"] not in body["authorized_parties"] and entity["party"] != own_party:
            raise RegistryError(1003, f"authorized entity {entity['name']!r} belongs to a Party the LoA does not name",
                                party=entity["party"])


def check_amendment(current: dict[str, Any], new: dict[str, Any], *, first_transferred_kg: int, attached_kg: int,
                    first_transferred_vintages: Iterable[int]) -> None:
    changed = [f for f in FIXED_FIELDS if _norm(current.get(f)) != _norm(new.get(f))]
    if changed:
        raise RegistryError(1003, "an amendment cannot change what was authorized; grant a new LoA instead",
                            fields=changed)
    maximum = int(new["max_quantity_kg"])
    if maximum < first_transferred_kg:
        raise RegistryError(6005, "the maximum cannot drop below the kilograms already first-transferred",
                            max_quantity_kg=maximum, first_transferred_kg=first_transferred_kg)
    if maximum < attached_kg:
        raise RegistryError(6002, "the maximum cannot drop below the kilograms attached; revoke units first",
                            max_quantity_kg=maximum, attached_kg=attached_kg)
    start, end = date.fromisoformat(new["timeframe"]["start"]), date.fromisoformat(new["timeframe"]["end"])
    outside = sorted({v for v in first_transferred_vintages if not (start.year <= v <= end.year)})
    if outside:
        raise RegistryError(6005, "the timeframe cannot exclude vintages already first-transferred", vintages=outside)


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v).casefold() for v in value)
    return value


# --- validity, units, purposes, parties --------------------------------------------------------------------
def require_granted(loa: Loa) -> None:
    if loa.status == LoaStatus.PENDING_APPROVAL:
        raise RegistryError(3002, f"authorization {loa.id} is not granted yet", authorization_id=loa.id)
    if loa.status != LoaStatus.ACTIVE:
        raise RegistryError(6001, f"authorization {loa.id} is {loa.status}", authorization_id=loa.id,
                            status=str(loa.status))


def require_valid_on(loa: Loa, day: date) -> None:
    require_granted(loa)
    if not (loa.timeframe_start <= day <= loa.timeframe_end):
        raise RegistryError(6001, f"authorization {loa.id} is not valid on {day.isoformat()}",
                            authorization_id=loa.id, timeframe={"start": loa.timeframe_start.isoformat(),
                                                                "end": loa.timeframe_end.isoformat()})


def require_exportable(profile: RegistryProfile, standard_code: str, serial: str) -> None:
    if not profile.standard(standard_code).exportable:
        raise RegistryError(5002, f"{standard_code} units cannot leave the country or be authorized",
                            standard=standard_code, serial=serial)


def check_attach_unit(loa: Loa, project_id: str, vintage: int, serial: str) -> None:
    if not (loa.timeframe_start.year <= vintage <= loa.timeframe_end.year):
        raise RegistryError(6001, f"vintage {vintage} lies outside the timeframe of authorization {loa.id}",
                            serial=serial, vintage=vintage)
    if loa.project_ids and project_id not in loa.project_ids:
        raise RegistryError(6001, f"authorization {loa.id} does not cover project {project_id}", serial=serial,
                            project_id=project_id)


def check_capacity(loa: Loa, attached_kg: int, adding_kg: int) -> None:
    if attached_kg + adding_kg > loa.max_quantity_kg:
        raise RegistryError(6002, f"authorization {loa.id} would pass its maximum quantity",
                            max_quantity_kg=loa.max_quantity_kg, attached_kg=attached_kg, requested_kg=adding_kg)


def check_purpose(loa: Loa, purpose: LoaPurpose, oimp_name: str | None = None) -> None:
    if purpose not in loa.purposes:
        raise RegistryError(6003, f"authorization {loa.id} does not authorize use for {purpose}",
                            authorization_id=loa.id, purpose=str(purpose),
                            authorized_purposes=sorted(str(p) for p in loa.purposes))
    if oimp_name is not None and not loa.names_oimp(oimp_name):
        raise RegistryError(6003, f"authorization {loa.id} does not name {oimp_name} among its OIMP",
                            authorization_id=loa.id, oimp=list(loa.oimp))


def check_acquirer(loa: Loa, party: str, entity_name: str) -> None:
    if party not in loa.parties:
        raise RegistryError(6004, f"authorization {loa.id} does not name Party {party}", authorization_id=loa.id,
                            party=party, authorized_parties=sorted(loa.parties))
    named = [e for e in loa.entities if e.party == party]
    if loa.entities and not any(e.name.casefold() == entity_name.casefold() for e in named):
        raise RegistryError(6004, f"authorization {loa.id} does not name entity {entity_name!r} of {party}",
                            authorization_id=loa.id, entity=entity_name)


def check_user(loa: Loa, participant_id: str, participant_name: str, own_party: str) -> None:
    """Use for OIMP here: when the LoA names entities, the using holder must be one of them."""
    if not loa.entities:
        return
    for e in loa.entities:
        if e.participant_id == participant_id or (e.party == own_party and e.name.casefold() ==
                                                  participant_name.casefold()):
            return
    raise RegistryError(6004, f"authorization {loa.id} does not name the using entity {participant_name!r}",
                        authorization_id=loa.id, participant_id=participant_id)


def first_transfer_at_attach(loa: Loa) -> FirstTransferEvent | None:
    if LoaPurpose.OIMP in loa.purposes and loa.first_transfer_event in (FirstTransferEvent.AUTHORIZATION,
                                                                         FirstTransferEvent.ISSUANCE):
        return loa.first_transfer_event
    return None


def first_transfer_at_export(loa: Loa, purpose: LoaPurpose) -> bool:
    return purpose == LoaPurpose.NDC


def first_transfer_at_use(loa: Loa) -> bool:
    return LoaPurpose.OIMP in loa.purposes and loa.first_transfer_event == FirstTransferEvent.USE_OR_CANCELLATION


# --- serial-range arithmetic ---------------------------------------------------------------------------------
def intersect(a: SerialRange, b: SerialRange) -> SerialRange | None:
    if a.prefix != b.prefix:
        return None
    lo, hi = max(a.first_kg, b.first_kg), min(a.last_kg, b.last_kg)
    return SerialRange(a.prefix, lo, hi) if lo <= hi else None


def subtract(rng: SerialRange, others: Iterable[SerialRange]) -> list[SerialRange]:
    """The parts of ``rng`` that none of ``others`` covers, in serial order."""
    out: list[SerialRange] = []
    pos = rng.first_kg
    for o in sorted(x for x in others if x.prefix == rng.prefix):
        if o.last_kg < pos or o.first_kg > rng.last_kg:
            continue
        if o.first_kg > pos:
            out.append(SerialRange(rng.prefix, pos, o.first_kg - 1))
        pos = max(pos, o.last_kg + 1)
        if pos > rng.last_kg:
            break
    if pos <= rng.last_kg:
        out.append(SerialRange(rng.prefix, pos, rng.last_kg))
    return out


def sweep(left: Sequence[tuple[SerialRange, Any]], right: Sequence[tuple[SerialRange, Any]]
          ) -> list[tuple[SerialRange, Any, Any]]:
    """All non-empty intersections of two lists of non-overlapping ranges (each sorted), in order."""
    out: list[tuple[SerialRange, Any, Any]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a, ta = left[i]
        b, tb = right[j]
        if (a.prefix, a.last_kg) < (b.prefix, b.first_kg):
            i += 1
            continue
        if (b.prefix, b.last_kg) < (a.prefix, a.first_kg):
            j += 1
            continue
        piece = intersect(a, b)
        if piece is not None:
            out.append((piece, ta, tb))
        if (a.prefix, a.last_kg) <= (b.prefix, b.last_kg):
            i += 1
        else:
            j += 1
    return out


# --- ITMO identifiers ------------------------------------------------------------------------------------------
_REGISTRY_ID_RE = re.compile(r"^[A-Z]{3}\d{2}$")


def itmo_registry_id(party_code: str, number: int = 1) -> str:
    """The ITMO registry id: the Party's ISO alpha-3 code and two digits, e.g. THA01."""
    rid = f"{party_code}{number:02d}"
    if not _REGISTRY_ID_RE.match(rid):
        raise RegistryError(1003, f"ITMO registry id {rid!r} is not three letters and two digits")
    return rid


# --- corresponding adjustments ---------------------------------------------------------------------------------
def adjustments_by_vintage(pieces: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Σ kg per vintage of (vintage, quantity_kg) pieces: one corresponding adjustment per vintage."""
    out: dict[int, int] = defaultdict(int)
    for vintage, qty in pieces:
        assert qty > 0
        out[vintage] += qty
    return dict(sorted(out.items()))


# --- invariant I6 ---------------------------------------------------------------------------------------------------
SNAPSHOT_KEY = "article6"


@dataclass(frozen=True)
class Article6Facts:
    """What I6 needs from the ledger (loaded by ``services.article6.load_snapshot``)."""

    first_transfers: list[tuple[str, int, int, int, str, str]]  # prefix, first, last, vintage, ca_id, loa_id
    adjustments: list[tuple[str, int, int, str]]  # ca id, vintage, quantity_kg, loa_id
    coverage: list[tuple[str, int, int, str]]  # active coverage: prefix, first, last, loa_id
    # every coverage row ever: issuance id, prefix, first, last, loa_id, vintage, released
    coverage_history: list[tuple[str, str, int, int, str, int, bool]] = field(default_factory=list)


def check_i6(snapshot: inv.LedgerSnapshot) -> list[inv.Violation]:
    facts: Article6Facts | None = snapshot.extra.get(SNAPSHOT_KEY)
    if facts is None:
        return []
    out: list[inv.Violation] = []
    ft_by_vintage: dict[int, int] = defaultdict(int)
    ft_by_ca: dict[str, int] = defaultdict(int)
    by_prefix: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for prefix, first, last, vintage, ca_id, _loa in facts.first_transfers:
        ft_by_vintage[vintage] += last - first + 1
        ft_by_ca[ca_id] += last - first + 1
        by_prefix[prefix].append((first, last))
    ca_by_vintage: dict[int, int] = defaultdict(int)
    ca_qty: dict[str, int] = {}
    for ca_id, vintage, qty, _loa in facts.adjustments:
        ca_by_vintage[vintage] += qty
        ca_qty[ca_id] = qty
    for vintage in sorted(set(ft_by_vintage) | set(ca_by_vintage)):
        if ft_by_vintage.get(vintage, 0) != ca_by_vintage.get(vintage, 0):
            out.append(inv.Violation("I6", f"vintage {vintage}: corresponding adjustments "
                                           f"{ca_by_vintage.get(vintage, 0)} kg != first-transferred "
                                           f"{ft_by_vintage.get(vintage, 0)} kg"))
    for ca_id in sorted(set(ft_by_ca) | set(ca_qty)):
        if ft_by_ca.get(ca_id, 0) != ca_qty.get(ca_id, 0):
            out.append(inv.Violation("I6", f"adjustment {ca_id} is {ca_qty.get(ca_id, 0)} kg but its first "
                                           f"transfers are {ft_by_ca.get(ca_id, 0)} kg"))
    for prefix, ranges in by_prefix.items():
        ranges.sort()
        for (_f1, l1), (f2, l2) in zip(ranges, ranges[1:], strict=False):
            if f2 <= l1:
                out.append(inv.Violation("I6", f"{prefix}: kilograms {f2}..{min(l1, l2)} first-transferred twice"))
    covered: dict[str, list[tuple[SerialRange, str]]] = defaultdict(list)
    for prefix, first, last, loa_id in facts.coverage:
        covered[prefix].append((SerialRange(prefix, first, last), loa_id))
    for prefix, first, last, _vintage, _ca, loa_id in facts.first_transfers:
        rng = SerialRange(prefix, first, last)
        mine = [r for r, owner in covered.get(prefix, []) if owner == loa_id]
        if subtract(rng, mine):
            out.append(inv.Violation("I6", f"first-transferred {rng} is not under its authorization {loa_id}"))
    out += _accounted_once(snapshot, facts)
    return out


# A kilogram under an LoA and not first-transferred is still reported while it is live here or exported
# (a transfer); retired or cancelled, it would have left the report silently (6007 refuses that).
_REPORTED_STATES = frozenset({"held", "immobilized", "pledged", "in_transit", "exported"})


def _merge(ranges: Iterable[SerialRange]) -> list[SerialRange]:
    out: list[SerialRange] = []
    for r in sorted(ranges):
        if out and out[-1].prefix == r.prefix and r.first_kg <= out[-1].last_kg + 1:
            out[-1] = SerialRange(r.prefix, out[-1].first_kg, max(out[-1].last_kg, r.last_kg))
        else:
            out.append(r)
    return out


def _accounted_once(snapshot: inv.LedgerSnapshot, facts: Article6Facts) -> list[inv.Violation]:
    """Per LoA and vintage: authorized = first-transferred + still covered (live or exported here) + released.
    Kilograms are counted once (a partial release closes a coverage row and re-opens its remainder)."""
    ever: dict[tuple[str, int], list[SerialRange]] = defaultdict(list)
    gone: dict[tuple[str, int], list[SerialRange]] = defaultdict(list)
    issuance_of: dict[str, str] = {}
    active: dict[str, list[tuple[SerialRange, tuple[str, int]]]] = defaultdict(list)
    for issuance_id, prefix, first, last, loa_id, vintage, was_released in facts.coverage_history:
        key, rng = (loa_id, vintage), SerialRange(issuance_id, first, last)
        issuance_of[prefix] = issuance_id
        ever[key].append(rng)
        if was_released:
            gone[key].append(rng)
        else:
            active[issuance_id].append((rng, key))
    active_by_key: dict[tuple[str, int], list[SerialRange]] = defaultdict(list)
    for rows in active.values():
        for rng, key in rows:
            active_by_key[key].append(rng)
    authorized = {k: sum(r.quantity_kg for r in _merge(v)) for k, v in ever.items()}
    released = {k: sum(p.quantity_kg for r in _merge(v) for p in subtract(r, active_by_key.get(k, [])))
                for k, v in gone.items()}
    ft: dict[tuple[str, int], int] = defaultdict(int)
    done: dict[str, list[SerialRange]] = defaultdict(list)
    for prefix, first, last, vintage, _ca, loa_id in facts.first_transfers:
        ft[(loa_id, vintage)] += last - first + 1
        done[issuance_of.get(prefix, prefix)].append(SerialRange(issuance_of.get(prefix, prefix), first, last))
    leaves: dict[str, list[tuple[SerialRange, str]]] = defaultdict(list)
    for b in snapshot.blocks:
        if b.is_leaf and b.issuance_id in active:
            leaves[b.issuance_id].append((SerialRange(b.issuance_id, b.first_kg, b.last_kg), b.state))
    still: dict[tuple[str, int], int] = defaultdict(int)
    for issuance_id, rows in active.items():
        pending = sorted(((part, key) for rng, key in rows for part in subtract(rng, done.get(issuance_id, []))),
                         key=lambda x: x[0].first_kg)
        blocks = sorted(leaves.get(issuance_id, []), key=lambda x: x[0].first_kg)
        for piece, key, state in sweep(pending, blocks):
            if state in _REPORTED_STATES:
                still[key] += piece.quantity_kg
    out = []
    for key in sorted(authorized):
        if authorized[key] != ft[key] + still[key] + released.get(key, 0):
            out.append(inv.Violation("I6", f"authorization {key[0]} vintage {key[1]}: {authorized[key]} kg authorized "
                                           f"!= {ft[key]} first-transferred + {still[key]} still covered + "
                                           f"{released.get(key, 0)} released (units left the report silently)"))
    return out



# --- ITMOs: one tonne each (2/CMA.3 annex I para 1(a)); identifiers of 6/CMA.4 annex I para 5 ---------------------
TONNE_KG = 1000
DEFAULT_MITIGATION_TYPE = "Emission reductions"
MITIGATION_TYPES = ("Emission reductions", "Removals", "Emission reductions and removals")


def effective_mitigation_type(issuance_value: str | None, project_value: str | None, loa_value: Any) -> str:
    """The mitigation type reported for units: the issuance's override, else its project's, else (projects and
    issuances recorded before migration 0015, whose rows are never rewritten behind the journal) the LoA's
    value, else the default."""
    for value in (issuance_value, project_value, loa_value):
        if value:
            return str(value)
    return DEFAULT_MITIGATION_TYPE


# NDC implementation period (Table 1): an officer sets it; a sane period lies within the Paris Agreement's
# NDC cycles (from 2021) and lasts at most ten years (NDCs have five- or ten-year implementation periods).
NDC_FIRST_YEAR_MIN, NDC_LAST_YEAR_MAX, NDC_PERIOD_MAX_YEARS = 2021, 2100, 10


def require_ndc_period(first_year: int, last_year: int) -> None:
    if not (NDC_FIRST_YEAR_MIN <= first_year <= NDC_LAST_YEAR_MAX
            and NDC_FIRST_YEAR_MIN <= last_year <= NDC_LAST_YEAR_MAX):
        raise RegistryError(1003, f"NDC implementation years must lie between {NDC_FIRST_YEAR_MIN} and "
                                  f"{NDC_LAST_YEAR_MAX}", first_year=first_year, last_year=last_year)
    if first_year > last_year:
        raise RegistryError(1003, "the NDC implementation period's first year comes after its last",
                            first_year=first_year, last_year=last_year)
    if last_year - first_year + 1 > NDC_PERIOD_MAX_YEARS:
        raise RegistryError(1003, f"an NDC implementation period lasts at most {NDC_PERIOD_MAX_YEARS} years",
                            first_year=first_year, last_year=last_year)
# UNFCCC common nomenclature (17 Feb 2026), tables 15(b) and 51(b), verbatim (including "C02 usage").
SECTORS = ("Agriculture", "Building and construction", "Cross-sectoral mechanisms", "Energy generation",
           "Forestry and land use", "Industrial processes", "Transportation", "Urban development", "Waste management")
ACTIVITY_TYPES = ("Afforestation", "Agriculture", "Biogas", "Biomass Energy", "Cement", "C02 usage",
                  "Coal bed/mine methane", "Energy distribution", "Energy Efficiency households",
                  "Energy Efficiency Industry", "Energy Efficiency own generation", "Energy Efficiency service",
                  "Energy Efficiency supply side", "Fossil fuel switch", "Fugitive", "Geothermal", "Hydro",
                  "Landfill gas", "Methane avoidance", "N2O", "PFCs and SF6", "Reforestation", "Solar", "Tidal",
                  "Transport", "Waste", "Wind")
CA_ID_RE = re.compile(r"^CA\d{4}$")
AUTHORIZATION_ID_RE = re.compile(r"^[A-Za-z0-9 \-/.]+$")


def is_whole_itmos(rng: SerialRange) -> bool:
    """Whole tonnes on tonne boundaries of the serials: kg (t-1)*1000+1 .. t'*1000."""
    return rng.first_kg % TONNE_KG == 1 and rng.last_kg % TONNE_KG == 0


def require_whole_itmos(rng: SerialRange, what: str) -> None:
    if not is_whole_itmos(rng):
        raise RegistryError(6006, f"{what} must be whole tonnes aligned on tonne boundaries (one ITMO = 1 t)",
                            serial=str(rng), quantity_kg=rng.quantity_kg)


def tonne_range(rng: SerialRange) -> tuple[int, int]:
    """First and last tonne index of a range (tonne t = kg (t-1)*1000+1 .. t*1000)."""
    return (rng.first_kg - 1) // TONNE_KG + 1, (rng.last_kg - 1) // TONNE_KG + 1


def itmo_sequence(prefix: str, tonne: int) -> int:
    """The ITMO sequence number of one tonne: project number (5 digits), issuance number (3), tonne (9).
    Project numbers are unique in the registry and the vintage is part of the identifier, so the
    sequence is unique per registry and vintage, and reversible to the serial."""
    parts = prefix.split("-")
    return int(parts[2]) * 10**12 + int(parts[4]) * 10**9 + tonne


def cma_itmo_ids(ca_id: str, registry_id: str, party: str, rng: SerialRange, vintage: int) -> tuple[str, str]:
    """First and last ITMO unique identifiers (cooperative approach, Party ITMO registry, first
    transferring Party, sequence, vintage) of the tonnes of ``rng``."""
    t1, t2 = tonne_range(rng)
    return (f"{ca_id}-{registry_id}-{party}-{itmo_sequence(rng.prefix, t1)}-{vintage}",
            f"{ca_id}-{registry_id}-{party}-{itmo_sequence(rng.prefix, t2)}-{vintage}")


_CMA_ITMO_RE = re.compile(r"^(CA\d{4})-([A-Z]{3}\d{2})-([A-Z]{3})-([1-9]\d{12,16})-(\d{4})$")


@dataclass(frozen=True)
class ItmoId:
    """A parsed ITMO unique identifier: which tonne of which issuance it names."""

    ca_id: str
    registry_id: str
    party: str
    project_number: int
    issuance_number: int
    tonne: int
    vintage: int

    def kg_range(self, prefix: str) -> SerialRange:
        return SerialRange(prefix, (self.tonne - 1) * TONNE_KG + 1, self.tonne * TONNE_KG)


def parse_cma_itmo_id(text: str) -> ItmoId:
    """The parts of an ITMO unique identifier (``CA0007-THA01-THA-1001000007501-2025``); 2002 if malformed."""
    match = _CMA_ITMO_RE.match(text)
    seq = int(match.group(4)) if match else 0
    project, issuance, tonne = seq // 10**12, (seq // 10**9) % 1000, seq % 10**9
    if match is None or not (project and issuance and tonne):
        raise RegistryError(2002, "malformed ITMO unique id; expected CANNNN-<Party ITMO registry>-<Party>-"
                                  "<project(5) issuance(3) tonne(9)>-<vintage>", itmo_id=text[:80])
    return ItmoId(match.group(1), match.group(2), match.group(3), project, issuance, tonne, int(match.group(5)))


def unit_ids(rng: SerialRange) -> tuple[str, str]:
    """First and last underlying unit ids: the serial prefix and the tonne index (9 digits)."""
    t1, t2 = tonne_range(rng)
    return f"{rng.prefix}-{t1:09d}", f"{rng.prefix}-{t2:09d}"


def underlying_registry_id(prefix: str) -> str:
    """The nomenclature's id of the underlying unit registry: T-VER for (Premium) T-VER serials."""
    return "T-VER" if prefix.split("-")[1].endswith("TVER") else "NA"
