"""The CMA.6 AEF template (the revised Agreed Electronic Format, "second iteration", reporting year
2026 on) and a streaming writer for it (XlsxWriter, constant memory).

The UNFCCC's CARP finds each table by its sheet name, its heading cell and its first and last field
labels, counts the fields between them and applies a pattern to every value. So the layout here is
the template's: sheets in order, a heading cell in B2, one header row (row 7, 8, 7, 10 for tables 2
to 5), data below it, one unlabelled spacer column between field groups of tables 2 to 4, a gutter
column A, Table 1 laid out downward (labels in B4:B12, values in C), CARP placeholders kept, dates as
date cells shown dd/mm/yyyy, quantities as whole tonnes. Registry-internal detail (our ids, serial
ranges, kg, journal seq) goes only to annex sheets after the tables.

A report (``services.aef.build``) is JSON-ready: the same tables, keyed by the same field labels,
dates as ``dd/mm/yyyy`` strings; this writer turns those back into date cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter

T1_SHEET, T2_SHEET, T3_SHEET, T4_SHEET, T5_SHEET = (
    "Table 1 Submission", "Table 2 Authorizations", "Table 3 Actions", "Table 4 Holdings", "Table 5 Auth. entities")
SHEETS = ["Index", "Summary information", T1_SHEET, T2_SHEET, T3_SHEET, T4_SHEET, T5_SHEET]
HEADINGS = {T1_SHEET: "Table 1: Submission", T2_SHEET: "Table 2: Authorizations", T3_SHEET: "Table 3: Actions",
            T4_SHEET: "Table 4: Holdings", T5_SHEET: "Table 5: Authorized entities"}
HEADER_ROW = {T2_SHEET: 7, T3_SHEET: 8, T4_SHEET: 7, T5_SHEET: 10}  # 1-based, as a reader counts
T1_FIRST_ROW = 4
CARP_INFO = "{Information in this field is populated by the CARP}"
CARP_LINK = "{Link to be produced by the CARP}"
NA = "NA"
DATE_FORMAT = "dd/mm/yyyy"

T1_FIELDS = ["Party", "Version", "Reported year", "Date of submission", "Review status of the initial report",
             "Result of the consistency check of this AEF submission", "First year of the NDC implementation period",
             "Last year of the NDC implementation period",
             "Reference to the Article 6 technical expert review report of the initial report"]
# Field groups: the template separates them with one unlabelled spacer column.
GROUPS: dict[str, list[list[str]]] = {
    T2_SHEET: [
        ["Authorization ID", "Date of authorization", "Cooperative approach ID", "Version of the authorization"],
        ["Authorized quantity", "Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Sector(s)",
         "Activity type(s)", "Purposes for authorization", "Authorized Party(ies) ID", "Authorized entity(ies) ID",
         "OIMP authorized by the Party", "Authorized timeframe", "Authorization terms and conditions",
         "Authorization documentation", "First transfer definition for OIMP", "Additional explanatory information"]],
    T3_SHEET: [
        ["Action date", "Action type", "Action subtype", "Cooperative approach ID", "Authorization ID",
         "First transferring participating Party ID", "Party ITMO registry ID", "First ID", "Last ID"],
        ["Underlying unit registry ID", "First unit ID", "Last unit ID"],
        ["Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Quantity (t CO2 eq)",
         "Quantity (in non-GHG metric)"],
        ["Mitigation type", "Vintage"],
        ["Transferring participating Party ID", "Acquiring participating Party ID"],
        ["Purpose for which the ITMO has been used towards or cancelled for OIMP",
         "Using/cancelling participating Party ID", "Using/cancelling authorized entity ID",
         "Calendar year for which the ITMOs are used towards the Party's NDC"],
        ["Result of the consistency checks", "Additional explanatory information"]],
    T4_SHEET: [
        ["Cooperative approach ID", "Authorization ID", "First transferring participating Party ID",
         "Party ITMO registry ID", "First ID", "Last ID"],
        ["Underlying unit registry ID", "First unit ID", "Last unit ID"],
        ["Metric", "Applicable GWP value(s)", "Applicable non-GHG metric", "Quantity (t CO2 eq)",
         "Quantity (in non-GHG metric)"],
        ["Mitigation type", "Vintage"]],
    T5_SHEET: [
        ["Date of the authorization", "Name", "Country of incorporation",
         "Identification number (in the country of incorporation)", "Cooperative approach ID", "Conditions",
         "Change and revocation conditions", "Additional explanatory information"]],
}
FIELDS = {sheet: [f for g in groups for f in g] for sheet, groups in GROUPS.items()}
DATE_FIELDS = {"Date of submission", "Date of authorization", "Action date", "Date of the authorization"}
TABLE_KEYS = {T2_SHEET: "authorizations", T3_SHEET: "actions", T4_SHEET: "holdings", T5_SHEET: "authorized_entities"}

# Annex sheets (after the tables): registry-internal detail for an auditor, one row per table row.
ANNEXES = {"annex_actions": "Annex A Actions (registry)", "annex_holdings": "Annex B Holdings (registry)",
           "annex_submission": "Annex C Submission (registry)"}

INDEX_LINES = [
    "Agreed electronic format (AEF) for Article 6, paragraph 2, of the Paris Agreement (CMA.6 revision)",
    "Table 1 Submission: information on the submission",
    "Table 2 Authorizations: authorizations of cooperative approaches and of mitigation outcomes",
    "Table 3 Actions: actions (first transfers, transfers, acquisitions, uses, cancellations) in the reported year",
    "Table 4 Holdings: ITMOs held in the Party ITMO registry at the end of the reported year",
    "Table 5 Auth. entities: entities authorized to participate in the cooperative approaches",
    "Annex sheets after the tables carry registry-internal detail (not part of the AEF tables)",
]


def file_name(party: str, year: int, version: str) -> str:
    """``{PARTY}_{YEAR}_{MAJOR}_{MINOR}.xlsx``."""
    major, minor = version.split(".")
    return f"{party}_{year}_{major}_{minor}.xlsx"


def date_text(iso: str) -> str:
    """``2026-06-15...`` -> ``15/06/2026`` (the template's date display, also used in the JSON)."""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"


def _as_date(text: str) -> datetime:
    return datetime(int(text[6:10]), int(text[3:5]), int(text[0:2]))


class _Sheet:
    """Rows of one table written in order (constant-memory mode writes rows strictly downward)."""

    def __init__(self, wb: Any, title: str, fmts: dict[str, Any]) -> None:
        self.ws = wb.add_worksheet(title)
        self.fmts = fmts

    def cell(self, row1: int, col0: int, value: Any, label: str = "") -> None:
        r = row1 - 1
        if value is None or value == "":
            return
        if label in DATE_FIELDS and isinstance(value, str):
            self.ws.write_datetime(r, col0, _as_date(value), self.fmts["date"])
        elif isinstance(value, date):
            self.ws.write_datetime(r, col0, value, self.fmts["date"])
        elif isinstance(value, bool):
            self.ws.write_string(r, col0, "Yes" if value else "No")
        elif isinstance(value, int):
            self.ws.write_number(r, col0, value)
        else:
            self.ws.write_string(r, col0, str(value))


def _columns(groups: list[list[str]]) -> list[tuple[int, str]]:
    """(0-based column, label) of every field: column B onward, one spacer column between groups."""
    out: list[tuple[int, str]] = []
    col = 1
    for i, g in enumerate(groups):
        for label in g:
            out.append((col, label))
            col += 1
        if i < len(groups) - 1:
            col += 1
    return out


def _table(wb: Any, fmts: dict[str, Any], sheet: str, rows: Iterable[dict[str, Any]], meta: list[str]) -> None:
    s = _Sheet(wb, sheet, fmts)
    s.ws.write_string(1, 1, HEADINGS[sheet], fmts["heading"])
    for i, line in enumerate(meta):
        s.ws.write_string(2 + i, 1, line)
    cols = _columns(GROUPS[sheet])
    header = HEADER_ROW[sheet]
    for col, label in cols:
        s.ws.write_string(header - 1, col, label, fmts["header"])
    s.ws.set_column(1, cols[-1][0], 18)
    for n, row in enumerate(rows):
        for col, label in cols:
            s.cell(header + 1 + n, col, row.get(label), label)


def _annex(wb: Any, fmts: dict[str, Any], title: str, rows: list[dict[str, Any]]) -> None:
    s = _Sheet(wb, title, fmts)
    if not rows:
        s.ws.write_string(0, 0, "(no rows)")
        return
    keys = list(rows[0])
    for c, k in enumerate(keys):
        s.ws.write_string(0, c, k, fmts["header"])
    for n, row in enumerate(rows):
        for c, k in enumerate(keys):
            v = row.get(k)
            s.cell(n + 2, c, v if not isinstance(v, dict | list) else str(v))


def write_workbook(rep: dict[str, Any], out: Path | IO[bytes]) -> None:
    """The report as the CMA.6 template's workbook, streamed (constant memory)."""
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False,
                                   "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    fmts = {"date": wb.add_format({"num_format": DATE_FORMAT}), "heading": wb.add_format({"bold": True}),
            "header": wb.add_format({"bold": True, "text_wrap": True, "border": 1})}
    tables = rep["tables"]
    index = _Sheet(wb, "Index", fmts)
    for i, line in enumerate(INDEX_LINES):
        index.cell(i + 2, 1, line)
    summary = _Sheet(wb, "Summary information", fmts)
    for i, (k, v) in enumerate(rep.get("summary", {}).items()):
        summary.cell(i + 2, 1, k)
        summary.cell(i + 2, 2, v if not isinstance(v, dict | list) else str(v))
    t1 = _Sheet(wb, T1_SHEET, fmts)
    t1.ws.write_string(1, 1, HEADINGS[T1_SHEET], fmts["heading"])
    for i, label in enumerate(T1_FIELDS):
        t1.cell(T1_FIRST_ROW + i, 1, label)
        t1.cell(T1_FIRST_ROW + i, 2, tables[T1_SHEET][label], label)
    meta = [f"Party: {tables[T1_SHEET]['Party']}   Reported year: {tables[T1_SHEET]['Reported year']}"]
    for sheet in (T2_SHEET, T3_SHEET, T4_SHEET, T5_SHEET):
        _table(wb, fmts, sheet, tables[sheet], meta)
    for key, title in ANNEXES.items():
        value = rep["annex"][key.removeprefix("annex_")]
        _annex(wb, fmts, title, value if isinstance(value, list) else [value])
    wb.close()
