"""The AEF's tables built from the ledger, keyed by the CMA.6 template's field labels: Table 2 authorizations,
Table 3 actions (each Article 6 action once per action type the guidance defines), Table 4 rows of the holdings
(``services.aef_holdings``), Table 5 authorized entities, and the registry's annex rows beside them."""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.model import BlockState
from sovcarbon.domain.serials import SerialRange, parse_serial
from sovcarbon.services import aef_template as tpl
from sovcarbon.services import article6 as a6s
from sovcarbon.services.aef_holdings import tonnes, year_cutoff, year_start
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import peer_tables as pt
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

PURPOSE_LABELS = {("ndc",): "NDC", ("oimp",): "OIMP", ("ndc", "oimp"): "NDC and OIMP"}


class _Loas:
    """LoA version bodies, loaded once per report (one query per LoA, never per row)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.cache: dict[str, rules.Loa] = {}

    def get(self, loa_id: str) -> rules.Loa:
        if loa_id not in self.cache:
            self.cache[loa_id] = a6s.current(self.uow, loa_id)
        return self.cache[loa_id]


FT_SUBTYPES = {"international_transfer": "First transfer to another Party", "authorization": "Authorization",
               "issuance": "Issuance", "use": "Use or cancellation"}
FT_DEFINITION_LABELS = {"authorization": "Authorization", "issuance": "Issuance",
                        "use_or_cancellation": "Use or cancellation"}
OTHER_CANCELLATIONS, NOT_YET_DEFINED = "Other cancellations", "Not yet defined"


def _purposes(loa: rules.Loa) -> str:
    return PURPOSE_LABELS[tuple(sorted(str(p) for p in loa.purposes))]


def _tonnes_cell(kg: int) -> int | str:
    """Whole tonnes as an integer; a remainder (units outside the 6006 rule, from before it) stays visible."""
    return kg // 1000 if kg % 1000 == 0 else tonnes(kg)


def mitigation_types(uow: UnitOfWork) -> dict[str, tuple[str | None, str | None]]:
    """(issuance's, project's) recorded mitigation type per serial prefix, in one query (migration 0015)."""
    i, p = t.issuances.c, t.projects.c
    rows = uow.conn.execute(select(i.serial_prefix, i.mitigation_type, p.mitigation_type)
                            .join(t.projects, p.id == i.project_id))
    return {r[0]: (r[1], r[2]) for r in rows}


class TableContext:
    def __init__(self, reg: Registry, uow: UnitOfWork) -> None:
        self.party = reg.profile.party_code
        self.rid = a6s.registry_id(reg, uow)
        self.loas = _Loas(uow)
        self._fixed: dict[tuple[str, str, int], tuple[dict[str, Any], bool]] = {}
        self._mitigation = mitigation_types(uow)

    def block(self, loa: rules.Loa, rng: SerialRange, vintage: int) -> dict[str, Any]:
        """The block identification shared by tables 3 and 4 (ITMOs one for one with underlying units)."""
        key = (loa.id, rng.prefix, vintage)
        fixed = self._fixed.get(key)
        if fixed is None:
            body = loa.body
            u_reg = rules.underlying_registry_id(rng.prefix)
            fixed = self._fixed[key] = (
                {"Cooperative approach ID": loa.cooperative_approach_id,
                 "Authorization ID": body.get("reference", loa.id),
                 "First transferring participating Party ID": self.party, "Party ITMO registry ID": self.rid,
                 "First ID": "", "Last ID": "", "Underlying unit registry ID": u_reg, "First unit ID": tpl.NA,
                 "Last unit ID": tpl.NA, "Metric": "GHG", "Applicable GWP value(s)": body.get("gwp") or "AR5",
                 "Applicable non-GHG metric": tpl.NA, "Quantity (t CO2 eq)": 0, "Quantity (in non-GHG metric)": tpl.NA,
                 "Mitigation type": rules.effective_mitigation_type(
                     *self._mitigation.get(rng.prefix, (None, None)), body.get("mitigation_type")),
                 "Vintage": vintage},
                u_reg != tpl.NA)
        row, with_units = fixed
        out = dict(row)
        out["First ID"], out["Last ID"] = rules.cma_itmo_ids(row["Cooperative approach ID"], self.rid, self.party,
                                                             rng, vintage)
        if with_units:
            out["First unit ID"], out["Last unit ID"] = rules.unit_ids(rng)
        out["Quantity (t CO2 eq)"] = _tonnes_cell(rng.quantity_kg)
        return out

    @staticmethod
    def foreign_block(itmo: dict[str, Any], rng: SerialRange, vintage: int) -> dict[str, Any]:
        """The same block identification for ITMOs another Party first transferred to us (the description its
        registry sent with the units, ``interop.itmo_description``): its ids, never ours."""
        u_reg = rules.underlying_registry_id(rng.prefix)
        first, last = rules.cma_itmo_ids(itmo["cooperative_approach_id"], itmo["registry_id"], itmo["party"], rng,
                                         vintage)
        units = rules.unit_ids(rng) if u_reg != tpl.NA else (tpl.NA, tpl.NA)
        return {"Cooperative approach ID": itmo["cooperative_approach_id"],
                "Authorization ID": itmo["authorization_id"],
                "First transferring participating Party ID": itmo["party"],
                "Party ITMO registry ID": itmo["registry_id"], "First ID": first, "Last ID": last,
                "Underlying unit registry ID": u_reg, "First unit ID": units[0], "Last unit ID": units[1],
                "Metric": "GHG", "Applicable GWP value(s)": itmo["gwp"], "Applicable non-GHG metric": tpl.NA,
                "Quantity (t CO2 eq)": _tonnes_cell(rng.quantity_kg), "Quantity (in non-GHG metric)": tpl.NA,
                "Mitigation type": itmo["mitigation_types"][rng.prefix], "Vintage": vintage}


@dataclass(slots=True)
class _Action:
    at: str
    seq: int
    rng: SerialRange
    vintage: int
    loa_id: str
    kind: str
    subtype: str
    ours: str
    action_id: str
    txn_id: str | None
    acquiring_party: str = tpl.NA
    transferring_party: str = tpl.NA
    purpose: str = tpl.NA
    using_party: str = tpl.NA
    using_entity: str = tpl.NA
    extra: dict[str, Any] = field(default_factory=dict)
    itmo: dict[str, Any] | None = None  # ITMOs first transferred by another Party (acquired through the peer protocol)


def _oimp_purpose(loa: rules.Loa, purpose: str | None) -> str:
    if purpose == "corsia":
        return rules.CORSIA
    return ", ".join(loa.oimp) or "OIMP"


def _entity_id(loa: rules.Loa, name: str | None) -> str:
    for e in loa.body.get("authorized_entities") or ():
        if name and e["name"].casefold() == name.casefold():
            return str(e.get("identification_number") or e["name"])
    return name or tpl.NA


def collect_actions(reg: Registry, uow: UnitOfWork, year: int, ctx: TableContext) -> list[_Action]:
    """Every Article 6 action of the year, once per action type the guidance defines: an export's
    first transfer is not also a transfer, a use that is the first transfer is not also a cancellation."""
    ft = a6.a6_first_transfers.c
    by_seq: dict[int, list[SerialRange]] = defaultdict(list)
    event_of: dict[tuple[int, str, int], str] = {}
    for e in uow.conn.execute(select(ft.journal_seq, ft.serial_prefix, ft.first_kg, ft.last_kg, ft.event).where(
            ft.created_at >= year_start(year), ft.created_at <= year_cutoff(year))):
        by_seq[int(e[0])].append(SerialRange(e[1], int(e[2]), int(e[3])))
        event_of[(int(e[0]), e[1], int(e[2]))] = str(e[4])
    for ranges in by_seq.values():
        ranges.sort()

    def same_seq_ft(seq: int, rng: SerialRange) -> list[SerialRange]:
        """First transfers written by the same journal entry that overlap ``rng`` (bisect, no scan)."""
        ranges = by_seq.get(seq, [])
        i = max(0, bisect.bisect_left(ranges, SerialRange(rng.prefix, rng.first_kg, rng.first_kg)) - 1)
        out = []
        while i < len(ranges) and (ranges[i].prefix, ranges[i].first_kg) <= (rng.prefix, rng.last_kg):
            if rules.intersect(ranges[i], rng) is not None:
                out.append(ranges[i])
            i += 1
        return out

    c = a6.a6_actions.c
    rows = uow.conn.execute(select(
        c.id, c.action_type, c.action_at, c.loa_id, c.serial_prefix, c.first_kg, c.last_kg, c.vintage, c.purpose,
        c.acquiring_party, c.transferring_party, c.using_entity, c.txn_id, c.journal_seq)
        .where(c.year == year).order_by(c.id)).all()
    use_purpose = {int(r[13]): r[8] for r in rows if r[1] == "use"}
    na, party, out = tpl.NA, ctx.party, []
    for (aid, kind, at, loa_id, prefix, first, last, vintage, purpose, acquiring, transferring, using_entity, txn_id,
         seq) in rows:
        rng = SerialRange(prefix, int(first), int(last))
        seq, vintage, ours = int(seq), int(vintage), str(kind)
        if kind == "authorization":  # annex only: units placed under an LoA (Table 2's business)
            out.append(_Action(at, seq, rng, vintage, loa_id, "", "", ours, f"act-{aid}", txn_id))
        elif kind == "first_transfer":
            event = event_of.get((seq, prefix, rng.first_kg),
                                 "international_transfer" if acquiring else "authorization")
            a = _Action(at, seq, rng, vintage, loa_id, "First transfer", FT_SUBTYPES.get(event, NOT_YET_DEFINED), ours,
                        f"act-{aid}", txn_id)
            if event == "international_transfer":
                a.acquiring_party = acquiring or na
            elif event == "use":
                loa = ctx.loas.get(loa_id)
                a.purpose = _oimp_purpose(loa, use_purpose.get(seq))
                a.using_party = acquiring or party  # a use abroad (peer notice): the Party it was used in
                a.using_entity = _entity_id(loa, using_entity)
            out.append(a)
        elif kind == "transfer":
            for part in rules.subtract(rng, same_seq_ft(seq, rng)):
                out.append(_Action(at, seq, part, vintage, loa_id, "Transfer", NOT_YET_DEFINED, ours, f"act-{aid}",
                                   txn_id, acquiring_party=acquiring or na))
        elif kind in ("use", "voluntary_cancellation", "cancellation"):
            loa = ctx.loas.get(loa_id)
            why = _oimp_purpose(loa, purpose) if kind == "use" else "Voluntary cancellation"
            for part in rules.subtract(rng, same_seq_ft(seq, rng)):
                out.append(_Action(at, seq, part, vintage, loa_id, "Cancellation", OTHER_CANCELLATIONS, ours,
                                   f"act-{aid}", txn_id, purpose=why, using_party=party,
                                   using_entity=_entity_id(loa, using_entity)))
        elif kind == "acquisition":
            out.append(_Action(at, seq, rng, vintage, loa_id, "Acquisition", NOT_YET_DEFINED, ours, f"act-{aid}",
                               txn_id, transferring_party=transferring or na))
    out += _cancellations(uow, year, ctx)
    out += _cross_border(uow, year, ctx)
    out.sort(key=lambda a: (a.at[:10], a.seq, a.rng.prefix, a.rng.first_kg))
    return out


def _cancellations(uow: UnitOfWork, year: int, ctx: TableContext) -> list[_Action]:
    """Cancellations (four-eyes, core) of first-transferred kilograms, read from the ledger itself
    (two queries for the whole year)."""
    tx, b, ft = t.transactions.c, t.blocks.c, a6.a6_first_transfers.c
    rows = uow.conn.execute(
        select(b.serial_prefix, b.first_kg, b.last_kg, b.vintage, tx.id, tx.journal_seq, tx.created_at)
        .select_from(t.blocks.join(t.transactions, tx.id == b.txn_id))
        .where(tx.kind == "cancellation", tx.created_at >= year_start(year), tx.created_at <= year_cutoff(year),
               b.state == str(BlockState.CANCELLED))
        .order_by(tx.journal_seq, b.serial_prefix, b.first_kg)).all()
    if not rows:
        return []
    prefixes = sorted({r[0] for r in rows})
    done = [(SerialRange(r[0], int(r[1]), int(r[2])), r[3]) for r in uow.conn.execute(
        select(ft.serial_prefix, ft.first_kg, ft.last_kg, ft.loa_id).where(ft.serial_prefix.in_(prefixes))
        .order_by(ft.serial_prefix, ft.first_kg))]
    cancelled = sorted(((SerialRange(p, int(f), int(la)), (int(v), txn, int(seq), at))
                        for p, f, la, v, txn, seq, at in rows), key=lambda x: (x[0].prefix, x[0].first_kg))
    out = []
    for part, (vintage, txn_id, seq, at), loa_id in rules.sweep(cancelled, done):
        out.append(_Action(at=at, seq=seq, rng=part, vintage=vintage, loa_id=loa_id, kind="Cancellation",
                           subtype=OTHER_CANCELLATIONS, ours="cancellation", action_id=f"can-{txn_id}-{part.first_kg}",
                           txn_id=txn_id, purpose="Cancellation by the registry", using_party=ctx.party))
    return out


def _cross_border(uow: UnitOfWork, year: int, ctx: TableContext) -> list[_Action]:
    """Actions of the peer protocol (``services.interop``), each reported once across the two Parties' reports:
    here as the acquiring Party, an Acquisition of ITMOs another Party first transferred to us (when the units
    arrive: its COMMIT applied) and a Cancellation when they are retired here; here as the first transferring
    Party, a use abroad (a retirement notice received) is the acquiring Party's action, reported in its AEF:
    ours records it in the annex only (our own first transfer and transfer rows were written at export)."""
    pt_, tx = pt.peer_transfers.c, t.transactions.c
    out: list[_Action] = []
    acquired: dict[str, list[tuple[SerialRange, dict[str, Any]]]] = defaultdict(list)
    for tid, serials, detail_text, txn_id, at, seq in uow.conn.execute(
            select(pt_.id, pt_.serials, pt_.detail, pt_.txn_id, tx.created_at, tx.journal_seq)
            .select_from(pt.peer_transfers.join(t.transactions, tx.id == pt_.txn_id))
            .where(pt_.side == "destination", tx.created_at <= year_cutoff(year)).order_by(tx.journal_seq)):
        itmo = json.loads(detail_text).get("itmo")
        if not isinstance(itmo, dict):
            continue  # units that were not ITMOs (e.g. our own units coming back)
        for text in json.loads(serials):
            rng = parse_serial(text)
            acquired[rng.prefix].append((rng, itmo))
            if at >= year_start(year):
                out.append(_Action(str(at), int(seq), rng, _vintage(rng), "", "Acquisition", NOT_YET_DEFINED,
                                   "peer_acquisition", f"acq-{tid}-{rng.prefix}-{rng.first_kg}", txn_id,
                                   transferring_party=itmo["party"], itmo=itmo))
    if acquired:
        r, b = t.retirements.c, t.blocks.c
        for ret_id, txn_id, seq, at, purpose, beneficiary, prefix, first, last in uow.conn.execute(
                select(r.id, r.txn_id, r.journal_seq, r.created_at, r.purpose, r.beneficiary_name, b.serial_prefix,
                       b.first_kg, b.last_kg)
                .join(t.blocks, (b.txn_id == r.txn_id) & (b.state == str(BlockState.RETIRED)))
                .where(b.serial_prefix.in_(sorted(acquired)), r.created_at >= year_start(year),
                       r.created_at <= year_cutoff(year)).order_by(r.journal_seq, b.serial_prefix, b.first_kg)):
            retired = SerialRange(prefix, int(first), int(last))
            for rng, itmo in acquired[prefix]:
                part = rules.intersect(rng, retired)
                if part is not None:
                    out.append(_Action(str(at), int(seq), part, _vintage(part), "", "Cancellation",
                                       OTHER_CANCELLATIONS, "retirement", f"ret-{ret_id}-{part.first_kg}", txn_id,
                                       purpose=rules.CORSIA if purpose == "corsia" else "Voluntary cancellation",
                                       using_party=ctx.party, using_entity=str(beneficiary) or tpl.NA, itmo=itmo))
    e = pt.peer_entity_uses.c
    for nid, peer_id, blocks_text, purpose, entity, at in uow.conn.execute(
            select(e.id, e.peer_id, e.blocks, e.purpose, e.entity_name, e.created_at)
            .where(e.created_at >= year_start(year), e.created_at <= year_cutoff(year)).order_by(e.created_at, e.id)):
        # Our entity used, in the peer's registry, ITMOs that Party authorized for ours (e.g. tokens retired on
        # its chain): the ITMOs never entered this registry, and the first transfer and the use are the
        # transferring Party's actions in its Table 3 (reported once): annex only here.
        for block in json.loads(blocks_text):
            for text in block["serials"]:
                rng = parse_serial(text)
                out.append(_Action(str(at), 0, rng, int(block["vintages"][rng.prefix]), "", "", "",
                                   "entity_use_abroad", f"euse-{nid}-{rng.first_kg}", None, itmo=block["itmo"],
                                   extra={"peer": peer_id, "entity": entity, "purpose": purpose,
                                          "reported_by": block["itmo"]["party"]}))
    u = pt.peer_uses_abroad.c
    for nid, peer_id, serials, purpose, beneficiary, claim_year, retired_at, at in uow.conn.execute(
            select(u.id, u.peer_id, u.serials, u.purpose, u.beneficiary_name, u.claim_year, u.retired_at,
                   u.created_at).where(u.created_at >= year_start(year), u.created_at <= year_cutoff(year))
            .order_by(u.created_at, u.id)):
        for text in json.loads(serials):
            rng = parse_serial(text)
            out.append(_Action(str(at), 0, rng, _vintage(rng), "", "", "", "use_abroad", f"use-{nid}-{rng.first_kg}",
                               None, extra={"peer": peer_id, "purpose": purpose, "beneficiary": beneficiary,
                                            "claim_year": int(claim_year), "retired_abroad_at": retired_at}))
    return out


def _vintage(rng: SerialRange) -> int:
    return int(rng.prefix.split("-")[3])


def action_rows(actions: list[_Action], ctx: TableContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Table 3 rows and their annex rows (registry detail, same order; annex-only actions at the end)."""
    table: list[dict[str, Any]] = []
    annex: list[dict[str, Any]] = []
    for a in actions:
        detail = {"table_3_row": None, "action_id": a.action_id, "registry_action": a.ours,
                  "authorization": a.itmo["authorization_id"] if a.itmo else a.loa_id, "serial": str(a.rng),
                  "quantity_kg": a.rng.quantity_kg, "txn_id": a.txn_id or "", "journal_seq": a.seq,
                  "action_at": a.at, "note": ", ".join(f"{k}: {v}" for k, v in a.extra.items())}
        if not a.kind:
            annex.append(detail)
            continue
        block = (ctx.foreign_block(a.itmo, a.rng, a.vintage) if a.itmo is not None
                 else ctx.block(ctx.loas.get(a.loa_id), a.rng, a.vintage))
        table.append({
            "Action date": tpl.date_text(a.at), "Action type": a.kind, "Action subtype": a.subtype,
            **block,
            "Transferring participating Party ID": a.transferring_party,
            "Acquiring participating Party ID": a.acquiring_party,
            "Purpose for which the ITMO has been used towards or cancelled for OIMP": a.purpose,
            "Using/cancelling participating Party ID": a.using_party,
            "Using/cancelling authorized entity ID": a.using_entity,
            "Calendar year for which the ITMOs are used towards the Party's NDC": tpl.NA,
            "Result of the consistency checks": tpl.CARP_INFO, "Additional explanatory information": ""})
        annex.append({**detail, "table_3_row": len(table)})
    annex.sort(key=lambda d: (d["table_3_row"] is None, d["table_3_row"] or 0))
    return table, annex


