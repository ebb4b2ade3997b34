"""Rules promised but not kept: every code a ``domain/`` rule table lists has a scenario that raises it.

The meta-test reads the rule tables (``| rule | code |``) in the docstrings of ``domain/*.py`` and looks
through the test suite for an assertion on each code: a comparison (``error_code(resp) == 2001``), an
argument of a rejection helper (``rejected(api, resp, 5003, before)``) or a case of a parametrized rule
test (``({"quantity_kg": 0}, 2003)``). A listed code with none fails the test, naming the rule. The
scenarios below cover the codes that had none: 5003 (verified quantity), the standard's buffer share,
2001 (serials issued twice), and 1005 for a project filter naming no project.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from world import Api, error_code, issuance_body, journal_seq, project_body, rejected

from sovcarbon.config import thailand_profile
from sovcarbon.domain import issue
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Project, ProjectStatus
from sovcarbon.store import tables as t

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ROOT / "src" / "sovcarbon" / "domain"
TESTS = ROOT / "tests"
REJECTION_HELPERS = re.compile(r"reject|error|raises|code", re.IGNORECASE)


def rule_table_codes() -> dict[int, list[str]]:
    """code -> the rules (module: rule text) that list it, from every rule table in domain/*.py."""
    codes: dict[int, list[str]] = {}
    for path in sorted(DOMAIN.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        in_table = False
        for line in doc.splitlines():
            row = line.strip()
            if re.match(r"^\|\s*rule\s*\|\s*code\s*\|", row):
                in_table = True
                continue
            if in_table and not row.startswith("|"):
                in_table = False
            if in_table and not set(row) <= set("|-: "):
                cells = [c.strip() for c in row.strip("|").split("|")]
                for code in re.findall(r"\b([1-9]\d{3})\b", cells[-1]):
                    codes.setdefault(int(code), []).append(f"{path.name}: {cells[0]}")
    return codes


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def asserted_codes(tree: ast.AST) -> set[int]:
    """Integer literals a test asserts as an outcome: compared, passed to a rejection helper, or a case of a
    parametrized test. Quantities, years and other numbers elsewhere do not count."""
    found: set[int] = set()

    def ints(node: ast.AST) -> set[int]:
        return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) is int}

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Constant | ast.Tuple | ast.Set | ast.List):
                    found |= ints(side)
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "parametrize" and len(node.args) >= 2:
                found |= ints(node.args[1])
            elif REJECTION_HELPERS.search(name):
                found |= {a.value for a in node.args if isinstance(a, ast.Constant) and type(a.value) is int}
                found |= {k.value.value for k in node.keywords
                          if isinstance(k.value, ast.Constant) and type(k.value.value) is int}
    return found


def suite_codes() -> dict[int, list[str]]:
    where: dict[int, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        for code in asserted_codes(ast.parse(path.read_text(encoding="utf-8"))):
            where.setdefault(code, []).append(str(path.relative_to(TESTS)))
    return where


def test_every_rule_table_code_has_a_scenario() -> None:
    listed = rule_table_codes()
    assert len(listed) >= 25, sorted(listed)  # the tables were found and parsed
    covered = suite_codes()
    missing = {code: rules for code, rules in listed.items() if code not in covered}
    assert not missing, "rule codes no test raises:\n" + "\n".join(
        f"  {code}: {'; '.join(rules)}" for code, rules in sorted(missing.items()))


def test_the_meta_test_tells_assertions_from_other_numbers() -> None:
    """The detector itself: it must not take a quantity or a year for a covered code."""
    source = '''
@pytest.mark.parametrize(("over", "code"), [({"quantity_kg": 1}, 2003)])
def test_a(world):
    body = {"quantity_kg": 5003, "vintage": 2001}
    rejected(world, resp, 4002, before)
    assert error_code(resp) == 3005
    setup(quantity_kg=6001)
'''
    assert asserted_codes(ast.parse(source)) == {1, 2003, 4002, 3005}


# --- 5003 EXCEEDS_VERIFIED -------------------------------------------------------------------------------

def test_issuance_above_the_verified_quantity_is_5003(world: Api) -> None:
    body = issuance_body(world.ids["project"], world.ids["foundation_acc"], vintage=2026,
                         monitoring_period={"start": "2026-01-01", "end": "2026-12-31"}, quantity_kg=10_000_000,
                         verification_ref="VVB-2026-17")
    before = journal_seq(world)
    rejected(world, world.post("/v1/issuances", "admin", {**body, "verified_kg": 9_999_999}), 5003, before)
    resp = world.post("/v1/issuances", "admin", {**body, "verified_kg": 9_999_999})
    assert resp.json()["error"]["details"] == {"quantity_kg": 10_000_000, "verified_kg": 9_999_999}
    rejected(world, world.post("/v1/issuances", "admin", {**body, "verified_kg": 0}), 2003, before)
    # Exactly the verified quantity (buffer included) is fine; it is recorded with the issuance.
    iss = world.ok("POST", "/v1/issuances", "admin", {**body, "verified_kg": 10_000_000})
    assert iss["verified_kg"] == 10_000_000
    assert world.ok("POST", f"/v1/issuances/{iss['id']}/approval", "approver")["status"] == "issued"


def test_approval_rechecks_the_verified_quantity() -> None:
    project = _project("T-VER-P-METH-13-01")
    with pytest.raises(RegistryError) as exc:
        issue.check_request(project, 2025, _d("2025-01-01"), _d("2025-12-31"), 5_000_000, 500_000, [],
                            verified_kg=4_999_000, standard=thailand_profile().standard("PREMIUM_T-VER"))
    assert exc.value.code == 5003


# --- the buffer share the standard requires ----------------------------------------------------------------

def test_buffer_below_the_standards_share_is_refused(world: Api) -> None:
    body = issuance_body(world.ids["project"], world.ids["foundation_acc"], vintage=2026,
                         monitoring_period={"start": "2026-01-01", "end": "2026-12-31"}, quantity_kg=20_000_000)
    before = journal_seq(world)
    resp = world.post("/v1/issuances", "admin", {**body, "buffer_kg": 1_000_000})  # forestry: 10 % = 2,000 t
    rejected(world, resp, 1003, before)
    assert resp.json()["error"]["details"]["required_buffer_kg"] == 2_000_000
    # Omitted, the buffer is the required share; a larger buffer (a project's own risk rating) is allowed.
    del body["buffer_kg"]
    iss = world.ok("POST", "/v1/issuances", "admin", body)
    assert iss["buffer_kg"] == 2_000_000
    done = world.ok("POST", f"/v1/issuances/{iss['id']}/approval", "approver")
    assert [b["quantity_kg"] for b in done["blocks"]] == [18_000_000, 2_000_000]
    larger = world.ok("POST", "/v1/issuances", "admin", {**body, "vintage": 2027, "buffer_kg": 3_000_000,
                                                         "monitoring_period": {"start": "2027-01-01",
                                                                               "end": "2027-12-31"}})
    assert larger["buffer_kg"] == 3_000_000


def test_methodology_without_a_buffer_share_needs_none(world: Api) -> None:
    project = world.ok("POST", "/v1/projects", "proponent", project_body(
        world.ids["foundation"], name="Solar rooftops", methodology="T-VER-P-METH-01-02"))
    world.ok("POST", f"/v1/projects/{project['id']}/validation", "vvb", {"report": "ok"})
    world.ok("POST", f"/v1/projects/{project['id']}/registration", "admin")
    body = issuance_body(project["id"], world.ids["foundation_acc"])
    del body["buffer_kg"]
    assert world.ok("POST", "/v1/issuances", "admin", body)["buffer_kg"] == 0


@pytest.mark.parametrize(("quantity_kg", "required_kg"), [(10_000_000, 1_000_000), (10_001_000, 1_001_000),
                                                          (1_000, 1_000), (19_000, 2_000)])
def test_required_buffer_rounds_up_to_whole_tonnes(quantity_kg: int, required_kg: int) -> None:
    standard = thailand_profile().standard("T-VER")
    assert standard.required_buffer_kg("T-VER-S-METH-13-02", quantity_kg) == required_kg
    assert standard.required_buffer_kg("T-VER-S-METH-04-01", quantity_kg) == 0
    assert thailand_profile().standard("VCS").required_buffer_kg("T-VER-S-METH-13-02", quantity_kg) == 0


# --- 2001 SERIAL_EXISTS ----------------------------------------------------------------------------------

def test_require_new_serials_is_2001() -> None:
    prefix = "TH-PTVER-00001-2025-001"
    for holds, carries in [(True, False), (False, True), (True, True)]:
        with pytest.raises(RegistryError) as exc:
            issue.require_new_serials(prefix, issuance_holds_prefix=holds, blocks_carry_prefix=carries)
        assert exc.value.code == 2001
    issue.require_new_serials(prefix, issuance_holds_prefix=False, blocks_carry_prefix=False)


def test_request_for_serials_an_imported_record_holds_is_2001(world: Api) -> None:
    """Issuance numbers only grow, so the registry never allocates a prefix twice by itself. A record imported
    from the previous registry can still carry serials this registry would allocate next (here: project 2's
    legacy record written with project 1's 2026 prefix). The request is 2001 with nothing written, not a
    unique-constraint 500."""
    second = world.ok("POST", "/v1/projects", "proponent", project_body(world.ids["foundation"], name="legacy"))
    taken = world.ids["prefix"].replace("-2025-", "-2026-")
    with world.reg.store.write() as uow:
        row = dict(uow.repo.one(t.issuances, world.ids["issuance"], "issuance"))
        row.update(id="iss_0000000000000000000000000001", project_id=second["id"], vintage=2026, number=1,
                   period_start="2026-01-01", period_end="2026-12-31", status="rejected", serial_prefix=taken)
        uow.repo.insert(t.issuances, **row)
        uow.append("issuance_imported", {"issuance_id": row["id"], "serial_prefix": taken})
    before = journal_seq(world)
    resp = world.post("/v1/issuances", "admin", issuance_body(
        world.ids["project"], world.ids["foundation_acc"], vintage=2026,
        monitoring_period={"start": "2026-01-01", "end": "2026-12-31"}))
    rejected(world, resp, 2001, before)
    assert resp.json()["error"]["details"]["serial_prefix"] == taken


# --- 1005 for a project filter naming no project ---------------------------------------------------------

MISSING_PROJECT = "prj_0000000000000000000000000000"


def test_transfer_filtered_by_an_unknown_project_is_1005(world: Api) -> None:
    before = journal_seq(world)
    rejected(world, world.post("/v1/transfers", "proponent", {
        "from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
        "quantity_kg": 1000, "project_id": MISSING_PROJECT}), 1005, before)


def test_retirement_filtered_by_an_unknown_project_is_1005(world: Api) -> None:
    before = journal_seq(world)
    rejected(world, world.post("/v1/retirements", "proponent", {
        "account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "project_id": MISSING_PROJECT,
        "beneficiary": {"name": "Co", "country": "TH"}, "purpose": "voluntary", "claim_year": 2025}), 1005, before)


def test_cancellation_filtered_by_an_unknown_project_is_1005(world: Api) -> None:
    before = journal_seq(world)
    rejected(world, world.post("/v1/cancellations", "admin", {
        "account_id": world.ids["foundation_acc"], "quantity_kg": 1000, "project_id": MISSING_PROJECT,
        "reason": "x"}), 1005, before)


def test_supply_of_an_unknown_project_is_1005(world: Api) -> None:
    assert error_code(world.get("/v1/supply", project_id=MISSING_PROJECT)) == 1005
    known = world.ok("GET", f"/v1/supply?project_id={world.ids['project']}", None)
    assert known["issued_kg"] == 10_000_000


# --- helpers ---------------------------------------------------------------------------------------------

def _d(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def _project(methodology: str) -> Project:
    return Project(id="prj_x", number=1, name="p", standard="PREMIUM_T-VER", methodology=methodology,
                   host_country="TH", proponent_id="par_x", crediting_start="2021-01-01", crediting_end="2030-12-31",
                   status=ProjectStatus.REGISTERED)
