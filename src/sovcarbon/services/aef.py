"""The UNFCCC Agreed Electronic Format (AEF) for one reporting year, generated from the ledger, in the
CMA.6 template (``services.aef_template``): Table 1 submission, 2 authorizations, 3 actions, 4 holdings
at 31 December, 5 authorized entities, then annex sheets with the registry's own detail; as JSON
(the same tables and field labels) and as the template's ``.xlsx`` workbook.

Holdings and the year close: ``services.aef_holdings``; the tables' rows: ``services.aef_tables``; this
module assembles the report, records submissions and writes the workbook.

| rule | code |
|---|---|
| the report is read by registry officers and regulators | 1002 |
| a submission (1.0, then 1.1, 1.2, ... on every resubmission) is of a closed year, by a registry admin | 1002 / 1003 |

Reporting years and the 31 December cut-off are UTC. Holdings of a year that is not closed yet are
reconstructed from the block tree as of the cut-off (or now, for the running year) and the
submission is marked ``provisional`` (the summary says when its holdings were taken). Quantities are
integer kg in the ledger; the tables show whole tonnes (one ITMO = 1 t, 6006).
"""

from __future__ import annotations

import gc
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select

from sovcarbon.domain.access import require_role
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.journal import canonical_json
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import aef_template as tpl
from sovcarbon.services.aef_holdings import (
    acquired_holdings_as_of,
    check_year,
    frozen_holdings,
    holdings_as_of,
    tonnes,
    year_cutoff,
)
from sovcarbon.services.aef_tables import (
    TableContext,
    action_rows,
    authorizations,
    authorized_entities,
    collect_actions,
    holding_rows,
)
from sovcarbon.services.queries import READ_ALL_ROLES
from sovcarbon.services.registry import Registry
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store.uow import UnitOfWork

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NDC_FIRST_YEAR_SETTING, NDC_LAST_YEAR_SETTING = "ndc_first_year", "ndc_last_year"
DEFAULT_NDC_PERIOD = (2021, 2030)  # the updated NDC's implementation period; registry settings override it