def actions(reg: Registry, uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    """Table 3 rows of the year."""
    ctx = TableContext(reg, uow)
    return action_rows(collect_actions(reg, uow, year, ctx), ctx)[0]


def _timeframe(body: dict[str, Any]) -> str:
    return f"{body['timeframe']['start'][:4]} - {body['timeframe']['end'][:4]}"


def authorizations(reg: Registry, uow: UnitOfWork, year: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Table 2: every LoA version approved during the year (grants, amendments, revocations); annex rows."""
    v = a6.a6_authorization_versions.c
    rows = list(uow.conn.execute(select(a6.a6_authorization_versions).where(
        v.status == str(rules.VersionStatus.APPROVED), v.decided_at >= year_start(year),
        v.decided_at <= year_cutoff(year)).order_by(v.decision_seq)).mappings())
    prev_bodies = {(r[0], int(r[1])): r[2] for r in uow.conn.execute(
        select(v.loa_id, v.version, v.body).where(v.status == str(rules.VersionStatus.APPROVED)))}
    table, annex = [], []
    for r in rows:
        body = json.loads(r["body"])
        loa = rules.Loa.from_body(r["loa_id"], int(r["version"]), "active", body)
        older = [ver for (lid, ver) in prev_bodies if lid == r["loa_id"] and ver < int(r["version"])]
        prev = json.loads(prev_bodies[(r["loa_id"], max(older))]) if older else None
        changes = sorted(k for k, val in body.items() if prev is not None and prev.get(k) != val)
        oimp = rules.LoaPurpose.OIMP in loa.purposes
        kind = str(r["kind"])
        info = {"grant": "Grant", "amendment": f"Amendment ({', '.join(changes) or 'no field changed'})",
                "revocation": "Revocation" + (" of named units" if r["revoked_serials"] else " of the whole "
                                              "authorization for units not first-transferred")}[kind]
        table.append({
            "Authorization ID": body["reference"],
            "Date of authorization": tpl.date_text(body["authorization_date"]),
            "Cooperative approach ID": body["cooperative_approach_id"],
            "Version of the authorization": int(r["version"]),
            "Authorized quantity": _tonnes_cell(int(body["max_quantity_kg"])), "Metric": "GHG",
            "Applicable GWP value(s)": body.get("gwp") or "AR5", "Applicable non-GHG metric": tpl.NA,
            "Sector(s)": ", ".join(body["sectors"]), "Activity type(s)": ", ".join(body["activity_types"]),
            "Purposes for authorization": _purposes(loa),
            "Authorized Party(ies) ID": ", ".join(body["authorized_parties"]),
            "Authorized entity(ies) ID": ", ".join(str(e.get("identification_number") or e["name"])
                                                   for e in body.get("authorized_entities") or ()) or tpl.NA,
            "OIMP authorized by the Party": ", ".join(loa.oimp) if oimp else tpl.NA,
            "Authorized timeframe": _timeframe(body), "Authorization terms and conditions": body.get("terms", ""),
            "Authorization documentation": tpl.CARP_LINK,
            "First transfer definition for OIMP": (FT_DEFINITION_LABELS[body["first_transfer_event"]] if oimp
                                                   else tpl.NA),
            "Additional explanatory information": info})
        annex.append({"table_2_row": len(table), "authorization": r["loa_id"], "version_kind": kind,
                      "approved_at": r["decided_at"], "max_quantity_kg": int(body["max_quantity_kg"]),
                      "ca_method": body["ca_method"], "document_sha256": r["document_sha256"] or "",
                      "changes": ", ".join(changes), "revoked_serials": r["revoked_serials"] or "",
                      "reason": r["reason"], "journal_seq": r["decision_seq"]})
    return table, annex


def authorized_entities(uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    """Table 5: entities of every LoA in force at some time in the year, as of its latest version then."""
    v = a6.a6_authorization_versions.c
    rows = uow.conn.execute(select(a6.a6_authorization_versions).where(
        v.status == str(rules.VersionStatus.APPROVED), v.decided_at <= year_cutoff(year))
        .order_by(v.loa_id, v.version)).mappings()
    latest: dict[str, Any] = {}
    revoked_before: set[str] = set()
    for r in rows:
        whole = r["kind"] == rules.VersionKind.REVOCATION and not r["revoked_serials"]
        if whole and r["decided_at"] < year_start(year):
            revoked_before.add(r["loa_id"])
        latest[r["loa_id"]] = r
    out = []
    for loa_id, r in sorted(latest.items()):
        if loa_id in revoked_before:
            continue
        body = json.loads(r["body"])
        for e in body.get("authorized_entities") or ():
            out.append({"Date of the authorization": tpl.date_text(body["authorization_date"]), "Name": e["name"],
                        "Country of incorporation": e.get("country") or e["party"],
                        "Identification number (in the country of incorporation)":
                            e.get("identification_number") or "",
                        "Cooperative approach ID": body["cooperative_approach_id"],
                        "Conditions": body.get("terms", ""),
                        "Change and revocation conditions": "Amendment or revocation by the Party's four-eyes "
                                                            "decision; first-transferred units are never revoked",
                        "Additional explanatory information": f"Authorization {body['reference']}"})
    return out


def holding_rows(holdings: list[dict[str, Any]],
                 ctx: TableContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    table, annex = [], []
    for h in holdings:
        rng = SerialRange(h["serial_prefix"], h["first_kg"], h["last_kg"])
        itmo = h.get("itmo")  # ITMOs another Party first transferred to us: its identifiers (AEF.md Table 4)
        table.append(ctx.block(ctx.loas.get(h["authorization_id"]), rng, h["vintage"]) if itmo is None
                     else ctx.foreign_block(itmo, rng, h["vintage"]))
        annex.append({"table_4_row": len(table),
                      "authorization": h["authorization_id"] if itmo is None else itmo["authorization_id"],
                      "serial": h["serial"], "quantity_kg": h["quantity_kg"], "state": h["state"],
                      "account_id": h["account_id"], "first_transferred": "Yes" if h["first_transferred"] else "No",
                      "acquired_from": h.get("acquired_from", ""), "transfer_id": h.get("transfer_id", "")})
    return table, annex
