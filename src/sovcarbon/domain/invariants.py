"""The registry's invariants (RULES.md I1-I7) as pure checks over a snapshot of the ledger.

One entry point, ``check``, returns every violation found; an empty list means the ledger holds.
The checks of later capabilities (tokens: I4 ``domain.tokenize.check_mirror``, Article 6: I6
``domain.article6.check_i6``, signed checkpoints: I5 ``domain.checkpoints.invariant_check``) are passed
in explicitly: ``services.invariants.CHECKS`` lists them (nothing registers itself on import).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain.journal import verify_chain
from sovcarbon.domain.model import FINAL_STATES


@dataclass(frozen=True)
class BlockFact:
    id: str
    issuance_id: str
    parent_id: str | None
    first_kg: int
    last_kg: int
    state: str
    is_leaf: bool


@dataclass
class LedgerSnapshot:
    issued: dict[str, int]  # issuance id -> quantity_kg, issued issuances only
    blocks: list[BlockFact]
    journal: list[tuple[int, bytes, str, str]]
    journal_head: tuple[int, str] | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str


Check = Callable[[LedgerSnapshot], list[Violation]]


def check(snapshot: LedgerSnapshot, extra_checks: Sequence[Check] = ()) -> list[Violation]:
    """I1-I3 and I5 (the chain of the journal), then each of ``extra_checks`` in order."""
    violations: list[Violation] = []
    violations += _conservation_and_single_state(snapshot)
    violations += _finality(snapshot)
    violations += _journal(snapshot)
    for extra in extra_checks:
        violations += extra(snapshot)
    return violations


def _conservation_and_single_state(s: LedgerSnapshot) -> list[Violation]:
    out: list[Violation] = []
    leaves: dict[str, list[BlockFact]] = defaultdict(list)
    children: dict[str, list[BlockFact]] = defaultdict(list)
    by_id = {b.id: b for b in s.blocks}
    for b in s.blocks:
        if b.issuance_id not in s.issued:
            out.append(Violation("I1", f"block {b.id} belongs to no issued issuance"))
        if b.is_leaf:
            leaves[b.issuance_id].append(b)
        if b.parent_id is not None:
            children[b.parent_id].append(b)
    for iss_id, qty in s.issued.items():
        ls = sorted(leaves.get(iss_id, []), key=lambda b: b.first_kg)
        total = sum(b.last_kg - b.first_kg + 1 for b in ls)
        if total != qty:
            out.append(Violation("I1", f"issuance {iss_id}: issued {qty} kg but leaves hold {total} kg"))
        expected = 1
        for b in ls:
            if b.first_kg != expected:
                out.append(Violation("I2", f"issuance {iss_id}: leaf {b.id} starts at {b.first_kg}, expected {expected}"))
                break
            expected = b.last_kg + 1
        else:
            if ls and expected != qty + 1:
                out.append(Violation("I2", f"issuance {iss_id}: leaves end at {expected - 1}, issued {qty}"))
    # Lineage: every consumed block is covered exactly by its children, which lie inside it.
    for b in s.blocks:
        kids = sorted(children.get(b.id, []), key=lambda c: c.first_kg)
        if b.is_leaf and kids:
            out.append(Violation("I2", f"leaf {b.id} has children"))
        if not b.is_leaf:
            if not kids:
                out.append(Violation("I2", f"consumed block {b.id} has no children"))
                continue
            pos = b.first_kg
            for c in kids:
                if c.first_kg != pos or c.issuance_id != b.issuance_id:
                    out.append(Violation("I2", f"children of {b.id} do not tile it"))
                    break
                pos = c.last_kg + 1
            else:
                if pos != b.last_kg + 1:
                    out.append(Violation("I2", f"children of {b.id} do not cover it"))
    for b in s.blocks:
        if b.parent_id is not None and b.parent_id not in by_id:
            out.append(Violation("I2", f"block {b.id} names a missing parent {b.parent_id}"))
    return out


def _finality(s: LedgerSnapshot) -> list[Violation]:
    # Every change consumes leaves; a final block that was consumed has changed state again.
    return [Violation("I3", f"final block {b.id} ({b.state}) was changed again")
            for b in s.blocks if b.state in FINAL_STATES and not b.is_leaf]


def _journal(s: LedgerSnapshot) -> list[Violation]:
    result = verify_chain(s.journal)
    out: list[Violation] = []
    if not result.ok:
        out.append(Violation("I5", f"journal breaks at seq {result.first_bad_seq}: {result.reason}"))
    elif s.journal_head is not None and (result.head_seq, result.head_hash) != s.journal_head:
        out.append(Violation("I5", f"journal head {s.journal_head} differs from the verified chain "
                                   f"({result.head_seq}, {result.head_hash})"))
    return out
