"""Retirement: units are used for a claim and become final, with beneficiary, purpose and claim year.

| rule | code |
|---|---|
| the caller controls the account | 1002 |
| the account is active | 3004 |
| purpose is one of domestic_compliance, voluntary, ndc, oimp, corsia | 1003 |
| beneficiary names a name and an ISO country; claim year is a plausible year | 1003 |
| the units are free in the account (see ``holdings``) | 4001-4006 |
| the purpose is allowed for every unit's standard: international voluntary units (VCS, GS) serve voluntary claims only | 5001 USE_NOT_ALLOWED |
| international purposes (oimp, corsia) need an Article 6 authorization | 6001 NOT_AUTHORIZED |

Retired units are final (I3): they never change state again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, carve
from sovcarbon.domain.model import Block, BlockState, Purpose
from sovcarbon.domain.standards import RegistryProfile

MIN_CLAIM_YEAR = 1990
MAX_CLAIM_YEAR = 2100


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
