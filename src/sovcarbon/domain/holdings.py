"""Which units an account may move, and how a movement splits blocks.

Rules of a selection, checked by ``check_selection`` in this order (the first that fails decides the code):

| rule | code |
|---|---|
| a project filter names a project of this registry | 1005 NOT_FOUND |
| named serials are well-formed, at least one range, not overlapping | 2002 |
| named serials were issued here, and lie inside their issuance | 4002 / 2002 |
| a retired or cancelled kilogram never moves again | 4004 UNITS_FINAL |
| an exported kilogram cannot be used here | 4005 UNITS_EXPORTED |
| the named units must be held by the transferring account | 4002 UNITS_NOT_HELD |
| units under a discrepancy freeze cannot move | 4006 UNITS_FROZEN |
| immobilized, pledged or in-transit units cannot be moved by the holder | 4003 UNITS_LOCKED |
| a quantity (instead of serials) is a positive integer number of kg | 2003 QUANTITY_INVALID |
| a quantity restricted to some standards (a use) is short of them while the free balance is not | 5001 USE_NOT_ALLOWED |
| a quantity that fits only by counting the account's pledged units (liens) | 4003 UNITS_LOCKED |
| a quantity can only come from the account's free balance | 4001 INSUFFICIENT_BALANCE |

Rows 4004-4003 run for every leaf a named serial range touches; 2003-4001 only for a quantity.

Selection by quantity is deterministic: lowest serials first (serial prefix, then first kg).
A movement consumes leaf blocks and creates children: the moved part plus untouched remainders on
either side; the parent is never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import FINAL_STATES, LOCKED_STATES, Block, BlockState
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.domain.serials import SerialRange, format_serial, parse_serial_list


@dataclass(frozen=True)
class Pick:
    """Part of a leaf block chosen for a movement: kilograms first_kg..last_kg of ``block``."""

    block: Block
    first_kg: int
    last_kg: int

    @property
    def quantity_kg(self) -> int:
        return self.last_kg - self.first_kg + 1


@dataclass(frozen=True)
class Movement:
    consumed: list[Block]
    created: list[Block]
    moved: list[Block]

    @property
    def quantity_kg(self) -> int:
        return sum(b.quantity_kg for b in self.moved)


def check_movable(block: Block, account_id: str, *, allow_states: frozenset[BlockState] | None = None) -> None:
    """Raise the code that says why ``account_id`` may not move ``block`` (see the table above)."""
    serial = format_serial(block.serial_prefix, block.first_kg, block.last_kg)
    if block.state in FINAL_STATES:
        raise RegistryError(4004, f"units are {block.state} and final", serial=serial)
    if block.state == BlockState.EXPORTED:
        raise RegistryError(4005, "units were exported to another registry", serial=serial)
    if block.account_id != account_id:
        raise RegistryError(4002, "units are not held by this account", serial=serial, account_id=account_id)
    if block.frozen:
        raise RegistryError(4006, "units are frozen", serial=serial)
    allowed = allow_states if allow_states is not None else frozenset({BlockState.HELD})
    if block.state not in allowed:
        if block.state in LOCKED_STATES:
            raise RegistryError(4003, f"units are {block.state}", serial=serial)
        raise RegistryError(4002, f"units are {block.state}", serial=serial)


def pick_by_quantity(candidates: Iterable[Block], quantity_kg: int) -> list[Pick]:
    """Take ``quantity_kg`` from free leaf blocks given in serial order, lowest serials first.

    Returns fewer kilograms than asked when the candidates run out; the caller decides the error.
    """
    assert quantity_kg > 0
    picks: list[Pick] = []
    remaining = quantity_kg
    for block in candidates:
        if remaining == 0:
            break
        take = min(remaining, block.quantity_kg)
        picks.append(Pick(block, block.first_kg, block.first_kg + take - 1))
        remaining -= take
    return picks


def pick_by_serials(
    ranges: list[SerialRange],
    leaves_for: Callable[[SerialRange], list[Block]],
    account_id: str,
    *,
    allow_states: frozenset[BlockState] | None = None,
) -> list[Pick]:
    """Pick exactly the named ranges; every leaf they touch must be movable by ``account_id``."""
    picks: list[Pick] = []
    for rng in ranges:
        leaves = sorted(leaves_for(rng), key=lambda b: b.first_kg)
        covered = sum(min(b.last_kg, rng.last_kg) - max(b.first_kg, rng.first_kg) + 1 for b in leaves)
        if covered != rng.quantity_kg:
            raise RegistryError(4002, "named serials do not exist in this registry", serial=str(rng))
        for leaf in leaves:
            check_movable(leaf, account_id, allow_states=allow_states)
        for leaf in leaves:
            picks.append(Pick(leaf, max(leaf.first_kg, rng.first_kg), min(leaf.last_kg, rng.last_kg)))
    return picks


def carve(picks: list[Pick], txn_id: str, new_id: Callable[[], str], **change: object) -> Movement:
    """Split each picked leaf into the moved part(s), which get ``change`` applied, and the untouched rest.

    A leaf may be picked more than once (e.g. two non-adjacent serial ranges inside one block): it is
    consumed once and its children alternate between untouched gaps and moved parts, in serial order.
    """
    by_leaf: dict[str, list[Pick]] = {}
    for pick in picks:
        by_leaf.setdefault(pick.block.id, []).append(pick)
    consumed: list[Block] = []
    created: list[Block] = []
    moved: list[Block] = []
    for leaf_picks in by_leaf.values():
        block = leaf_picks[0].block
        consumed.append(block)
        position = block.first_kg
        for pick in sorted(leaf_picks, key=lambda p: p.first_kg):
            assert position <= pick.first_kg <= pick.last_kg <= block.last_kg, "picks of one leaf overlap"
            if pick.first_kg > position:
                created.append(block.child(new_id(), txn_id, position, pick.first_kg - 1))
            mid = block.child(new_id(), txn_id, pick.first_kg, pick.last_kg, **change)
            created.append(mid)
            moved.append(mid)
            position = pick.last_kg + 1
        if position <= block.last_kg:
            created.append(block.child(new_id(), txn_id, position, block.last_kg))
    # Postcondition: the children tile exactly the consumed parents (I1/I2 locally).
    assert sum(b.quantity_kg for b in created) == sum(b.quantity_kg for b in consumed)
    return Movement(consumed=consumed, created=created, moved=moved)


@dataclass(frozen=True)
class IssuedPrefix:
    """What a selection needs of the issuance a serial prefix names."""

    status: str
    quantity_kg: int


@dataclass(frozen=True)
class SelectionFacts:
    """Everything a selection of units is checked against, read before any rule runs
    (``services.movements.load_selection``). Either ``serials`` or ``quantity_kg`` is the request's."""

    account_id: str
    allow_state: BlockState = BlockState.HELD
    project_id: str | None = None
    project_found: bool = True
    serials: tuple[object, ...] | None = None
    # serial mode: the issuance each prefix names (None: none), and the leaves each parsed range touches
    # (in the order of ``parse_serial_list``; empty when an earlier rule already fails)
    issuances: Mapping[str, IssuedPrefix | None] = field(default_factory=dict)
    leaves: tuple[tuple[Block, ...], ...] = ()
    # quantity mode: the account's free leaves, lowest serials first, as many as cover the quantity
    quantity_kg: object = None
    standards: tuple[str, ...] | None = None
    candidates: tuple[Block, ...] = ()
    free_any_kg: int | None = None  # free kg of any standard; read only when the allowed standards fall short
    pledged_kg: int | None = None  # the account's pledged kg (liens); read only when the free kg fall short


