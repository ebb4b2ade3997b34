"""Retirement: units are used for a claim and become final, with beneficiary, purpose and claim year.

| rule | code |
|---|---|
| purpose is one of domestic_compliance, voluntary, ndc, oimp, corsia; beneficiary names a name and an ISO country (the request model, before anything is read) | 1003 |
| the account exists | 1005 |
| the caller controls the account | 1002 |
| the account is active | 3004 |
| the selection: project filter, serials, units free in the account, quantity (see ``holdings``) | 1005 / 2002 / 4002-4006 / 2003 |
| a quantity is taken from units whose standard allows the purpose only (see ``holdings``) | 5001 / 4001 |
| claim year is a plausible year | 1003 |
| the purpose is allowed for every unit's standard: international voluntary units (VCS, GS) serve voluntary claims only | 5001 USE_NOT_ALLOWED |
| international purposes (oimp, corsia) need an Article 6 authorization | 6001 NOT_AUTHORIZED |

``check_retirement`` checks the rows up to the selection, in this order. The last three rows are the use of
the units, which every path to a retirement shares (an NR request, a token burn): ``check_use_of`` when the
retirement is recorded, then the Article 6 use plan (``services.article6_use.plan_use``: it reads the units'
authorizations).

Retired units are final (I3): they never change state again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, SelectionFacts, carve, check_selection
from sovcarbon.domain.model import Account, Actor, Block, BlockState, Purpose
from sovcarbon.domain.standards import RegistryProfile

MIN_CLAIM_YEAR = 1990
MAX_CLAIM_YEAR = 2100


@dataclass(frozen=True)
class RetirementFacts:
    """What a retirement request is checked against (``services.retirements.load_facts``)."""

    actor: Actor
    account_id: str
    account: Account | None
    units: SelectionFacts | None  # read when the account exists


@dataclass(frozen=True)
class RetirementPlan:
    account: Account
    picks: tuple[Pick, ...]


def check_retirement(facts: RetirementFacts) -> RetirementPlan:
    """The request's rows of the table above, in its order; the use rows follow in ``check_use_of``."""
    if facts.account is None:
        raise RegistryError(1005, f"account {facts.account_id} not found", id=facts.account_id)
    require_controls(facts.actor, facts.account, "retire")
    require_active(facts.account, "retiring")
    assert facts.units is not None, "the units are read when the account exists"
    return RetirementPlan(facts.account, tuple(check_selection(facts.units)))


def check_use_of(profile: RegistryProfile, picks: Iterable[Pick], purpose: Purpose, claim_year: int) -> None:
    """The use rows of the table (claim year, then the purpose per standard), on every path to a retirement."""
    check_claim_year(claim_year)
    check_use(profile, (p.block for p in picks), purpose)


def purpose_allowed(profile: RegistryProfile, standard_code: str, purpose: Purpose) -> bool:
    return purpose in profile.standard(standard_code).allowed_purposes


def check_use(profile: RegistryProfile, blocks: Iterable[Block], purpose: Purpose) -> None:
    for block in blocks:
        if not purpose_allowed(profile, block.standard, purpose):
            raise RegistryError(5001, f"{block.standard} units may not be used for {purpose}",
                                standard=block.standard, purpose=str(purpose))


def check_claim_year(claim_year: int) -> None:
    if not (MIN_CLAIM_YEAR <= claim_year <= MAX_CLAIM_YEAR):
        raise RegistryError(1003, f"claim_year must lie between {MIN_CLAIM_YEAR} and {MAX_CLAIM_YEAR}",
                            claim_year=claim_year)


def plan_retirement(picks: list[Pick], txn_id: str, new_id: Callable[[], str]) -> Movement:
    return carve(picks, txn_id, new_id, state=BlockState.RETIRED)
