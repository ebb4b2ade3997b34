"""The first transfer of Article 6 units and its corresponding adjustment (one per vintage), planned and
written in the transaction (and the journal entry) of the operation that causes it, and the AEF action rows
every Article 6 operation writes. Never twice for the same kilogram (I6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.serials import SerialRange
from sovcarbon.services.article6 import first_transfers_in, itmo_ids, range_of
from sovcarbon.store import article6_tables as a6
from sovcarbon.store.uow import UnitOfWork


@dataclass
class Piece:
    """Part of a movement under one LoA: a serial range with its vintage."""

    rng: SerialRange
    vintage: int
    loa_id: str


@dataclass
class FirstTransferPlan:
    """Kilograms first-transferred by one operation under one LoA, and their adjustments (one per vintage)."""

    loa: rules.Loa
    event: str
    purpose: rules.LoaPurpose
    pieces: list[Piece]
    adjustments: dict[int, tuple[str, int]] = field(default_factory=dict)  # vintage -> (ca id, kg)

    @property
    def quantity_kg(self) -> int:
        return sum(p.rng.quantity_kg for p in self.pieces)

    def payload(self, registry: str, party: str) -> dict[str, Any]:
        return {"authorization_id": self.loa.id, "event": self.event, "purpose": str(self.purpose),
                "first_transfers": [{"serial": str(p.rng), "vintage": p.vintage, "quantity_kg": p.rng.quantity_kg,
                                     "itmo_first_id": itmo_ids(self.loa, registry, party, p.rng, p.vintage)[0],
                                     "itmo_last_id": itmo_ids(self.loa, registry, party, p.rng, p.vintage)[1],
                                     "ca_id": self.adjustments[p.vintage][0]} for p in self.pieces],
                "corresponding_adjustments": [{"id": ca, "party": party, "vintage": v, "quantity_kg": kg,
                                               "method": str(self.loa.ca_method)}
                                              for v, (ca, kg) in self.adjustments.items()]}


def plan_first_transfer(uow: UnitOfWork, loa: rules.Loa, pieces: Iterable[Piece], event: str,
                        purpose: rules.LoaPurpose) -> FirstTransferPlan | None:
    """The kilograms of ``pieces`` not yet first-transferred; None if there are none (never twice, I6)."""
    fresh: list[Piece] = []
    for p in pieces:
        done = [range_of(r) for r in first_transfers_in(uow, p.rng)]
        fresh += [Piece(part, p.vintage, p.loa_id) for part in rules.subtract(p.rng, done)]
    if not fresh:
        return None
    by_vintage = rules.adjustments_by_vintage((p.vintage, p.rng.quantity_kg) for p in fresh)
    plan = FirstTransferPlan(loa, event, purpose, fresh, {v: (new_id("ca"), kg) for v, kg in by_vintage.items()})
    assert sum(kg for _, kg in plan.adjustments.values()) == plan.quantity_kg
    return plan


def apply_first_transfer(uow: UnitOfWork, plan: FirstTransferPlan, party: str, seq: int, txn_id: str | None,
                         action: dict[str, Any]) -> None:
    """Write the first transfers, their adjustments and the AEF first-transfer actions (same transaction)."""
    year = int(uow.now[:4])
    uow.repo.insert_many(a6.a6_adjustments, [
        dict(id=ca, loa_id=plan.loa.id, party_code=party, vintage=v, quantity_kg=kg, method=str(plan.loa.ca_method),
             year=year, journal_seq=seq, created_at=uow.now) for v, (ca, kg) in plan.adjustments.items()])
    uow.repo.insert_many(a6.a6_first_transfers, [
        dict(loa_id=plan.loa.id, serial_prefix=p.rng.prefix, first_kg=p.rng.first_kg, last_kg=p.rng.last_kg,
             quantity_kg=p.rng.quantity_kg, vintage=p.vintage, event=plan.event, purpose=str(plan.purpose),
             txn_id=txn_id, ca_id=plan.adjustments[p.vintage][0], journal_seq=seq, created_at=uow.now)
        for p in plan.pieces])
    insert_actions(uow, rules.ActionType.FIRST_TRANSFER, plan.pieces, seq, txn_id,
                   {**action, "purpose": str(plan.purpose), "first_transfer": True})


def insert_actions(uow: UnitOfWork, action_type: rules.ActionType, pieces: Sequence[Piece], seq: int,
                   txn_id: str | None, extra: dict[str, Any]) -> None:
    if not pieces:
        return
    base = {"purpose": None, "first_transfer": False, "transferring_party": None, "acquiring_party": None,
            "acquiring_registry": None, "acquiring_entity": None, "using_entity": None}
    base.update(extra)
    year = int(uow.now[:4])
    uow.repo.insert_many(a6.a6_actions, [
        dict(base, action_type=str(action_type), year=year, action_at=uow.now, loa_id=p.loa_id,
             serial_prefix=p.rng.prefix, first_kg=p.rng.first_kg, last_kg=p.rng.last_kg,
             quantity_kg=p.rng.quantity_kg, vintage=p.vintage, txn_id=txn_id, journal_seq=seq) for p in pieces])
