"""Time comes from the registry's clock, never the wall clock inside the rules.

Every test registry runs on ``world.TEST_NOW`` (a FixedClock); here a representative scenario runs with
the clock at 2031-03-01, past the fixed dates the rest of the suite uses (crediting periods ending 2030),
with every date-bound value chosen relative to the clock: an LoA valid today, an export, a retirement
claimed this year, the AEF for this year, an API key that expires, and the journal's timestamps.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from world import BACKENDS, Api, error_code, make_registry, setup_world

from sovcarbon.api.app import create_app
from sovcarbon.domain.ids import SYSTEM_CLOCK, FixedClock, format_instant, utc_now
from sovcarbon.domain.model import Role
from sovcarbon.services import auth, invariants

FUTURE = "2031-03-01T09:00:00Z"


@pytest.fixture(params=BACKENDS)
def future_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Api, FixedClock]]:
    clock = FixedClock(FUTURE, ticking=False)
    reg = make_registry(request.param, tmp_path, request, clock=clock)
    try:
        with TestClient(create_app(reg)) as client:
            api = Api(client, reg)
            api.key("admin", Role.REGISTRY_ADMIN)
            api.key("approver", Role.REGISTRY_APPROVER)
            api.key("regulator", Role.REGULATOR)
            yield api, clock
        assert not invariants.check(reg)
    finally:
        reg.store.dispose()


def _loa(year: int) -> dict[str, Any]:
    return {"reference": f"TGO-LOA-{year}-001", "authorization_date": f"{year}-01-15",
            "cooperative_approach_id": "CA0007", "max_quantity_kg": 5_000_000, "mitigation_type": "Removals",
            "sectors": ["Forestry and land use"], "activity_types": ["Reforestation"], "purposes": ["ndc"], "oimp": [],
            "first_transfer_event": None, "authorized_parties": ["IDN"],
            "authorized_entities": [{"name": "PT Nusantara Energi", "party": "IDN", "identification_number": "AHU-1",
                                     "country": "IDN"}],
            "timeframe": {"start": f"{year - 6}-01-01", "end": f"{year + 4}-12-31"}, "terms": "ITMOs for NDC",
            "document": {"name": "loa.pdf", "media_type": "application/pdf",
                         "content_base64": base64.b64encode(b"%PDF-1.4\n% LoA (test)\n").decode()}}


def test_a_scenario_with_the_clock_in_2031(future_api: tuple[Api, FixedClock]) -> None:
    api, clock = future_api
    year = clock.now().year
    assert year == 2031
    setup_world(api)  # issuance of vintage 2025: not bound to today
    loa = api.ok("POST", "/v1/authorizations", "admin", _loa(year))
    assert api.ok("POST", f"/v1/authorizations/{loa['id']}/approval", "approver")["status"] == "active"
    api.ok("POST", f"/v1/authorizations/{loa['id']}/units", "admin",
           {"account_id": api.ids["foundation_acc"], "quantity_kg": 1_000_000})
    export = api.ok("POST", "/v1/exports", "proponent", {
        "account_id": api.ids["foundation_acc"], "authorization_id": loa["id"], "purpose": "ndc",
        "quantity_kg": 100_000, "destination": {"party": "IDN", "registry_id": "IDN01", "account_id": "B-001",
                                                 "entity": "PT Nusantara Energi"}})
    assert export["quantity_kg"] == 100_000
    uncovered = f"{api.ids['prefix']}-{1_000_001:012d}-{1_005_000:012d}"  # covered units cannot retire (6007)
    api.ok("POST", "/v1/transfers", "proponent", {"from_account_id": api.ids["foundation_acc"],
                                                   "to_account_id": api.ids["company_acc"], "serials": [uncovered]})
    retirement = api.ok("POST", "/v1/retirements", "company", {
        "account_id": api.ids["company_acc"], "quantity_kg": 1_000, "beneficiary": {"name": "Co", "country": "TH"},
        "purpose": "voluntary", "claim_year": year})
    assert retirement["claim_year"] == year
    report = api.ok("GET", f"/v1/reports/aef/{year}", "regulator")
    rows = report["tables"]["Table 3 Actions"]
    assert [a["Action date"] for a in rows] == ["01/03/2031"] * len(rows)
    assert len(rows) >= 1 and len(report["annex"]["actions"]) >= 2
    # The journal's timestamps are the clock's, not the wall clock's.
    page = api.ok("GET", "/v1/journal?after_seq=0&limit=1000", None)
    assert {e["created_at"] for e in page["data"]} == {"2031-03-01T09:00:00.000000Z"}
    # An LoA whose timeframe ended before the clock's today cannot take units (6001), whatever the wall clock.
    stale = api.ok("POST", "/v1/authorizations", "admin",
                   {**_loa(year), "reference": "OLD", "timeframe": {"start": "2021-01-01", "end": f"{year - 1}-12-31"}})
    api.ok("POST", f"/v1/authorizations/{stale['id']}/approval", "approver")
    assert error_code(api.post(f"/v1/authorizations/{stale['id']}/units", "admin",
                               {"account_id": api.ids["foundation_acc"], "quantity_kg": 1_000})) == 6001


def test_key_expiry_follows_the_clock(future_api: tuple[Api, FixedClock]) -> None:
    api, clock = future_api
    _, key = auth.create_key(api.reg, Role.REGULATOR, None, "auditor", expires_in_days=1)
    headers = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/v1/accounts", headers=headers).status_code != 401
    assert auth.authenticate(api.reg, key).role == Role.REGULATOR
    clock.advance(timedelta(days=2))
    assert error_code(api.client.get("/v1/accounts", headers=headers)) == 1001


def test_fixed_clock_and_system_clock() -> None:
    fixed = FixedClock("2031-03-01T09:00:00Z", ticking=False)
    assert utc_now(fixed) == "2031-03-01T09:00:00.000000Z"
    fixed.advance(timedelta(hours=1))
    assert fixed.now() == datetime(2031, 3, 1, 10, tzinfo=UTC)
    ticking = FixedClock(datetime(2031, 3, 1, 9))  # naive means UTC
    first = ticking.now()
    assert first >= datetime(2031, 3, 1, 9, tzinfo=UTC) and ticking.now() >= first
    wall = datetime.now(UTC)
    assert abs(SYSTEM_CLOCK.now() - wall) < timedelta(seconds=5)
    assert format_instant(wall) == wall.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_test_registries_run_on_the_test_clock(registry: Any) -> None:
    from world import TEST_NOW

    with registry.store.read() as uow:
        assert uow.now[:10] == TEST_NOW[:10]
