"""Pledges with lien ids, the pure rules (domain/pledge.py): the lien state machine, who may act, the lien
bound, 4003 / 7004 on a holder's move of pledged kg, forced moves taking free balance first, invariant LIEN.
Not wired into the registry's services yet (docs/settlement.md names it)."""

from __future__ import annotations

import pytest

from sovcarbon.domain import pledge as p
from sovcarbon.domain.errors import RegistryError

HOLDER, BANK, OTHER = "par_holder", "par_bank", "par_other"
ACC = "acc_1"


def _code(exc: pytest.ExceptionInfo[RegistryError]) -> int:
    return exc.value.code


def _active(kg: int = 500_000, balance_kg: int = 1_000_000, lien_id: str = "lien_1",
            liens: list[p.Lien] | None = None) -> p.Lien:
    lien = p.request(lien_id, p.UNITS, ACC, HOLDER, BANK, kg, balance_kg, liens or [])
    return p.accept(lien, BANK, balance_kg, liens or [])


def test_requested_by_the_holder_accepted_by_the_bank_released_only_by_the_bank() -> None:
    lien = p.request("lien_1", p.UNITS, ACC, HOLDER, BANK, 500_000, 1_000_000, [])
    assert lien.status == p.REQUESTED and p.pledged_kg([lien], ACC) == 0  # reserved only once accepted
    with pytest.raises(RegistryError) as refused:
        p.accept(lien, HOLDER, 1_000_000, [])
    assert _code(refused) == 1002  # the holder cannot accept its own pledge
    lien = p.accept(lien, BANK, 1_000_000, [])
    assert lien.status == p.ACTIVE and p.free_kg(1_000_000, [lien], ACC) == 500_000
    with pytest.raises(RegistryError) as refused:
        p.release(lien, HOLDER, 100_000)  # the pledgor trying to release
    assert _code(refused) == 1002
    part = p.release(lien, BANK, 200_000)
    assert (part.status, part.remaining_kg) == (p.ACTIVE, 300_000)
    done = p.release(part, BANK)
    assert (done.status, done.remaining_kg) == (p.RELEASED, 0)
    with pytest.raises(RegistryError) as refused:
        p.release(done, BANK, 1)
    assert _code(refused) == 1008  # final is final


def test_enforcement_only_after_a_notified_default_and_never_beyond_the_lien() -> None:
    lien = _active()
    with pytest.raises(RegistryError) as refused:
        p.enforce(lien, BANK, 100_000)
    assert _code(refused) == 1008
    with pytest.raises(RegistryError) as refused:
        p.notify_default(lien, HOLDER)
    assert _code(refused) == 1002
    lien = p.notify_default(lien, BANK)
    with pytest.raises(RegistryError) as refused:
        p.enforce(lien, BANK, 500_001)  # over-enforcement
    assert _code(refused) == 4001
    lien = p.enforce(lien, BANK, 100_000)
    assert (lien.status, lien.enforced_kg, lien.remaining_kg) == (p.DEFAULTED, 100_000, 400_000)
    lien = p.enforce(lien, BANK)
    assert (lien.status, lien.remaining_kg) == (p.ENFORCED, 0)


def test_the_sum_of_liens_never_exceeds_the_balance() -> None:
    first = _active(700_000)
    with pytest.raises(RegistryError) as refused:
        p.request("lien_2", p.UNITS, ACC, HOLDER, BANK, 300_001, 1_000_000, [first])
    assert _code(refused) == 4001
    # two requests within the free balance each; the second acceptance finds the first one active
    a = p.request("lien_a", p.UNITS, "acc_2", HOLDER, BANK, 600, 1_000, [])
    b = p.request("lien_b", p.UNITS, "acc_2", HOLDER, OTHER, 600, 1_000, [])
    a = p.accept(a, BANK, 1_000, [a, b])
    with pytest.raises(RegistryError) as refused:
        p.accept(b, OTHER, 1_000, [a, b])
    assert _code(refused) == 4001
    assert p.check_liens([a, b], {"acc_2": 1_000}) == []
    assert [v.invariant for v in p.check_liens([a], {"acc_2": 599})] == ["LIEN"]


@pytest.mark.parametrize(("asset", "code"), [(p.UNITS, 4003), (p.TOKENS, 7004)])
def test_a_holder_moves_only_free_kg_pledge_then_retire_or_transfer_is_refused(asset: str, code: int) -> None:
    lien = p.accept(p.request("lien_1", asset, ACC, HOLDER, BANK, 500_000, 1_000_000, []), BANK, 1_000_000, [])
    p.check_holder_move(asset, ACC, 500_000, 1_000_000, [lien])  # the free half moves
    with pytest.raises(RegistryError) as refused:
        p.check_holder_move(asset, ACC, 500_001, 1_000_000, [lien])
    assert _code(refused) == code
    released = p.release(lien, BANK)
    p.check_holder_move(asset, ACC, 1_000_000, 1_000_000, [released])  # after release: all of it


def test_a_forced_move_takes_the_free_balance_first_then_the_newest_lien() -> None:
    old = _active(300_000, lien_id="lien_old")
    new = _active(400_000, lien_id="lien_new", liens=[old])
    liens = [old, new]
    assert p.forced_move(300_000, 1_000_000, liens, ACC) == []  # 300,000 kg free
    assert p.forced_move(500_000, 1_000_000, liens, ACC) == [("lien_new", 200_000)]
    assert p.forced_move(1_000_000, 1_000_000, liens, ACC) == [("lien_new", 400_000), ("lien_old", 300_000)]
    with pytest.raises(RegistryError) as refused:
        p.forced_move(1_000_001, 1_000_000, liens, ACC)
    assert _code(refused) == 4001


def test_quantities_are_positive_integer_kg_and_no_self_pledge() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(RegistryError) as refused:
            p.request("lien_1", p.UNITS, ACC, HOLDER, BANK, bad, 1_000_000, [])  # type: ignore[arg-type]
        assert _code(refused) == 2003
    with pytest.raises(RegistryError) as refused:
        p.request("lien_1", p.UNITS, ACC, HOLDER, HOLDER, 1, 1_000_000, [])
    assert _code(refused) == 3005
