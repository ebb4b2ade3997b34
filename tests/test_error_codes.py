"""Error codes are one enumeration with stable numbers and names (domain/errors.ErrorCode), and the
state conflicts that used to answer 1003 INVALID_REQUEST have codes of their own: 3007 (a project in the
wrong status), 6008 (units already under an authorization), 1008 (already revoked / already frozen /
closed stays closed) and 1007 with HTTP 503 for "no chain attached"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from world import Api, journal_seq, rejected

from sovcarbon.domain.errors import ERROR_CODES, HTTP_STATUS, ErrorCode, RegistryError
from sovcarbon.domain.model import Role
from sovcarbon.services import auth

ROOT = Path(__file__).resolve().parents[1]
RULES_MD = Path("/work/shared/spec/RULES.md")
ERRORS_MD = ROOT / "docs" / "errors.md"

# Numbers are what clients key on: pinned here so that renumbering or renaming one fails a test.
PINNED = {1001: "UNAUTHENTICATED", 1002: "FORBIDDEN", 1003: "INVALID_REQUEST", 1005: "NOT_FOUND",
          1006: "REGISTRY_READ_ONLY", 1007: "CHAIN_NOT_ATTACHED", 1008: "STATE_CONFLICT",
          3007: "PROJECT_STATUS_CONFLICT", 4001: "INSUFFICIENT_BALANCE", 5003: "EXCEEDS_VERIFIED",
          6007: "COVERAGE_CONFLICT", 6008: "UNITS_ALREADY_AUTHORIZED", 7001: "SUPPLY_MISMATCH"}


def test_enum_numbers_and_names_are_stable() -> None:
    for number, name in PINNED.items():
        assert ErrorCode(number).name == name
    assert set(HTTP_STATUS) == set(ErrorCode)
    assert {c.value: (c.name, HTTP_STATUS[c]) for c in ErrorCode} == ERROR_CODES
    assert (HTTP_STATUS[ErrorCode.CHAIN_NOT_ATTACHED], HTTP_STATUS[ErrorCode.STATE_CONFLICT],
            HTTP_STATUS[ErrorCode.PROJECT_STATUS_CONFLICT], HTTP_STATUS[ErrorCode.UNITS_ALREADY_AUTHORIZED]) == (
        503, 409, 409, 409)


def test_error_takes_a_number_or_a_member_and_serializes_a_plain_int() -> None:
    by_member, by_number = RegistryError(ErrorCode.UNITS_FINAL, "x"), RegistryError(4004, "x")
    assert by_member.envelope() == by_number.envelope()
    assert type(by_member.envelope()["error"]["code"]) is int and by_member.code == 4004
    assert by_member.error_code is ErrorCode.UNITS_FINAL and by_member.http_status == 409
    with pytest.raises(ValueError, match="unknown registry error code"):
        RegistryError(1999, "no such code")


@pytest.mark.skipif(not RULES_MD.exists(), reason="the shared specification is not mounted here")
def test_every_rules_md_code_is_in_the_enum_and_every_addition_is_documented() -> None:
    named = {int(c): n for c, n in re.findall(r"\b(\d{4}) ([A-Z][A-Z_]+[A-Z])\b", RULES_MD.read_text())}
    assert len(named) >= 40
    for number, name in named.items():
        assert number in ERROR_CODES and ErrorCode(number).name == name, (number, name)
    documented = ERRORS_MD.read_text()
    for code in ErrorCode:
        assert f"| {code.value} | `{code.name}` | {HTTP_STATUS[code]} |" in documented, code
    added = {c for c in ErrorCode if c.value not in named}
    section = documented.split("## Every code")[0]
    for code in added:
        assert f"| {code.value} | `{code.name}` |" in section, f"{code} is not described in docs/errors.md"


def test_no_chain_attached_is_503_with_its_code(world: Api) -> None:
    before = journal_seq(world)
    resp = world.post("/v1/reconciliation", "admin")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == 1007
    assert resp.json()["error"]["name"] == "CHAIN_NOT_ATTACHED" and journal_seq(world) == before
    assert world.get("/v1/bridge", "regulator").status_code == 503


def test_state_conflicts_answer_1008(world: Api) -> None:
    serials = [f"{world.ids['prefix']}-000000000001-000000000010"]
    world.ok("POST", "/v1/freezes", "admin", {"serials": serials, "reason": "discrepancy"})
    before = journal_seq(world)
    resp = world.post("/v1/freezes", "admin", {"serials": serials, "reason": "again"})
    assert resp.status_code == 409
    rejected(world, resp, 1008, before)
    key_id, _ = auth.create_key(world.reg, Role.REGULATOR, None, "regulator-2")
    auth.revoke_key(world.reg, key_id, "leaver")
    before = journal_seq(world)
    with pytest.raises(RegistryError) as refused:
        auth.revoke_key(world.reg, key_id, "twice")
    assert refused.value.code == 1008 and journal_seq(world) == before
