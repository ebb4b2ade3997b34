"""Cancellation: units are withdrawn (correction, reversal, voluntary cancellation), four-eyes.

| rule | code |
|---|---|
| a registry admin requests for any account; a holder for its own account | 1002 |
| a registry_approver approves (never another admin, never the requester: ``access.require_four_eyes``) | 1002 / 3003 |
| only a pending request is approved or rejected | 3002 APPROVAL_REQUIRED |
| the units are checked again at approval: free in the account then (see ``holdings``) | 4001-4006 |

Cancelled units are final (I3).
"""

from __future__ import annotations

from collections.abc import Callable

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, carve
from sovcarbon.domain.model import BlockState


def require_pending(status: str, cancellation_id: str) -> None:
    if status != "pending_approval":
        raise RegistryError(3002, f"cancellation {cancellation_id} is {status}, not awaiting approval",
                            cancellation_id=cancellation_id, status=status)


def plan_cancellation(picks: list[Pick], txn_id: str, new_id: Callable[[], str]) -> Movement:
    return carve(picks, txn_id, new_id, state=BlockState.CANCELLED)
