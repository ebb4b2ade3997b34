"""The one serial parser: the format of RULES.md and nothing else (2002)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.serials import format_prefix, format_serial, parse_serial, parse_serial_list

GOOD = "TH-PTVER-00042-2025-001-000000000001-000010000000"


def test_parses_the_rules_example() -> None:
    rng = parse_serial(GOOD)
    assert rng.prefix == "TH-PTVER-00042-2025-001"
    assert (rng.first_kg, rng.last_kg, rng.quantity_kg) == (1, 10_000_000, 10_000_000)
    assert str(rng) == GOOD


@pytest.mark.parametrize("bad", [
    "", "TH-PTVER-42-2025-001-000000000001-000010000000", "th-PTVER-00042-2025-001-000000000001-000010000000",
    "TH-PTVER-00042-2025-001-000000000001", "TH-PTVER-00042-25-001-000000000001-000010000000",
    "TH-PTVER-00042-2025-001-000000000010-000000000001",  # last < first
    "TH-PTVER-00042-2025-001-000000000000-000000000001",  # kg count from 1
    GOOD + " ", " " + GOOD, GOOD.replace("-", "_"), "TH-PTVER-00042-2025-001-00000000001a-000010000000",
])
def test_rejects_anything_else(bad: str) -> None:
    with pytest.raises(RegistryError) as exc:
        parse_serial(bad)
    assert exc.value.code == 2002


def test_rejects_non_strings() -> None:
    for bad in (None, 5, ["x"]):
        with pytest.raises(RegistryError) as exc:
            parse_serial(bad)
        assert exc.value.code == 2002


def test_overlapping_ranges_in_one_request_are_rejected() -> None:
    a = "TH-PTVER-00042-2025-001-000000000001-000000000010"
    b = "TH-PTVER-00042-2025-001-000000000010-000000000020"
    with pytest.raises(RegistryError) as exc:
        parse_serial_list([a, b])
    assert exc.value.code == 2002
    assert len(parse_serial_list([a, "TH-PTVER-00042-2025-001-000000000011-000000000020"])) == 2


@given(project=st.integers(1, 99_999), vintage=st.integers(1000, 9999), issuance=st.integers(1, 999),
       first=st.integers(1, 10**12 - 1), span=st.integers(0, 10**6))
def test_format_and_parse_round_trip(project: int, vintage: int, issuance: int, first: int, span: int) -> None:
    last = min(first + span, 10**12 - 1)
    text = format_serial(format_prefix("TH", "PTVER", project, vintage, issuance), first, last)
    rng = parse_serial(text)
    assert (rng.first_kg, rng.last_kg) == (first, last)
    assert str(rng) == text
