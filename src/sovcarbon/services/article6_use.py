"""Use here: the Article 6 check on a retirement or cancellation. International uses (OIMP, CORSIA) need
covered units and plan their first transfers; domestic exits of units under an LoA are refused until
released (6007) and first-transferred units cannot serve a domestic claim (6003)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick
from sovcarbon.domain.model import Purpose
from sovcarbon.domain.serials import SerialRange
from sovcarbon.services.article6 import active_coverage, current, first_transfers_in, range_of, registry_id, today
from sovcarbon.services.article6_first_transfer import (
    FirstTransferPlan,
    Piece,
    apply_first_transfer,
    insert_actions,
    plan_first_transfer,
)
from sovcarbon.services.registry import Registry
from sovcarbon.store.uow import UnitOfWork

INTERNATIONAL_PURPOSES = frozenset({Purpose.OIMP, Purpose.CORSIA})
DOMESTIC_CLAIMS = frozenset({Purpose.DOMESTIC_COMPLIANCE, Purpose.NDC})


@dataclass
class UsePlan:
    """What a retirement means for Article 6: first transfers it causes and the AEF actions it is."""

    registry: str
    party: str
    plans: list[FirstTransferPlan] = field(default_factory=list)
    actions: list[tuple[rules.ActionType, list[Piece], dict[str, Any]]] = field(default_factory=list)

    def journal_fields(self) -> dict[str, Any]:
        if not self.plans and not self.actions:
            return {}
        return {"article6": {
            "first_transfers": [p.payload(self.registry, self.party) for p in self.plans],
            "actions": [{"type": str(kind), "serials": [str(p.rng) for p in pieces]} for kind, pieces, _ in
                        self.actions]}}

    def apply(self, uow: UnitOfWork, txn_id: str, seq: int) -> None:
        for kind, pieces, extra in self.actions:
            insert_actions(uow, kind, pieces, seq, txn_id, extra)
        for plan in self.plans:
            apply_first_transfer(uow, plan, self.party, seq, txn_id, {"transferring_party": self.party})


def _pieces_under_loas(uow: UnitOfWork, picks: Sequence[Pick]) -> tuple[list[Piece], list[SerialRange]]:
    covered: list[Piece] = []
    uncovered: list[SerialRange] = []
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        rows = active_coverage(uow, rng)
        for row in rows:
            part = rules.intersect(rng, range_of(row))
            if part is not None:
                covered.append(Piece(part, pick.block.vintage, row["loa_id"]))
        uncovered += rules.subtract(rng, [range_of(r) for r in rows])
    return covered, uncovered


def _labelled(uow: UnitOfWork, rng: SerialRange, label: rules.Label) -> bool:
    rows = uow.repo.authorizations.labels_overlapping(rng, str(label))
    return not rules.subtract(rng, [range_of(r) for r in rows])


def check_domestic_exit(uow: UnitOfWork, picks: Sequence[Pick], what: str) -> list[Piece]:
    """A domestic retirement or a cancellation: units under an LoA and not first-transferred cannot leave
    this way (6007: the report would lose them; release the coverage first); first-transferred units leave
    as whole ITMOs (6006). Returns the first-transferred pieces."""
    done: list[Piece] = []
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        for row in first_transfers_in(uow, rng):
            part = rules.intersect(rng, range_of(row))
            if part is not None:
                done.append(Piece(part, pick.block.vintage, row["loa_id"]))
    covered, _ = _pieces_under_loas(uow, picks)
    pending = [part for p in covered for part in rules.subtract(p.rng, [d.rng for d in done])]
    if pending:
        raise RegistryError(6007, f"units under an Article 6 authorization and not first-transferred cannot "
                                  f"leave by {what}; release them from the authorization first",
                            serials=[str(r) for r in pending[:20]])
    for d in done:
        rules.require_whole_itmos(d.rng, f"{what} of first-transferred units")
    return done


def plan_use(reg: Registry, uow: UnitOfWork, user_participant_id: str, picks: Sequence[Pick],
             purpose: Purpose) -> UsePlan:
    """Check a retirement by ``user_participant_id`` against Article 6 and plan its first transfers
    (6001, 6003, 6004, 5001)."""
    plan = UsePlan(registry_id(reg, uow), reg.profile.party_code)
    if purpose in INTERNATIONAL_PURPOSES:
        covered, uncovered = _pieces_under_loas(uow, picks)
        if uncovered:
            raise RegistryError(6001, f"use for {purpose} needs units covered by an Article 6 authorization",
                                serials=[str(r) for r in uncovered[:20]])
        participant = uow.repo.participant(user_participant_id)
        by_loa: dict[str, list[Piece]] = defaultdict(list)
        for p in covered:
            by_loa[p.loa_id].append(p)
        for loa_id, pieces in sorted(by_loa.items()):
            loa = current(uow, loa_id)
            rules.require_valid_on(loa, today(uow))
            rules.check_purpose(loa, rules.LoaPurpose.OIMP, rules.CORSIA if purpose == Purpose.CORSIA else None)
            rules.check_user(loa, participant.id, participant.name, reg.profile.party_code)
            if purpose == Purpose.CORSIA:
                for p in pieces:
                    if not _labelled(uow, p.rng, rules.Label.CORSIA_ELIGIBLE):
                        raise RegistryError(5001, "CORSIA use needs units labelled CORSIA-eligible",
                                            serial=str(p.rng))
            for p in pieces:
                rules.require_whole_itmos(p.rng, f"a use for {purpose} of authorized units")
            if rules.first_transfer_at_use(loa):
                ft = plan_first_transfer(uow, loa, pieces, "use", rules.LoaPurpose.OIMP)
                if ft is not None:
                    plan.plans.append(ft)
            # The purpose stays what it was (CORSIA is reported as CORSIA, not as OIMP in general).
            plan.actions.append((rules.ActionType.USE, pieces, {"purpose": str(purpose),
                                                                "using_entity": participant.name}))
        return plan
    done = check_domestic_exit(uow, picks, f"a {purpose} retirement")
    if done and purpose in DOMESTIC_CLAIMS:
        raise RegistryError(6003, f"first-transferred units carry a corresponding adjustment and cannot serve a "
                                  f"{purpose} claim here", serials=[str(p.rng) for p in done[:20]])
    if done:
        participant = uow.repo.participant(user_participant_id)
        plan.actions.append((rules.ActionType.VOLUNTARY_CANCELLATION, done, {"using_entity": participant.name}))
    return plan
