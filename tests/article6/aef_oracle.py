"""An oracle for the CMA.6 Agreed Electronic Format, written from the published rules (decisions
2/CMA.3, 6/CMA.4 annex I para 5 and annex II, the CMA.6 revision of the AEF and the common
nomenclature of 17 Feb 2026, as summarized in /work/shared/spec/AEF.md), not from our writer.

It reads a workbook the way the UNFCCC's Centralized Accounting and Reporting Platform (CARP) does:
finds each table by sheet name, heading cell and first/last field labels, counts the fields
between them, then applies a pattern to every value; and it checks the consistency rules a
registry must meet: each action reported once, ITMO blocks one for one with underlying unit
blocks, first transfers equal to corresponding adjustments per vintage. ``check_workbook`` returns
the list of problems (empty = ingestible); it imports nothing of ours.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SHEETS = ["Index", "Summary information", "Table 1 Submission", "Table 2 Authorizations", "Table 3 Actions",
          "Table 4 Holdings", "Table 5 Auth. entities"]
HEADINGS = {"Table 1 Submission": "Table 1: Submission", "Table 2 Authorizations": "Table 2: Authorizations",
            "Table 3 Actions": "Table 3: Actions", "Table 4 Holdings": "Table 4: Holdings",
            "Table 5 Auth. entities": "Table 5: Authorized entities"}
HEADER_ROW = {"Table 2 Authorizations": 7, "Table 3 Actions": 8, "Table 4 Holdings": 7, "Table 5 Auth. entities": 10}
CARP_INFO = "{Information in this field is populated by the CARP}"
CARP_LINK = "{Link to be produced by the CARP}"

T1 = ["Party", "Version", "Reported year", "Date of submission", "Review status of the initial report",
      "Result of the consistency check of this AEF submission", "First year of the NDC implementation period",
      "Last year of the NDC implementation period",
      "Reference to the Article 6 technical expert review report of the initial report"]
# Groups (separated by one unlabelled spacer column, "‖" in the published tables).
T2 = [["Authorization ID", "Date of authorization", "Cooperative approach ID", "Version of the authorization"],
      ["Authorized quantity", "Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Sector(s)",
       "Activity type(s)", "Purposes for authorization", "Authorized Party(ies) ID", "Authorized entity(ies) ID",
       "OIMP authorized by the Party", "Authorized timeframe", "Authorization terms and conditions",
       "Authorization documentation", "First transfer definition for OIMP", "Additional explanatory information"]]
T3 = [["Action date", "Action type", "Action subtype", "Cooperative approach ID", "Authorization ID",
       "First transferring participating Party ID", "Party ITMO registry ID", "First ID", "Last ID"],
      ["Underlying unit registry ID", "First unit ID", "Last unit ID"],
      ["Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Quantity (t CO2 eq)",
       "Quantity (in non-GHG metric)"],
      ["Mitigation type", "Vintage"],
      ["Transferring participating Party ID", "Acquiring participating Party ID"],
      ["Purpose for which the ITMO has been used towards or cancelled for OIMP",
       "Using/cancelling participating Party ID", "Using/cancelling authorized entity ID",
       "Calendar year for which the ITMOs are used towards the Party's NDC"],
      ["Result of the consistency checks", "Additional explanatory information"]]
T4 = [["Cooperative approach ID", "Authorization ID", "First transferring participating Party ID",
       "Party ITMO registry ID", "First ID", "Last ID"],
      ["Underlying unit registry ID", "First unit ID", "Last unit ID"],
      ["Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Quantity (t CO2 eq)",
       "Quantity (in non-GHG metric)"],
      ["Mitigation type", "Vintage"]]
T5 = [["Date of the authorization", "Name", "Country of incorporation",
       "Identification number (in the country of incorporation)", "Cooperative approach ID", "Conditions",
       "Change and revocation conditions", "Additional explanatory information"]]
TABLES = {"Table 2 Authorizations": T2, "Table 3 Actions": T3, "Table 4 Holdings": T4, "Table 5 Auth. entities": T5}

# Controlled vocabularies (common nomenclature).
METRICS = {"GHG", "non-GHG"}
PURPOSES = {"NDC", "OIMP", "IMP", "OP", "NDC and OIMP", "NDC and IMP", "NDC and OP"}
FT_DEFINITIONS = {"Authorization", "Issuance", "Use or cancellation"}
ACTION_TYPES = {"Acquisition", "Transfer", "Use", "Cancellation", "First transfer"}
SUBTYPES_BY_TYPE = {
    "First transfer": {"First transfer to another Party", "Authorization", "Issuance", "Use or cancellation",
                       "Mandatory cancellation to deliver OMGE", "Voluntary cancellation to deliver OMGE",
                       "Other cancellations", "Not yet defined"},
    "Transfer": {"Mandatory transfer to the Adaptation Fund (A6.4 ERs)",
                 "Voluntary transfer to the Adaptation Fund (A6.4 ERs)", "Not yet defined"},
    "Cancellation": {"Mandatory cancellation to deliver OMGE", "Voluntary cancellation to deliver OMGE",
                     "Other cancellations", "Not yet defined"},
    "Acquisition": {"Not yet defined"}, "Use": {"Not yet defined"}}
MITIGATION_TYPES = {"Emission reductions", "Removals", "Emission reductions and removals"}
SECTORS = {"Agriculture", "Building and construction", "Cross-sectoral mechanisms", "Energy generation",
           "Forestry and land use", "Industrial processes", "Transportation", "Urban development",
           "Waste management"}
ACTIVITY_TYPES = {"Afforestation", "Agriculture", "Biogas", "Biomass Energy", "Cement", "C02 usage",
                  "Coal bed/mine methane", "Energy distribution", "Energy Efficiency households",
                  "Energy Efficiency Industry", "Energy Efficiency own generation", "Energy Efficiency service",
                  "Energy Efficiency supply side", "Fossil fuel switch", "Fugitive", "Geothermal", "Hydro",
                  "Landfill gas", "Methane avoidance", "N2O", "PFCs and SF6", "Reforestation", "Solar", "Tidal",
                  "Transport", "Waste", "Wind"}
UNDERLYING_REGISTRIES = {"VCS", "GS", "CAR", "ACR", "ART", "GCC", "Cercarbono", "Isometric", "ISFL", "FCPF",
                         "T-VER", "JCM", "NA"}

PARTY = re.compile(r"^[A-Z]{3}$")
CA_ID = re.compile(r"^CA\d{4}$")
AUTH_ID = re.compile(r"^[A-Za-z0-9 \-/.]+$")
REGISTRY_ID = re.compile(r"^[A-Z]{3}\d{2}$")
VERSION = re.compile(r"^[1-9]\d*\.\d+$")
TIMEFRAME = re.compile(r"^\d{4} - \d{4}$")
# 6/CMA.4 annex I para 5: cooperative approach, Party ITMO registry, first transferring Party, sequence, vintage.
ITMO_ID = re.compile(r"^(CA\d{4})-([A-Z]{3}\d{2})-([A-Z]{3})-(\d+)-(\d{4})$")
UNIT_ID = re.compile(r"^(.+?)(\d+)$")
FILE_NAME = re.compile(r"^([A-Z]{3})_(\d{4})_(\d+)_(\d+)\.xlsx$")
DATE_FORMAT = "dd/mm/yyyy"


@dataclass
class Parsed:
    """What the oracle read: Table 1 as a dict, tables 2-5 as lists of {label: value}."""

    submission: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    return "" if value is None else re.sub(r"\s+", " ", str(value)).strip()


def _find_heading(ws: Any, heading: str) -> bool:
    for row in ws.iter_rows(min_row=1, max_row=6):
        for cell in row:
            if _text(cell.value) == heading:
                return True
    return False


def _read_table(ws: Any, name: str, groups: list[list[str]], out: Parsed) -> None:
    labels = [label for g in groups for label in g]
    header_row = HEADER_ROW[name]
    header = [_text(c.value) for c in next(ws.iter_rows(min_row=header_row, max_row=header_row))]
    if labels[0] not in header or labels[-1] not in header:
        out.problems.append(f"{name}: header row {header_row} lacks its first or last field label")
        return
    start, end = header.index(labels[0]), len(header) - 1 - header[::-1].index(labels[-1])
    if start < 1:
        out.problems.append(f"{name}: the table starts in column A (the template keeps a gutter column)")
    span = header[start:end + 1]
    expected: list[str] = []
    for i, g in enumerate(groups):
        expected += g + ([""] if i < len(groups) - 1 else [])
    if span != expected:
        out.problems.append(f"{name}: fields between the first and last label are {span}, expected {expected}")
        return
    spacers = [start + i for i, label in enumerate(expected) if label == ""]
    rows: list[dict[str, Any]] = []
    for cells in ws.iter_rows(min_row=header_row + 1):
        values = [c.value for c in cells]
        if all(v in (None, "") for v in values):
            continue
        values += [None] * (end + 1 - len(values))
        for s in spacers:
            if values[s] not in (None, ""):
                out.problems.append(f"{name} row {cells[0].row}: a value in a spacer column")
        if any(v not in (None, "") for v in values[end + 1:]) or any(v not in (None, "") for v in values[:start]):
            out.problems.append(f"{name} row {cells[0].row}: values outside the table's columns")
        row = {label: values[start + i] for i, label in enumerate(expected) if label}
        row["_formats"] = {label: cells[start + i].number_format for i, label in enumerate(expected)
                           if label and start + i < len(cells)}
        row["_row"] = cells[0].row
        rows.append(row)
    out.tables[name] = rows


def parse(wb: Any) -> Parsed:
    out = Parsed()
    names = list(wb.sheetnames)
    if names[:len(SHEETS)] != SHEETS:
        out.problems.append(f"sheets {names[:len(SHEETS)]} are not, in order, {SHEETS}")
        return out
    for name in SHEETS[2:]:
        if not _find_heading(wb[name], HEADINGS[name]):
            out.problems.append(f"{name}: heading cell {HEADINGS[name]!r} not found")
    ws = wb["Table 1 Submission"]
    labels = {_text(ws.cell(row=r, column=2).value): r for r in range(1, 40)}
    rows = [labels.get(label) for label in T1]
    if None in rows:
        missing = [lb for lb, r in zip(T1, rows, strict=True) if r is None]
        out.problems.append(f"Table 1: labels missing in column B: {missing}")
        return out
    if rows != list(range(rows[0], rows[0] + len(T1))):  # type: ignore[operator]
        out.problems.append("Table 1: labels are not consecutive rows in order")
    for label, r in zip(T1, rows, strict=True):
        cell = ws.cell(row=r, column=3)  # type: ignore[arg-type]
        out.submission[label] = cell.value
        out.submission.setdefault("_formats", {})[label] = cell.number_format
    for name, groups in TABLES.items():
        _read_table(wb[name], name, groups, out)
    return out


# --- value patterns ------------------------------------------------------------------------------------------
def _date_cell(value: Any, fmt: str) -> bool:
    return isinstance(value, datetime) and fmt == DATE_FORMAT


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _year(value: Any) -> bool:
    return isinstance(value, int) and 1990 <= value <= 2100


def _listed(value: Any, vocabulary: set[str]) -> bool:
    parts = [p.strip() for p in _text(value).split(",")]
    return bool(parts) and all(p in vocabulary for p in parts)


def _parties(value: Any) -> bool:
    return all(PARTY.match(p.strip()) for p in _text(value).split(","))


def check_values(p: Parsed) -> None:
    s, f = p.submission, p.submission.get("_formats", {})
    pr = p.problems
    if not PARTY.match(_text(s.get("Party"))):
        pr.append("Table 1: Party is not ISO alpha-3")
    if not VERSION.match(_text(s.get("Version"))):
        pr.append(f"Table 1: Version {s.get('Version')!r} is not X.Y")
    if not _year(s.get("Reported year")):
        pr.append("Table 1: Reported year is not a year")
    if not _date_cell(s.get("Date of submission"), f.get("Date of submission", "")):
        pr.append("Table 1: Date of submission is not a dd/mm/yyyy date cell")
    for label in ("Review status of the initial report", "Result of the consistency check of this AEF submission",
                  "Reference to the Article 6 technical expert review report of the initial report"):
        if _text(s.get(label)) != CARP_INFO:
            pr.append(f"Table 1: {label!r} does not keep the CARP placeholder")
    first, last = s.get("First year of the NDC implementation period"), s.get(
        "Last year of the NDC implementation period")
    if not (_year(first) and _year(last) and first <= last):
        pr.append("Table 1: the NDC implementation period is not two ordered years")
    for r in p.tables.get("Table 2 Authorizations", []):
        at = f"Table 2 row {r['_row']}"
        if not AUTH_ID.match(_text(r["Authorization ID"])):
            pr.append(f"{at}: Authorization ID {r['Authorization ID']!r}")
        if not _date_cell(r["Date of authorization"], r["_formats"]["Date of authorization"]):
            pr.append(f"{at}: Date of authorization is not a dd/mm/yyyy date cell")
        if not CA_ID.match(_text(r["Cooperative approach ID"])):
            pr.append(f"{at}: Cooperative approach ID {r['Cooperative approach ID']!r}")
        if not _whole(r["Version of the authorization"]):
            pr.append(f"{at}: Version of the authorization is not a positive integer")
        if r["Authorized quantity"] not in (None, "") and not _whole(r["Authorized quantity"]):
            pr.append(f"{at}: Authorized quantity is not whole tonnes")
        if r["Metric"] not in METRICS:
            pr.append(f"{at}: Metric {r['Metric']!r}")
        if r["Metric"] == "GHG" and r["Applicable non-GHG metric"] != "NA":
            pr.append(f"{at}: Applicable non-GHG metric must be NA for GHG")
        if not _listed(r["Sector(s)"], SECTORS):
            pr.append(f"{at}: Sector(s) {r['Sector(s)']!r} not in the nomenclature")
        if not _listed(r["Activity type(s)"], ACTIVITY_TYPES):
            pr.append(f"{at}: Activity type(s) {r['Activity type(s)']!r} not in the nomenclature")
        purpose = r["Purposes for authorization"]
        if purpose not in PURPOSES:
            pr.append(f"{at}: Purposes for authorization {purpose!r}")
        if r["Authorized Party(ies) ID"] not in (None, "") and not _parties(r["Authorized Party(ies) ID"]):
            pr.append(f"{at}: Authorized Party(ies) ID is not alpha-3, comma-separated")
        oimp = "OIMP" in _text(purpose) or purpose in ("IMP", "OP", "NDC and IMP", "NDC and OP")
        ftd = r["First transfer definition for OIMP"]
        if oimp and ftd not in FT_DEFINITIONS:
            pr.append(f"{at}: First transfer definition for OIMP {ftd!r}")
        if not oimp and ftd not in ("NA", None, ""):
            pr.append(f"{at}: a First transfer definition for an authorization not for OIMP")
        if r["Authorized timeframe"] not in (None, "") and not TIMEFRAME.match(_text(r["Authorized timeframe"])):
            pr.append(f"{at}: Authorized timeframe {r['Authorized timeframe']!r} is not dddd - dddd")
        if _text(r["Authorization documentation"]) != CARP_LINK:
            pr.append(f"{at}: Authorization documentation does not keep the CARP link placeholder")
    for name in ("Table 3 Actions", "Table 4 Holdings"):
        for r in p.tables.get(name, []):
            _check_block(name, r, pr)
    for r in p.tables.get("Table 3 Actions", []):
        _check_action(r, pr)
    for r in p.tables.get("Table 5 Auth. entities", []):
        at = f"Table 5 row {r['_row']}"
        if not _date_cell(r["Date of the authorization"], r["_formats"]["Date of the authorization"]):
            pr.append(f"{at}: Date of the authorization is not a dd/mm/yyyy date cell")
        if not _text(r["Name"]):
            pr.append(f"{at}: Name is empty")
        if not PARTY.match(_text(r["Country of incorporation"])):
            pr.append(f"{at}: Country of incorporation {r['Country of incorporation']!r}")
        if not _text(r["Identification number (in the country of incorporation)"]):
            pr.append(f"{at}: Identification number is empty")
        if not CA_ID.match(_text(r["Cooperative approach ID"])):
            pr.append(f"{at}: Cooperative approach ID {r['Cooperative approach ID']!r}")


def _check_block(name: str, r: dict[str, Any], pr: list[str]) -> None:
    """The identification of a block (tables 3 and 4): ids, ITMOs one for one with underlying units."""
    at = f"{name} row {r['_row']}"
    for label in ("Cooperative approach ID",):
        if not CA_ID.match(_text(r[label])):
            pr.append(f"{at}: {label} {r[label]!r}")
    if not AUTH_ID.match(_text(r["Authorization ID"])):
        pr.append(f"{at}: Authorization ID {r['Authorization ID']!r}")
    if not PARTY.match(_text(r["First transferring participating Party ID"])):
        pr.append(f"{at}: First transferring participating Party ID")
    if not REGISTRY_ID.match(_text(r["Party ITMO registry ID"])):
        pr.append(f"{at}: Party ITMO registry ID {r['Party ITMO registry ID']!r}")
    if r["Metric"] not in METRICS:
        pr.append(f"{at}: Metric {r['Metric']!r}")
    if r["Metric"] == "GHG" and (r["Applicable non-GHG metric"] != "NA" or r["Quantity (in non-GHG metric)"] != "NA"):
        pr.append(f"{at}: non-GHG fields must be NA for GHG")
    qty = r["Quantity (t CO2 eq)"]
    if not _whole(qty):
        pr.append(f"{at}: Quantity (t CO2 eq) {qty!r} is not whole tonnes")
        return
    if r["Mitigation type"] not in MITIGATION_TYPES:
        pr.append(f"{at}: Mitigation type {r['Mitigation type']!r}")
    if not _year(r["Vintage"]):
        pr.append(f"{at}: Vintage {r['Vintage']!r}")
    first, last = ITMO_ID.match(_text(r["First ID"])), ITMO_ID.match(_text(r["Last ID"]))
    if first is None or last is None:
        pr.append(f"{at}: First/Last ID {r['First ID']!r}..{r['Last ID']!r} are not 6/CMA.4 ITMO identifiers")
        return
    expect = (_text(r["Cooperative approach ID"]), _text(r["Party ITMO registry ID"]),
              _text(r["First transferring participating Party ID"]), str(r["Vintage"]))
    for m in (first, last):
        if (m.group(1), m.group(2), m.group(3), m.group(5)) != expect:
            pr.append(f"{at}: ITMO id {m.group(0)} disagrees with the row's approach/registry/Party/vintage")
    n_itmo = int(last.group(4)) - int(first.group(4)) + 1
    if n_itmo != qty:
        pr.append(f"{at}: ITMO block of {n_itmo} ITMOs for {qty} t")
    reg = _text(r["Underlying unit registry ID"])
    if reg not in UNDERLYING_REGISTRIES:
        pr.append(f"{at}: Underlying unit registry ID {reg!r}")
    if reg != "NA":
        u1, u2 = UNIT_ID.match(_text(r["First unit ID"])), UNIT_ID.match(_text(r["Last unit ID"]))
        if u1 is None or u2 is None or u1.group(1) != u2.group(1):
            pr.append(f"{at}: First/Last unit ID {r['First unit ID']!r}..{r['Last unit ID']!r} are not one block")
        elif int(u2.group(2)) - int(u1.group(2)) + 1 != n_itmo:
            pr.append(f"{at}: {n_itmo} ITMOs but {int(u2.group(2)) - int(u1.group(2)) + 1} underlying units")


def _check_action(r: dict[str, Any], pr: list[str]) -> None:
    at = f"Table 3 row {r['_row']}"
    kind, sub = r["Action type"], r["Action subtype"]
    if not _date_cell(r["Action date"], r["_formats"]["Action date"]):
        pr.append(f"{at}: Action date is not a dd/mm/yyyy date cell")
    if kind not in ACTION_TYPES:
        pr.append(f"{at}: Action type {kind!r}")
        return
    if sub not in SUBTYPES_BY_TYPE[kind]:
        pr.append(f"{at}: Action subtype {sub!r} is not one of {kind!r}")
    na = lambda label: r[label] == "NA"  # noqa: E731
    if kind == "Acquisition":
        if not PARTY.match(_text(r["Transferring participating Party ID"])):
            pr.append(f"{at}: an Acquisition names its transferring Party")
    elif not na("Transferring participating Party ID"):
        pr.append(f"{at}: Transferring participating Party ID applies to Acquisition only (NA)")
    to_party = kind == "Transfer" or (kind == "First transfer" and sub == "First transfer to another Party")
    if to_party and not PARTY.match(_text(r["Acquiring participating Party ID"])):
        pr.append(f"{at}: a transfer to another Party names the acquiring Party")
    if not to_party and not na("Acquiring participating Party ID"):
        pr.append(f"{at}: Acquiring participating Party ID must be NA for {kind}/{sub}")
    use_like = kind in ("Use", "Cancellation") or (kind == "First transfer" and sub == "Use or cancellation")
    if use_like:
        if not PARTY.match(_text(r["Using/cancelling participating Party ID"])):
            pr.append(f"{at}: Using/cancelling participating Party ID")
    elif any(not na(label) for label in ("Purpose for which the ITMO has been used towards or cancelled for OIMP",
                                         "Using/cancelling participating Party ID",
                                         "Using/cancelling authorized entity ID")):
        pr.append(f"{at}: use/cancellation fields must be NA for {kind}/{sub}")
    year_label = "Calendar year for which the ITMOs are used towards the Party's NDC"
    if kind == "Use":
        if not _year(r[year_label]):
            pr.append(f"{at}: a Use names the NDC calendar year")
    elif not na(year_label):
        pr.append(f"{at}: {year_label} applies to Use only (NA)")
    if _text(r["Result of the consistency checks"]) != CARP_INFO:
        pr.append(f"{at}: Result of the consistency checks does not keep the CARP placeholder")


# --- consistency ----------------------------------------------------------------------------------------------
def _seq(itmo_id: Any) -> tuple[str, int]:
    m = ITMO_ID.match(_text(itmo_id))
    assert m is not None
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}-{m.group(5)}", int(m.group(4))


def check_consistency(p: Parsed, ca_tonnes_by_vintage: dict[int, int] | None) -> None:
    """Once-only actions, rows in date order, no ITMO first-transferred twice, totals against the CA."""
    pr = p.problems
    actions = p.tables.get("Table 3 Actions", [])
    if any(pr):
        return
    seen: set[tuple[Any, ...]] = set()
    for r in actions:
        key = (r["Action date"], r["Action type"], r["Action subtype"], r["Party ITMO registry ID"], r["First ID"],
               r["Last ID"])
        if key in seen:
            pr.append(f"Table 3 row {r['_row']}: the same action is reported twice {key}")
        seen.add(key)
    dates = [r["Action date"] for r in actions]
    if dates != sorted(dates):
        pr.append("Table 3: rows are not ordered by action date")
    # An ITMO is first-transferred once; and a block acted on twice on the same day by the same action type
    # (e.g. a first transfer also reported as a plain transfer) is a double report.
    by_type: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for r in actions:
        block, lo = _seq(r["First ID"])
        _, hi = _seq(r["Last ID"])
        by_type[r["Action type"]][block].append((lo, hi))
    for block, spans in by_type["First transfer"].items():
        spans.sort()
        for (_a, b), (c, _d) in zip(spans, spans[1:], strict=False):
            if c <= b:
                pr.append(f"ITMOs {block} {c}..{b} are first-transferred twice")
    ft_day = {(r["Action date"], r["First ID"], r["Last ID"]) for r in actions if r["Action type"] == "First transfer"
              and r["Action subtype"] == "First transfer to another Party"}
    for r in actions:
        if r["Action type"] == "Transfer" and (r["Action date"], r["First ID"], r["Last ID"]) in ft_day:
            pr.append(f"Table 3 row {r['_row']}: a first transfer to another Party also reported as a Transfer")
    if ca_tonnes_by_vintage is not None:
        ft: dict[int, int] = defaultdict(int)
        for r in actions:
            if r["Action type"] == "First transfer":
                ft[int(r["Vintage"])] += int(r["Quantity (t CO2 eq)"])
        if dict(ft) != {v: q for v, q in ca_tonnes_by_vintage.items() if q}:
            pr.append(f"first transfers per vintage {dict(ft)} != corresponding adjustments {ca_tonnes_by_vintage}")


def check_file_name(file_name: str, p: Parsed) -> None:
    m = FILE_NAME.match(file_name)
    if m is None:
        p.problems.append(f"file name {file_name!r} is not PARTY_YEAR_MAJOR_MINOR.xlsx")
        return
    version = f"{m.group(3)}.{m.group(4)}"
    if (m.group(1), int(m.group(2)), version) != (p.submission.get("Party"), p.submission.get("Reported year"),
                                                   p.submission.get("Version")):
        p.problems.append(f"file name {file_name!r} disagrees with Table 1")


def check_workbook(wb: Any, file_name: str | None = None,
                   ca_tonnes_by_vintage: dict[int, int] | None = None) -> tuple[Parsed, list[str]]:
    """Every rule above; returns what was read and the problems found (empty = ingestible)."""
    p = parse(wb)
    if not p.problems:
        check_values(p)
        check_consistency(p, ca_tonnes_by_vintage)
        if file_name is not None:
            check_file_name(file_name, p)
    return p, p.problems


# --- two Parties' reports side by side ----------------------------------------------------------------------------
def check_cross_border(origin: Parsed, destination: Parsed) -> list[str]:
    """The rules that span two Parties' workbooks after ITMOs moved from ``origin`` to ``destination``:
    each action (date, type, subtype, registry, First ID, Last ID) is reported once across both reports;
    every ITMO the destination acquired from the origin was first transferred or transferred to it by
    the origin (same ITMO ids, quantity, vintage, approach and authorization; the origin names the
    destination as acquiring Party, the destination names the origin as transferring Party, no earlier
    than the origin's action); what the destination uses or cancels of them lies inside what it acquired;
    and the origin reports no use or cancellation of ITMOs the destination acquired after it (their use
    abroad is the destination's action)."""
    pr: list[str] = []
    o_rows = origin.tables.get("Table 3 Actions", [])
    d_rows = destination.tables.get("Table 3 Actions", [])
    o_party, d_party = origin.submission.get("Party"), destination.submission.get("Party")
    seen: dict[tuple[Any, ...], str] = {}
    for who, rows in (("origin", o_rows), ("destination", d_rows)):
        for r in rows:
            key = (r["Action date"], r["Action type"], r["Action subtype"], r["Party ITMO registry ID"],
                   r["First ID"], r["Last ID"])
            if key in seen and seen[key] != who:
                pr.append(f"{who} Table 3 row {r['_row']}: the action is also in the {seen[key]}'s report {key}")
            seen.setdefault(key, who)
    sent = [r for r in o_rows if r["Acquiring participating Party ID"] == d_party
            and r["Action type"] in ("First transfer", "Transfer")]
    ids = ("First ID", "Last ID", "Quantity (t CO2 eq)", "Vintage", "Cooperative approach ID", "Authorization ID",
           "First transferring participating Party ID", "Party ITMO registry ID", "First unit ID", "Last unit ID")
    acquired: list[tuple[str, int, int]] = []
    for r in d_rows:
        if r["Action type"] != "Acquisition" or r["First transferring participating Party ID"] != o_party:
            continue
        at = f"destination Table 3 row {r['_row']}"
        if r["Transferring participating Party ID"] != o_party:
            pr.append(f"{at}: an Acquisition from {o_party} names {r['Transferring participating Party ID']!r}")
        match = [s for s in sent if all(s[k] == r[k] for k in ids)]
        if not match:
            pr.append(f"{at}: acquired ITMOs {r['First ID']}..{r['Last ID']} were not transferred by {o_party}")
        elif not any(s["Action date"] <= r["Action date"] for s in match):
            pr.append(f"{at}: acquired before the origin transferred them")
        block, lo = _seq(r["First ID"])
        acquired.append((block, lo, _seq(r["Last ID"])[1]))
    for r in d_rows:
        if r["Action type"] in ("Use", "Cancellation") and r["First transferring participating Party ID"] == o_party:
            block, lo = _seq(r["First ID"])
            hi = _seq(r["Last ID"])[1]
            if not any(b == block and a <= lo and hi <= z for b, a, z in acquired):
                pr.append(f"destination Table 3 row {r['_row']}: uses ITMOs {block} {lo}..{hi} it did not acquire")
    for r in o_rows:
        if r["Action type"] in ("Use", "Cancellation"):
            block, lo = _seq(r["First ID"])
            hi = _seq(r["Last ID"])[1]
            if any(b == block and lo <= z and a <= hi for b, a, z in acquired):
                pr.append(f"origin Table 3 row {r['_row']}: reports a use of ITMOs {block} {lo}..{hi} "
                          f"that {d_party} acquired")
    return pr
