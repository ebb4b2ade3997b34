"""Block selection and splitting are pure: lowest serials first, children tile the parent exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import carve, check_movable, pick_by_quantity
from sovcarbon.domain.model import Block, BlockState

counter = itertools.count()


def new_id() -> str:
    return f"blk_{next(counter)}"


def block(first: int, last: int, state: BlockState = BlockState.HELD, account: str = "acc_a", frozen: bool = False,
          prefix: str = "TH-PTVER-00001-2025-001") -> Block:
    return Block(id=new_id(), issuance_id="iss_1", project_id="prj_1", standard="PREMIUM_T-VER", vintage=2025,
                 serial_prefix=prefix, first_kg=first, last_kg=last, state=state, account_id=account, parent_id=None,
                 txn_id="txn_0", frozen=frozen)


def test_partial_pick_takes_lowest_serials_and_keeps_the_remainder() -> None:
    parent = block(1, 1000)
    picks = pick_by_quantity([parent], 300)
    movement = carve(picks, "txn_1", new_id, account_id="acc_b")
    created = [(b.first_kg, b.last_kg, b.account_id) for b in movement.created]
    assert created == [(1, 300, "acc_b"), (301, 1000, "acc_a")]
    assert movement.consumed == [parent]
    assert all(b.parent_id == parent.id for b in movement.created)
    assert movement.quantity_kg == 300


def test_pick_spans_blocks_in_the_given_order() -> None:
    blocks = [block(1, 100), block(101, 200), block(201, 300)]
    picks = pick_by_quantity(blocks, 150)
    assert [(p.first_kg, p.last_kg) for p in picks] == [(1, 100), (101, 150)]


def test_middle_carve_leaves_both_remainders() -> None:
    from sovcarbon.domain.holdings import Pick

    parent = block(1, 100)
    movement = carve([Pick(parent, 40, 60)], "txn_2", new_id, state=BlockState.RETIRED)
    assert [(b.first_kg, b.last_kg, b.state) for b in movement.created] == [
        (1, 39, BlockState.HELD), (40, 60, BlockState.RETIRED), (61, 100, BlockState.HELD)]


@pytest.mark.parametrize(("state", "account", "frozen", "code"), [
    (BlockState.RETIRED, "acc_a", False, 4004), (BlockState.CANCELLED, "acc_b", False, 4004),
    (BlockState.EXPORTED, "acc_a", False, 4005), (BlockState.HELD, "acc_b", False, 4002),
    (BlockState.HELD, "acc_a", True, 4006), (BlockState.IMMOBILIZED, "acc_a", False, 4003),
    (BlockState.PLEDGED, "acc_a", False, 4003), (BlockState.IN_TRANSIT, "acc_a", False, 4003),
])
def test_check_movable_codes(state: BlockState, account: str, frozen: bool, code: int) -> None:
    with pytest.raises(RegistryError) as exc:
        check_movable(block(1, 10, state=state, account=account, frozen=frozen), "acc_a")
    assert exc.value.code == code


@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20), want=st.integers(1, 100_000))
def test_carve_conserves_every_kilogram(sizes: list[int], want: int) -> None:
    blocks, pos = [], 1
    for size in sizes:
        blocks.append(block(pos, pos + size - 1))
        pos += size
    picks = pick_by_quantity(blocks, want)
    movement = carve(picks, "txn_p", new_id, account_id="acc_b")
    assert movement.quantity_kg == min(want, pos - 1)
    assert sum(b.quantity_kg for b in movement.created) == sum(b.quantity_kg for b in movement.consumed)
    # The moved kilograms are the lowest ones.
    assert sorted(b.first_kg for b in movement.moved)[0] == 1


def test_two_ranges_inside_one_leaf() -> None:
    from sovcarbon.domain.holdings import Pick

    parent = block(1, 100)
    movement = carve([Pick(parent, 60, 70), Pick(parent, 10, 20)], "txn_3", new_id, account_id="acc_b")
    assert movement.consumed == [parent]
    assert [(b.first_kg, b.last_kg, b.account_id) for b in movement.created] == [
        (1, 9, "acc_a"), (10, 20, "acc_b"), (21, 59, "acc_a"), (60, 70, "acc_b"), (71, 100, "acc_a")]
    assert movement.quantity_kg == 22
