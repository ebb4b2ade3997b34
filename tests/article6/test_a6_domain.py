"""Pure Article 6 rules, no database: serial-range arithmetic, ITMO ids, the I6 check, amendments."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovcarbon.domain import article6 as rules
from sovcarbon.domain import invariants as inv
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.serials import SerialRange

P = "TH-PTVER-00001-2025-001"


def r(first: int, last: int, prefix: str = P) -> SerialRange:
    return SerialRange(prefix, first, last)


def test_subtract_and_sweep() -> None:
    assert rules.subtract(r(1, 100), [r(10, 19), r(50, 200)]) == [r(1, 9), r(20, 49)]
    assert rules.subtract(r(1, 100), [r(1, 100)]) == []
    assert rules.subtract(r(1, 100), [r(1, 100, "TH-PTVER-00002-2025-001")]) == [r(1, 100)]
    pieces = rules.sweep([(r(1, 50), "a"), (r(51, 100), "b")], [(r(40, 60), "x"), (r(90, 95), "y")])
    assert pieces == [(r(40, 50), "a", "x"), (r(51, 60), "b", "x"), (r(90, 95), "b", "y")]


@given(st.integers(1, 10**12 - 1), st.sampled_from([P, "TH-TVER-99999-2030-999"]), st.integers(1, 99))
def test_itmo_unique_ids_are_reversible(kg: int, prefix: str, number: int) -> None:
    rid = rules.itmo_registry_id("THA", number)
    text = rules.itmo_unique_id(rid, prefix, kg)
    assert rules.parse_itmo_unique_id(text) == (rid, SerialRange(prefix, kg, kg))


def test_itmo_registry_id_and_malformed_ids() -> None:
    assert rules.itmo_registry_id("THA") == "THA01"
    with pytest.raises(RegistryError) as e:
        rules.itmo_registry_id("THA", 100)
    assert e.value.code == 1003
    for bad in ("THA1-TH-PTVER-00001-2025-001-000000000001", "THA01-TH-PTVER-00001-2025-001-000000000000", "x"):
        with pytest.raises(RegistryError) as e:
            rules.parse_itmo_unique_id(bad)
        assert e.value.code == 2002


def _snap(fts: list[Any], cas: list[Any], cov: list[Any]) -> inv.LedgerSnapshot:
    s = inv.LedgerSnapshot(issued={}, blocks=[], journal=[], journal_head=None)
    s.extra[rules.SNAPSHOT_KEY] = rules.Article6Facts(fts, cas, cov)
    return s


def test_i6_detects_double_first_transfer_and_adjustment_mismatch() -> None:
    cov = [(P, 1, 1000, "loa_a")]
    good = _snap([(P, 1, 100, 2025, "ca_1", "loa_a"), (P, 101, 150, 2025, "ca_2", "loa_a")],
                 [("ca_1", 2025, 100, "loa_a"), ("ca_2", 2025, 50, "loa_a")], cov)
    assert rules.check_i6(good) == []
    twice = _snap([(P, 1, 100, 2025, "ca_1", "loa_a"), (P, 50, 150, 2025, "ca_2", "loa_a")],
                  [("ca_1", 2025, 100, "loa_a"), ("ca_2", 2025, 101, "loa_a")], cov)
    assert any("twice" in v.message for v in rules.check_i6(twice))
    short = _snap([(P, 1, 100, 2025, "ca_1", "loa_a")], [("ca_1", 2025, 99, "loa_a")], cov)
    assert {v.invariant for v in rules.check_i6(short)} == {"I6"} and len(rules.check_i6(short)) == 2
    uncovered = _snap([(P, 1, 2000, 2025, "ca_1", "loa_a")], [("ca_1", 2025, 2000, "loa_a")], cov)
    assert any("not under" in v.message for v in rules.check_i6(uncovered))
    assert rules.check_i6 in inv.EXTRA_CHECKS


BODY = {"purposes": ["ndc", "oimp"], "oimp": ["CORSIA"], "first_transfer_event": "use_or_cancellation",
        "cooperative_approach_id": "X", "metric": "tCO2e", "ca_method": "averaging", "max_quantity_kg": 100,
        "timeframe": {"start": "2021-01-01", "end": "2030-12-31"}}


def test_amendment_rules() -> None:
    def amend(**over: Any) -> int:
        try:
            rules.check_amendment(BODY, {**BODY, **over}, first_transferred_kg=40, attached_kg=60,
                                  first_transferred_vintages=[2025])
        except RegistryError as e:
            return e.code
        return 0
    assert amend(max_quantity_kg=60) == 0
    assert amend(max_quantity_kg=39) == 6005
    assert amend(max_quantity_kg=59) == 6002
    assert amend(oimp=["corsia"]) == 0  # same OIMP, other spelling
    assert amend(purposes=["ndc"]) == 1003
    assert amend(first_transfer_event="authorization") == 1003
    assert amend(timeframe={"start": "2026-01-01", "end": "2030-12-31"}) == 6005
