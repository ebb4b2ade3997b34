"""Projects and issuance: every rule of domain/projects.py and domain/issue.py through the API."""

from __future__ import annotations

from typing import Any

import pytest
from world import Api, error_code, issuance_body, journal_seq, project_body, rejected, setup_world


def test_project_lifecycle_and_roles(api: Api) -> None:
    setup_world(api)
    pid = api.ids["foundation"]
    # A holder cannot submit; a proponent only for itself.
    assert error_code(api.post("/v1/projects", "company", project_body(pid))) == 1002
    assert error_code(api.post("/v1/projects", "proponent", project_body(api.ids["company"]))) == 1002
    project = api.ok("POST", "/v1/projects", "proponent", project_body(pid, name="Second"))
    assert project["status"] == "submitted" and project["number"] == 2
    # Registration before validation is refused (3007: the project's status); only a VVB validates.
    assert error_code(api.post(f"/v1/projects/{project['id']}/registration", "admin")) == 3007
    assert error_code(api.post(f"/v1/projects/{project['id']}/validation", "admin", {})) == 1002
    api.ok("POST", f"/v1/projects/{project['id']}/validation", "vvb", {"report": "fine"})
    assert error_code(api.post(f"/v1/projects/{project['id']}/registration", "vvb")) == 1002
    assert api.ok("POST", f"/v1/projects/{project['id']}/registration", "admin")["status"] == "registered"
    # A registered project is neither validated nor registered again.
    before = journal_seq(api)
    rejected(api, api.post(f"/v1/projects/{project['id']}/validation", "vvb", {"report": "again"}), 3007, before)
    rejected(api, api.post(f"/v1/projects/{project['id']}/registration", "admin"), 3007, before)


def test_unknown_standard_and_bad_geojson(api: Api) -> None:
    setup_world(api)
    before = journal_seq(api)
    rejected(api, api.post("/v1/projects", "proponent", project_body(api.ids["foundation"], standard="XYZ")), 1003,
             before)
    rejected(api, api.post("/v1/projects", "proponent", project_body(api.ids["foundation"],
                                                                    location={"type": "Blob"})), 1003, before)
    rejected(api, api.post("/v1/projects", "proponent", project_body(
        api.ids["foundation"], crediting_period={"start": "2030-01-01", "end": "2021-01-01"})), 1003, before)


def test_project_already_credited_elsewhere_is_2005(api: Api) -> None:
    setup_world(api)
    body = project_body(api.ids["foundation"], standard="VCS", other_registrations=[{"programme": "VCS", "id": "1234"}])
    api.ok("POST", "/v1/projects", "proponent", body)
    before = journal_seq(api)
    again = project_body(api.ids["foundation"], name="same forest, new name",
                         other_registrations=[{"programme": "VCS", "id": "1234"}])
    rejected(api, api.post("/v1/projects", "proponent", again), 2005, before)


def _request(api: Api, **over: Any) -> Any:
    body = issuance_body(api.ids["project"], api.ids["foundation_acc"])
    body.update(over)
    return api.post("/v1/issuances", "admin", body)


@pytest.mark.parametrize(("over", "code"), [
    ({"quantity_kg": 0}, 2003), ({"quantity_kg": -1000}, 2003), ({"quantity_kg": 1000.5}, 2003),
    ({"quantity_kg": "1000"}, 2003), ({"quantity_kg": True}, 2003), ({"quantity_kg": 1500}, 2004),
    ({"buffer_kg": 500}, 2004), ({"buffer_kg": -1000}, 2003), ({"buffer_kg": 10_000_000}, 2003),
    ({"vintage": 2019, "monitoring_period": {"start": "2019-01-01", "end": "2019-12-31"}}, 3006),
    ({"monitoring_period": {"start": "2030-06-01", "end": "2031-05-31"}, "vintage": 2030}, 3006),
    ({"vintage": 2024}, 3006),  # vintage outside the monitoring period
    ({"monitoring_period": {"start": "2025-06-01", "end": "2026-05-31"}}, 2005),  # overlaps the world's issuance
    ({"project_id": "prj_doesnotexist"}, 1005), ({"account_id": "acc_doesnotexist"}, 1005),
    ({"monitoring_period": {"start": "2026-12-31", "end": "2026-01-01"}, "vintage": 2026}, 1003),
    ({"extra_field": 1}, 1003),
])
def test_issuance_request_rules(world: Api, over: dict[str, Any], code: int) -> None:
    before = journal_seq(world)
    rejected(world, _request(world, **over), code, before)


def test_issuance_for_unregistered_project_is_3001(world: Api) -> None:
    project = world.ok("POST", "/v1/projects", "proponent", project_body(world.ids["foundation"], name="new"))
    before = journal_seq(world)
    resp = world.post("/v1/issuances", "admin", issuance_body(project["id"], world.ids["foundation_acc"]))
    rejected(world, resp, 3001, before)


def test_four_eyes(world: Api) -> None:
    iss = world.ok("POST", "/v1/issuances", "admin", issuance_body(
        world.ids["project"], world.ids["foundation_acc"], vintage=2026,
        monitoring_period={"start": "2026-01-01", "end": "2026-12-31"}))
    assert iss["status"] == "pending_approval" and iss["blocks"] == []
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/issuances/{iss['id']}/approval", "admin"), 3003, before)
    rejected(world, world.post(f"/v1/issuances/{iss['id']}/approval", "company"), 1002, before)
    rejected(world, world.post("/v1/issuances", "approver", issuance_body(world.ids["project"],
                                                                          world.ids["foundation_acc"])), 1002, before)
    done = world.ok("POST", f"/v1/issuances/{iss['id']}/approval", "approver")
    assert done["status"] == "issued" and done["serial_prefix"] == "TH-PTVER-00001-2026-001"
    before = journal_seq(world)
    rejected(world, world.post(f"/v1/issuances/{iss['id']}/approval", "approver"), 3002, before)
    rejected(world, world.post(f"/v1/issuances/{iss['id']}/rejection", "approver", {}), 3002, before)


def test_rejected_issuance_frees_the_period(world: Api) -> None:
    body = issuance_body(world.ids["project"], world.ids["foundation_acc"], vintage=2027,
                         monitoring_period={"start": "2027-01-01", "end": "2027-12-31"})
    first = world.ok("POST", "/v1/issuances", "admin", body)
    assert error_code(world.post("/v1/issuances", "admin", body)) == 2005
    world.ok("POST", f"/v1/issuances/{first['id']}/rejection", "approver", {"reason": "report incomplete"})
    second = world.ok("POST", "/v1/issuances", "admin", body)
    assert second["serial_prefix"] == "TH-PTVER-00001-2027-002"  # numbers are never reused
    world.ok("POST", f"/v1/issuances/{second['id']}/approval", "approver")
    supply = world.ok("GET", "/v1/supply", None, )
    assert supply["issued_kg"] == 20_000_000


def test_buffer_goes_to_the_registry_buffer_account(world: Api) -> None:
    info = world.ok("GET", "/v1/registry", None)
    holdings = world.ok("GET", f"/v1/accounts/{info['buffer_account_id']}/holdings", "regulator")
    assert holdings["totals_kg"] == {"held": 1_000_000}
    assert holdings["by_state"]["held"][0]["serial"].endswith("000009000001-000010000000")
