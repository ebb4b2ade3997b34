"""AEF data recorded in the ledger, validated at entry: the mitigation type per project (overridable per
issuance) that tables 3 and 4 report instead of the LoA's, and the NDC implementation period (Table 1) set by
a registry admin through the API or by the operator through the CLI, journaled."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from a6_world import export_body, grant, journal, serial
from typer.testing import CliRunner
from world import Api, error_code, issuance_body, journal_seq, project_body, rejected, setup_world

from sovcarbon.cli import app as cli_app
from sovcarbon.domain import article6 as rules
from sovcarbon.domain.errors import RegistryError
from sovcarbon.services import aef_template as tpl
from sovcarbon.services.requests import MitigationType
from sovcarbon.store import tables as t

MT = "Mitigation type"


def _year(api: Api) -> int:
    entries = journal(api)
    return int(entries[max(entries)]["created_at"][:4])


def _aef(api: Api) -> dict[str, Any]:
    return api.ok("GET", f"/v1/reports/aef/{_year(api)}", "regulator")


def _types_by_prefix(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        if r["First unit ID"] != tpl.NA:
            out.setdefault(r["First unit ID"].rsplit("-", 1)[0], set()).add(r[MT])
    return out


def test_the_entry_vocabulary_is_the_nomenclature() -> None:
    assert set(get_args(MitigationType)) == set(rules.MITIGATION_TYPES)


def test_project_mitigation_type_recorded_and_validated_at_entry(world: Api) -> None:
    assert world.ok("GET", f"/v1/projects/{world.ids['project']}", None)["mitigation_type"] == "Emission reductions"
    made = world.ok("POST", "/v1/projects", "proponent",
                    project_body(world.ids["foundation"], name="Mangroves", mitigation_type="Removals"))
    assert made["mitigation_type"] == "Removals"
    seq = journal_seq(world)
    bad = world.post("/v1/projects", "proponent", project_body(world.ids["foundation"], mitigation_type="Avoidance"))
    rejected(world, bad, 1003, seq)
    bad = world.post("/v1/issuances", "admin", issuance_body(world.ids["project"], world.ids["foundation_acc"],
                                                             mitigation_type="removals"))
    rejected(world, bad, 1003, seq)
    path = f"/v1/projects/{made['id']}/mitigation-type"
    for who, body, code in (("admin", {"mitigation_type": "Both"}, 1003), ("proponent", {"mitigation_type":
                                                                                          "Removals"}, 1002),
                            ("approver", {"mitigation_type": "Removals"}, 1002), ("admin", {}, 1003)):
        resp = world.client.put(path, json=body, headers=world.headers(who))
        rejected(world, resp, code, seq)
    resp = world.client.put(path, json={"mitigation_type": "Emission reductions and removals"},
                            headers=world.headers("admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["mitigation_type"] == "Emission reductions and removals"
    entry = journal(world)[journal_seq(world)]
    assert entry["kind"] == "project_mitigation_type_set"


def test_aef_reads_the_issuance_override_then_the_project_not_the_loa(world: Api) -> None:
    ids = world.ids
    iss = world.ok("POST", "/v1/issuances", "admin", issuance_body(ids["project"], ids["foundation_acc"],
                                                                   vintage=2024, quantity_kg=2_000_000,
                                                                   monitoring_period={"start": "2024-01-01",
                                                                                      "end": "2024-12-31"},
                                                                   buffer_kg=200_000, mitigation_type="Removals"))
    assert iss["mitigation_type"] == "Removals"
    iss = world.ok("POST", f"/v1/issuances/{iss['id']}/approval", "approver")
    second = iss["serial_prefix"]
    loa_id = grant(world, authorized_entities=[], mitigation_type="Emission reductions and removals")
    world.ok("POST", f"/v1/authorizations/{loa_id}/units", "admin",  # the world's issuance: the project's value
             {"account_id": ids["foundation_acc"], "serials": [serial(world, 1, 1_000_000)]})
    world.ok("POST", f"/v1/authorizations/{loa_id}/units", "admin",
             {"account_id": ids["foundation_acc"], "serials": [f"{second}-{1:012d}-{1_000_000:012d}"]})
    world.ok("POST", "/v1/exports", "proponent", export_body(world, loa_id, serials=[serial(world, 1, 500_000)]))
    world.ok("POST", "/v1/exports", "proponent",
             export_body(world, loa_id, serials=[f"{second}-{1:012d}-{500_000:012d}"]))
    rep = _aef(world)
    want = {ids["prefix"]: {"Emission reductions"}, second: {"Removals"}}
    assert _types_by_prefix(rep["tables"][tpl.T3_SHEET]) == want
    assert _types_by_prefix(rep["tables"][tpl.T4_SHEET]) == want
    resp = world.client.put(f"/v1/projects/{ids['project']}/mitigation-type", json={"mitigation_type": "Removals"},
                            headers=world.headers("admin"))
    assert resp.status_code == 200, resp.text
    assert _types_by_prefix(_aef(world)["tables"][tpl.T4_SHEET]) == {ids["prefix"]: {"Removals"},
                                                                     second: {"Removals"}}
    # A project recorded before migration 0015 (NULL, never rewritten): the LoA's value, then the default.
    with world.reg.store.write() as uow:
        uow.repo.update(t.projects, [t.projects.c.id == ids["project"]], mitigation_type=None)
        uow.append("test_pre_0015_project", {"project_id": ids["project"]})
    assert _types_by_prefix(_aef(world)["tables"][tpl.T4_SHEET]) == {
        ids["prefix"]: {"Emission reductions and removals"}, second: {"Removals"}}


def test_effective_mitigation_type_order() -> None:
    assert rules.effective_mitigation_type("Removals", "Emission reductions", "Emission reductions") == "Removals"
    assert rules.effective_mitigation_type(None, "Removals", "Emission reductions") == "Removals"
    assert rules.effective_mitigation_type(None, None, "Removals") == "Removals"
    assert rules.effective_mitigation_type(None, None, None) == rules.DEFAULT_MITIGATION_TYPE


def _table1(api: Api) -> dict[str, Any]:
    t1 = _aef(api)["tables"][tpl.T1_SHEET]
    return t1[0] if isinstance(t1, list) else t1


def test_ndc_period_set_by_an_admin_validated_and_journaled(world: Api) -> None:
    assert world.ok("GET", "/v1/article6/ndc-period", "regulator") == {
        "first_year": 2021, "last_year": 2030, "source": "default"}
    t1 = _table1(world)
    assert (t1["First year of the NDC implementation period"], t1["Last year of the NDC implementation period"]) \
        == (2021, 2030)
    seq = journal_seq(world)
    for who, body, code in (("admin", {"first_year": 2031, "last_year": 2030}, 1003),
                            ("admin", {"first_year": 2019, "last_year": 2025}, 1003),
                            ("admin", {"first_year": 2031, "last_year": 2101}, 1003),
                            ("admin", {"first_year": 2031, "last_year": 2045}, 1003),
                            ("admin", {"first_year": "2031", "last_year": 2035}, 1003),
                            ("admin", {"first_year": 2031}, 1003),
                            ("approver", {"first_year": 2031, "last_year": 2035}, 1002),
                            ("company", {"first_year": 2031, "last_year": 2035}, 1002),
                            (None, {"first_year": 2031, "last_year": 2035}, 1001)):
        resp = world.client.put("/v1/article6/ndc-period", json=body, headers=world.headers(who))
        rejected(world, resp, code, seq)
    assert error_code(world.get("/v1/article6/ndc-period", "company")) == 1002
    resp = world.client.put("/v1/article6/ndc-period", json={"first_year": 2031, "last_year": 2035},
                            headers=world.headers("admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"first_year": 2031, "last_year": 2035, "source": "recorded"}
    entry = journal(world)[journal_seq(world)]
    assert entry["kind"] == "ndc_period_set"
    t1 = _table1(world)
    assert (t1["First year of the NDC implementation period"], t1["Last year of the NDC implementation period"]) \
        == (2031, 2035)


def test_ndc_period_cli(registry: Any, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    if registry.settings.database_url.startswith("postgresql"):
        pytest.skip("the CLI reads the configured store; the SQLite run covers it")
    setup_world(api)
    monkeypatch.setenv("SOVCARBON_DATA_DIR", str(registry.settings.data_dir))
    monkeypatch.setenv("SOVCARBON_DATABASE_URL", registry.settings.database_url)
    seq = journal_seq(api)
    for args in (["--first-year", "2030", "--last-year", "2026"], ["--first-year", "2026"],
                 ["--first-year", "2000", "--last-year", "2005"]):
        result = CliRunner().invoke(cli_app, ["admin", "ndc-period", *args])
        assert result.exit_code == 2, result.output
    assert journal_seq(api) == seq
    result = CliRunner().invoke(cli_app, ["admin", "ndc-period", "--first-year", "2026", "--last-year", "2030"])
    assert result.exit_code == 0, result.output
    assert '"first_year": 2026' in result.output
    entry = journal(api)[journal_seq(api)]
    assert entry["kind"] == "ndc_period_set" and journal_seq(api) == seq + 1
    result = CliRunner().invoke(cli_app, ["admin", "ndc-period"])
    assert result.exit_code == 0 and '"source": "recorded"' in result.output
    assert api.ok("GET", "/v1/article6/ndc-period", "admin")["first_year"] == 2026


def test_ndc_period_rule() -> None:
    rules.require_ndc_period(2021, 2030)
    rules.require_ndc_period(2031, 2031)
    for first, last in ((2030, 2029), (2020, 2025), (2091, 2101), (2031, 2041)):
        with pytest.raises(RegistryError) as exc:
            rules.require_ndc_period(first, last)
        assert exc.value.code == 1003
