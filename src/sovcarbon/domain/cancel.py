"""Cancellation: units are withdrawn (correction, reversal, voluntary cancellation), four-eyes.

A request, checked by ``check_request`` in this order:

| rule | code |
|---|---|
| a registry admin requests for any account; a holding role for its own participant's accounts | 1002 |
| the account exists | 1005 |
| a holder's request is for an account it controls (``access.require_controls``) | 1002 |
| the account is active | 3004 |
| the units are free in the account (the selection, see ``holdings``) | 4001-4006 |

Its approval (or rejection), checked by ``check_approval`` (``check_decision`` for a rejection) in this order:

| rule | code |
|---|---|
| only a registry approver (or admin, refused by four-eyes) decides | 1002 |
| the cancellation exists | 1005 |
| only a pending request is approved or rejected | 3002 APPROVAL_REQUIRED |
| a registry_approver approves, never the requester (``access.require_four_eyes``) | 3003 / 1002 |
| the account is still active | 3004 |
| the units are checked again at approval: free in the account then (see ``holdings``) | 4001-4006 |

After either check the service asks Article 6 whether the units may leave (``services.article6_use.check_domestic_exit``:
it reads the units' authorizations). Cancelled units are final (I3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sovcarbon.domain.access import require_controls, require_four_eyes, require_role
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, SelectionFacts, carve, check_selection
from sovcarbon.domain.model import HOLDING_ROLES, Account, Actor, BlockState, Role

REQUESTERS = (Role.REGISTRY_ADMIN, *HOLDING_ROLES)
DECIDERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides


@dataclass(frozen=True)
class RequestFacts:
    """What a cancellation request is checked against (``services.cancellations.load_request_facts``)."""

    actor: Actor
    account_id: str
    account: Account | None
    units: SelectionFacts | None  # read when the account exists


@dataclass(frozen=True)
class Pending:
    """The stored request, as a decision needs it."""

    id: str
    status: str
    requested_by_key: str
    requested_by_name: str


@dataclass(frozen=True)
class ApprovalFacts:
    """What an approval is checked against (``services.cancellations.load_approval_facts``)."""

    actor: Actor
    cancellation_id: str
    cancellation: Pending | None
    account: Account | None  # read when the cancellation exists
    units: SelectionFacts | None  # read when the cancellation is pending and its account exists


@dataclass(frozen=True)
class CancellationPlan:
    account: Account
    picks: tuple[Pick, ...]

    def movement(self, txn_id: str, new_id: Callable[[], str]) -> Movement:
        return plan_cancellation(list(self.picks), txn_id, new_id)


def check_request(facts: RequestFacts) -> CancellationPlan:
    """The request table's rows, in its order."""
    require_role(facts.actor, REQUESTERS, "request cancellation")
    if facts.account is None:
        raise RegistryError(1005, f"account {facts.account_id} not found", id=facts.account_id)
    if facts.actor.role != Role.REGISTRY_ADMIN:
        require_controls(facts.actor, facts.account, "cancel")
    require_active(facts.account, "cancelling")
    assert facts.units is not None, "the units are read when the account exists"
    return CancellationPlan(facts.account, tuple(check_selection(facts.units)))


def check_decision(actor: Actor, cancellation_id: str, cancellation: Pending | None, action: str) -> Pending:
    """The approval table's first four rows (a rejection has only these)."""
    require_role(actor, DECIDERS, action)
    if cancellation is None:
        raise RegistryError(1005, f"cancellation {cancellation_id} not found", id=cancellation_id)
    require_pending(cancellation.status, cancellation.id)
    require_four_eyes(actor, cancellation.requested_by_key, cancellation.requested_by_name, action)
    return cancellation


def check_approval(facts: ApprovalFacts) -> CancellationPlan:
    """The approval table's rows, in its order."""
    check_decision(facts.actor, facts.cancellation_id, facts.cancellation, "approve cancellation")
    assert facts.account is not None, "a stored cancellation names an existing account"
    require_active(facts.account, "cancelling")
    assert facts.units is not None, "the units of a pending cancellation are read"
    return CancellationPlan(facts.account, tuple(check_selection(facts.units)))


def require_pending(status: str, cancellation_id: str) -> None:
    if status != "pending_approval":
        raise RegistryError(3002, f"cancellation {cancellation_id} is {status}, not awaiting approval",
                            cancellation_id=cancellation_id, status=status)


def plan_cancellation(picks: list[Pick], txn_id: str, new_id: Callable[[], str]) -> Movement:
    return carve(picks, txn_id, new_id, state=BlockState.CANCELLED)
