"""Transfer: units move from one account to another, whole blocks or split to the kilogram.

| rule | code |
|---|---|
| exactly one of quantity_kg or serials | 1003 |
| the caller is the holder: a holding role on its own participant's account (``access``) | 1002 |
| quantity is a positive integer number of kg | 2003 |
| serials are well-formed, inside one issuance, not overlapping | 2002 |
| both accounts active; they differ; the acquiring account can hold units | 3004 / 3005 / 1003 |
| the acquiring account is a holding account of an active participant (``accounts``) | 1003 / 3004 |
| the units are free in the transferring account (see ``holdings``) | 4001-4006 |

The moved part keeps its state (held) and changes holder; remainders stay where they were.
"""

from __future__ import annotations

from collections.abc import Callable

from sovcarbon.domain.holdings import Movement, Pick, carve


def plan_transfer(picks: list[Pick], to_account_id: str, txn_id: str, new_id: Callable[[], str]) -> Movement:
    return carve(picks, txn_id, new_id, account_id=to_account_id)
