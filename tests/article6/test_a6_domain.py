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
from sovcarbon.services import invariants

P = "TH-PTVER-00001-2025-001"


def r(first: int, last: int, prefix: str = P) -> SerialRange:
    return SerialRange(prefix, first, last)


def test_subtract_and_sweep() -> None:
    assert rules.subtract(r(1, 100), [r(10, 19), r(50, 200)]) == [r(1, 9), r(20, 49)]
    assert rules.subtract(r(1, 100), [r(1, 100)]) == []
    assert rules.subtract(r(1, 100), [r(1, 100, "TH-PTVER-00002-2025-001")]) == [r(1, 100)]
    pieces = rules.sweep([(r(1, 50), "a"), (r(51, 100), "b")], [(r(40, 60), "x"), (r(90, 95), "y")])
    assert pieces == [(r(40, 50), "a", "x"), (r(51, 60), "b", "x"), (r(90, 95), "b", "y")]


@given(st.integers(1, 10**9 - 1), st.sampled_from([P, "TH-TVER-99999-2030-999"]), st.integers(1, 99))
def test_itmo_unique_ids_are_reversible(tonne: int, prefix: str, number: int) -> None:
    rid = rules.itmo_registry_id("THA", number)
    rng = SerialRange(prefix, (tonne - 1) * 1000 + 1, tonne * 1000)
    vintage = int(prefix.split("-")[3])
    first, last = rules.cma_itmo_ids("CA0007", rid, "THA", rng, vintage)
    assert first == last
    parsed = rules.parse_cma_itmo_id(first)
    assert (parsed.ca_id, parsed.registry_id, parsed.party, parsed.vintage) == ("CA0007", rid, "THA", vintage)
    assert (parsed.project_number, parsed.issuance_number, parsed.tonne) == (
        int(prefix.split("-")[2]), int(prefix.split("-")[4]), tonne)
    assert parsed.kg_range(prefix) == rng


def test_itmo_registry_id_and_malformed_ids() -> None:
    assert rules.itmo_registry_id("THA") == "THA01"
    with pytest.raises(RegistryError) as e:
        rules.itmo_registry_id("THA", 100)
    assert e.value.code == 1003
    for bad in ("THA01-TH-PTVER-00001-2025-001-000000000001", "CA007-THA01-THA-1001000000001-2025",
                "CA0007-THA01-THA-1001000000000-2025", "CA0007-THA01-THA-0001000000001-2025", "x"):
        with pytest.raises(RegistryError) as e:
            rules.parse_cma_itmo_id(bad)
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
    assert rules.check_i6 in invariants.CHECKS


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


def _snap6(history: list[tuple[str, str, int, int, str, int, bool]], fts: list[tuple[str, int, int, int, str, str]],
           leaves: list[tuple[int, int, str]]) -> inv.LedgerSnapshot:
    facts = rules.Article6Facts(fts, [(ca, v, last - first + 1, loa) for _p, first, last, v, ca, loa in fts],
                                [(p, f, la, loa) for _i, p, f, la, loa, _v, rel in history if not rel], history)
    blocks = [inv.BlockFact(f"blk_{i}", "iss_1", None, f, la, st, True) for i, (f, la, st) in enumerate(leaves)]
    return inv.LedgerSnapshot(issued={"iss_1": 10_000}, blocks=blocks, journal=[], journal_head=None,
                              extra={rules.SNAPSHOT_KEY: facts})


def test_i6_every_authorized_kilogram_is_accounted_for_once() -> None:
    """authorized = first-transferred + still covered (live or exported) + released, per LoA and vintage;
    a partial release that re-opens the remainder counts each kilogram once."""
    history = [("iss_1", P, 1, 5000, "loa_a", 2025, True), ("iss_1", P, 1, 3000, "loa_a", 2025, False)]
    fts = [(P, 1, 1000, 2025, "ca_1", "loa_a")]
    live = [(1, 1000, "exported"), (1001, 2000, "held"), (2001, 3000, "exported"), (3001, 10_000, "held")]
    assert rules.check_i6(_snap6(history, fts, live)) == []
    # Covered, not first-transferred, and retired: it left the report silently.
    gone = [(1, 1000, "exported"), (1001, 2000, "retired"), (2001, 3000, "exported"), (3001, 10_000, "held")]
    [v] = rules.check_i6(_snap6(history, fts, gone))
    assert "5000 kg authorized != 1000 first-transferred + 1000 still covered + 2000 released" in v.message


def test_itmo_ids_are_tonnes_one_for_one_with_underlying_units() -> None:
    rng = r(2_500_001, 3_500_000)
    assert rules.is_whole_itmos(rng) and not rules.is_whole_itmos(r(2_500_001, 3_500_500))
    first, last = rules.cma_itmo_ids("CA0007", "THA01", "THA", rng, 2025)
    assert (first, last) == ("CA0007-THA01-THA-1001000002501-2025", "CA0007-THA01-THA-1001000003500-2025")
    assert rules.unit_ids(rng) == (f"{P}-000002501", f"{P}-000003500")
    with pytest.raises(RegistryError) as exc:
        rules.require_whole_itmos(r(1, 999), "an export")
    assert exc.value.code == 6006