def require_issued(rng: SerialRange, issued: IssuedPrefix | None) -> None:
    """A named range lies inside an issued issuance (4002, then 2002)."""
    if issued is None or issued.status != "issued":
        raise RegistryError(4002, "no issued units carry these serials", serial=str(rng))
    if rng.last_kg > issued.quantity_kg:
        raise RegistryError(2002, "serial range runs past the end of its issuance", serial=str(rng),
                            issued_kg=issued.quantity_kg)


def check_selection(facts: SelectionFacts) -> list[Pick]:
    """The units a movement acts on, or the code of the first rule of the table above that fails."""
    if not facts.project_found:
        raise RegistryError(1005, f"project {facts.project_id} not found", id=facts.project_id)
    if facts.serials is not None:
        ranges = parse_serial_list(list(facts.serials))
        for rng in ranges:
            require_issued(rng, facts.issuances.get(rng.prefix))
        assert len(facts.leaves) == len(ranges), "the leaves of every named range are read"
        leaves = dict(zip(ranges, facts.leaves, strict=True))
        return pick_by_serials(ranges, lambda r: list(leaves[r]), facts.account_id,
                               allow_states=frozenset({facts.allow_state}))
    quantity = require_quantity(facts.quantity_kg)
    picks = pick_by_quantity(facts.candidates, quantity)
    got = sum(p.quantity_kg for p in picks)
    if got < quantity:
        if facts.standards is not None and facts.free_any_kg is not None and facts.free_any_kg >= quantity:
            raise RegistryError(5001, "the account's free units of a standard allowed for this use are short",
                                requested_kg=quantity, eligible_kg=got, allowed_standards=list(facts.standards))
        if facts.pledged_kg is not None and got + facts.pledged_kg >= quantity:
            raise RegistryError(4003, "the quantity fits only with pledged units: pledged kg move only by release "
                                      "or enforcement of their lien", requested_kg=quantity, available_kg=got,
                                pledged_kg=facts.pledged_kg, account_id=facts.account_id)
        raise RegistryError(4001, "quantity above the account's free balance", requested_kg=quantity,
                            available_kg=got, account_id=facts.account_id)
    return picks