# --- submissions (version X.Y, date) -------------------------------------------------------------------------------
def submissions(uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    s = a6.a6_submissions.c
    return [dict(r) for r in uow.conn.execute(select(a6.a6_submissions).where(s.year == year)
                                              .order_by(s.major, s.minor)).mappings()]


def ndc_period(uow: UnitOfWork) -> tuple[int, int]:
    first, last = uow.repo.setting(NDC_FIRST_YEAR_SETTING), uow.repo.setting(NDC_LAST_YEAR_SETTING)
    return (int(first) if first else DEFAULT_NDC_PERIOD[0]), (int(last) if last else DEFAULT_NDC_PERIOD[1])


def submit(reg: Registry, uow: UnitOfWork, actor: Actor, year: int) -> dict[str, Any]:
    """Record a submission of the year's AEF: version 1.0 first, then 1.1, 1.2, ... on every resubmission.
    Only a closed year (final holdings) is submitted."""
    require_role(actor, [Role.REGISTRY_ADMIN], "submit the AEF")
    check_year(year)
    if uow.conn.execute(select(a6.a6_year_closes.c.year).where(a6.a6_year_closes.c.year == year)).first() is None:
        raise RegistryError(1003, f"reporting year {year} is not closed; close it before submitting", year=year)
    done = submissions(uow, year)
    major, minor = (1, 0) if not done else (int(done[-1]["major"]), int(done[-1]["minor"]) + 1)
    rep = build(reg, uow, year, version=(major, minor, uow.now))
    digest = hashlib.sha256(canonical_json(rep["tables"])).hexdigest()
    entry = uow.append("a6_aef_submitted", {"actor": actor.key_id, "year": year, "version": f"{major}.{minor}",
                                            "tables_sha256": digest, "file_name": rep["file_name"]})
    uow.repo.insert(a6.a6_submissions, year=year, major=major, minor=minor, submitted_at=uow.now,
                    submitted_by_key=actor.key_id, tables_sha256=digest, journal_seq=entry.seq)
    return {"year": year, "version": f"{major}.{minor}", "submitted_at": uow.now, "file_name": rep["file_name"],
            "tables_sha256": digest, "journal_seq": entry.seq}


@contextmanager
def no_gc() -> Iterator[None]:
    """The report allocates a few hundred thousand containers that all stay alive until it is written: the
    cyclic collector would rescan them again and again (a third of the time at 100,000 actions)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def build(reg: Registry, uow: UnitOfWork, year: int, version: tuple[int, int, str] | None = None) -> dict[str, Any]:
    with no_gc():
        return _build(reg, uow, year, version)


def _build(reg: Registry, uow: UnitOfWork, year: int, version: tuple[int, int, str] | None) -> dict[str, Any]:
    """The year's AEF: the five CMA.6 tables keyed by their field labels, the annex (registry detail)
    and the summary. ``version`` = (major, minor, submission time) for a submission being recorded;
    otherwise the latest recorded submission, or a draft 1.0 dated today."""
    check_year(year)
    closed = uow.conn.execute(select(a6.a6_year_closes).where(a6.a6_year_closes.c.year == year)).mappings().first()
    ctx = TableContext(reg, uow)
    table3, annex_actions = action_rows(collect_actions(reg, uow, year, ctx), ctx)
    taken_at = year_cutoff(year) if closed is not None else min(uow.now, year_cutoff(year))
    holdings = frozen_holdings(reg, uow, year) if closed is not None else holdings_as_of(reg, uow, taken_at)
    # ITMOs acquired from other Parties and held here: from the immutable block tree at the same instant
    holdings = holdings + acquired_holdings_as_of(uow, year_cutoff(year) if closed is not None else taken_at)
    table4, annex_holdings = holding_rows(holdings, ctx)
    table2, annex_auths = authorizations(reg, uow, year)
    if version is None:
        done = submissions(uow, year)
        version = ((int(done[-1]["major"]), int(done[-1]["minor"]), str(done[-1]["submitted_at"])) if done
                   else (1, 0, uow.now))
    major, minor, submitted_at = version
    ndc_first, ndc_last = ndc_period(uow)
    table1 = {"Party": ctx.party, "Version": f"{major}.{minor}", "Reported year": year,
              "Date of submission": tpl.date_text(submitted_at), "Review status of the initial report": tpl.CARP_INFO,
              "Result of the consistency check of this AEF submission": tpl.CARP_INFO,
              "First year of the NDC implementation period": ndc_first,
              "Last year of the NDC implementation period": ndc_last,
              "Reference to the Article 6 technical expert review report of the initial report": tpl.CARP_INFO}
    ca = a6.a6_adjustments.c
    adjustments = {int(r[0]): int(r[1]) for r in uow.conn.execute(
        select(ca.vintage, func.sum(ca.quantity_kg)).where(ca.year == year).group_by(ca.vintage))}
    ft_t: dict[int, int] = defaultdict(int)
    for row in table3:
        if row["Action type"] == "First transfer" and isinstance(row["Quantity (t CO2 eq)"], int):
            ft_t[row["Vintage"]] += row["Quantity (t CO2 eq)"]
    head = uow.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).first()
    status = "final" if closed is not None else "provisional"
    summary = {
        "Party": ctx.party, "Party ITMO registry ID": ctx.rid, "Registry": reg.profile.registry_name,
        "Agency": reg.profile.agency_name, "Reported year": year, "Version": f"{major}.{minor}",
        "Status": status, "Generated at (UTC)": uow.now,
        "Holdings taken at (UTC)": (f"{year_cutoff(year)} (frozen when the year closed on {closed['closed_at']})"
                                    if closed is not None else f"{taken_at} (year not closed: provisional)"),
        "Journal head": f"#{int(head[0]) if head else 0} {str(head[1]) if head else ''}",
        "First transfers (t) by vintage": ", ".join(f"{v}: {q}" for v, q in sorted(ft_t.items())) or "none",
        "Corresponding adjustments (t) by vintage": ", ".join(f"{v}: {tonnes(q)}" for v, q in
                                                              sorted(adjustments.items())) or "none"}
    annex_submission = {
        "status": status, "generated_at": uow.now, "holdings_taken_at": taken_at,
        "holdings_source": (f"frozen at year close {closed['closed_at']} (journal #{closed['journal_seq']})"
                            if closed is not None else "reconstructed from the ledger at generation (year not closed)"),
        "journal_head_seq": int(head[0]) if head else 0, "journal_head_hash": str(head[1]) if head else "",
        "corresponding_adjustments_kg_by_vintage": {str(k): v for k, v in sorted(adjustments.items())},
        "holdings_kg": sum(h["quantity_kg"] for h in holdings), "authorizations": annex_auths}
    return {"file_name": tpl.file_name(ctx.party, year, f"{major}.{minor}"), "summary": summary,
            "tables": {tpl.T1_SHEET: table1, tpl.T2_SHEET: table2, tpl.T3_SHEET: table3, tpl.T4_SHEET: table4,
                       tpl.T5_SHEET: authorized_entities(uow, year)},
            "annex": {"actions": annex_actions, "holdings": annex_holdings, "submission": annex_submission}}


def report(reg: Registry, uow: UnitOfWork, actor: Actor, year: int) -> dict[str, Any]:
    require_role(actor, READ_ALL_ROLES, "read the AEF report")
    return build(reg, uow, year)


# --- the workbook -----------------------------------------------------------------------------------------------
def write_xlsx(rep: dict[str, Any], out: Path | IO[bytes]) -> None:
    """The CMA.6 template's workbook (services.aef_template)."""
    with no_gc():
        tpl.write_workbook(rep, out)


def xlsx_bytes(rep: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(rep, buffer)
    return buffer.getvalue()
