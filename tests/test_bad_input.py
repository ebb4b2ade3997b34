"""No request body can produce a 5xx or a partial write: random and hostile bodies on every mutating route."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from world import Api, error_code, journal_seq

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=12,
)

FIELDS = ["from_account_id", "to_account_id", "account_id", "quantity_kg", "serials", "purpose", "beneficiary",
          "claim_year", "project_id", "vintage", "monitoring_period", "buffer_kg", "name", "kind", "country",
          "participant_id", "standard", "reason", "status", "location", "crediting_period"]

ROUTES = ["/v1/participants", "/v1/accounts", "/v1/projects", "/v1/issuances", "/v1/transfers", "/v1/retirements",
          "/v1/cancellations", "/v1/freezes"]


def _bodies(world: Api) -> Any:
    known = st.sampled_from([world.ids["foundation_acc"], world.ids["company_acc"], world.ids["project"],
                             world.ids["issuance"], f"{world.ids['prefix']}-000000000001-000000000010"])
    value = json_values | known
    return st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), value, max_size=8))


@pytest.mark.parametrize("route", ROUTES)
def test_random_bodies_get_a_4xx_envelope_and_change_nothing(world: Api, route: str) -> None:
    who = {"/v1/transfers": "proponent", "/v1/retirements": "company"}.get(route, "admin")

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=_bodies(world))
    def check(body: Any) -> None:
        before = journal_seq(world)
        resp = world.post(route, who, body)
        if resp.status_code in (200, 201):
            return  # a random body may be valid (e.g. an account for a known participant)
        assert resp.status_code < 500, resp.text
        error_code(resp)
        assert journal_seq(world) == before

    check()


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b"\xff\xfe", b'{"quantity_kg": 1e400}', b"x" * 10])
def test_malformed_json_is_1003(world: Api, raw: bytes) -> None:
    before = journal_seq(world)
    resp = world.client.post("/v1/transfers", content=raw, headers={**world.headers("proponent"),
                                                                    "Content-Type": "application/json"})
    assert error_code(resp) in (1003, 2003)
    assert journal_seq(world) == before


def test_oversize_body_is_refused(world: Api) -> None:
    resp = world.client.post("/v1/projects", content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                             headers={**world.headers("admin"), "Content-Type": "application/json"})
    assert error_code(resp) == 1003


def test_unknown_routes_and_methods_use_the_envelope(world: Api) -> None:
    assert error_code(world.get("/v1/nothing-here")) == 1005
    assert world.client.delete("/v1/transfers").json()["error"]["code"] == 1003
    assert error_code(world.get("/v1/projects/not an id")) == 1003
    assert error_code(world.get("/v1/projects", limit=0)) == 1003
    assert error_code(world.get("/v1/projects", limit=100000)) == 1003


def test_huge_integers_do_not_overflow_the_store(world: Api) -> None:
    before = journal_seq(world)
    for qty in (2**63, 10**30, -(2**63)):
        resp = world.post("/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                         "to_account_id": world.ids["company_acc"], "quantity_kg": qty})
        assert error_code(resp) == 2003
    assert journal_seq(world) == before
