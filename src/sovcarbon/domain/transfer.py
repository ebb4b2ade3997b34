"""Transfer: units move from one account to another, whole blocks or split to the kilogram.

``check_transfer`` checks these rules in this order (the first that fails decides the code):

| rule | code |
|---|---|
| exactly one of quantity_kg or serials (the request model, before anything is read) | 1003 |
| the transferring account exists | 1005 |
| the caller is the holder: a holding role on its own participant's account (``access``) | 1002 |
| the acquiring account exists | 1005 |
| the accounts differ; both are active; the acquiring account can hold units (``accounts``) | 3005 / 3004 / 1003 |
| the acquiring account is a holding account of an active participant (``accounts``) | 1003 / 3004 |
| the selection: a project filter names a project; serials are well-formed and issued (``holdings``) | 1005 / 2002 / 4002 |
| named units are free in the transferring account (``holdings``) | 4004 / 4005 / 4002 / 4006 / 4003 |
| a quantity is a positive integer number of kg | 2003 |
| a quantity comes from the free balance (``holdings``) | 4001 |

The moved part keeps its state (held) and changes holder; remainders stay where they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_holder_destination, require_participant_active, require_transfer_pair
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, SelectionFacts, carve, check_selection
from sovcarbon.domain.model import Account, Actor


@dataclass(frozen=True)
class TransferFacts:
    """What a transfer is checked against, read before any rule runs (``services.transfers.load_facts``)."""

    actor: Actor
    from_account_id: str
    to_account_id: str
    source: Account | None
    destination: Account | None
    destination_participant_status: str | None  # read only when the two accounts' participants differ
    units: SelectionFacts | None  # read only when both accounts exist


@dataclass(frozen=True)
class TransferPlan:
    source: Account
    destination: Account
    picks: tuple[Pick, ...]

    def movement(self, txn_id: str, new_id: Callable[[], str]) -> Movement:
        return plan_transfer(list(self.picks), self.destination.id, txn_id, new_id)


def check_transfer(facts: TransferFacts) -> TransferPlan:
    """The rules of the table above, in its order; returns what to move where."""
    source, destination = facts.source, facts.destination
    if source is None:
        raise RegistryError(1005, f"account {facts.from_account_id} not found", id=facts.from_account_id)
    require_controls(facts.actor, source, "transfer")
    if destination is None:
        raise RegistryError(1005, f"account {facts.to_account_id} not found", id=facts.to_account_id)
    require_transfer_pair(source, destination)
    require_holder_destination(destination)
    if destination.participant_id != source.participant_id:
        require_participant_active(facts.destination_participant_status or "unknown", destination, "acquiring")
    assert facts.units is not None, "the units are read when both accounts exist"
    return TransferPlan(source, destination, tuple(check_selection(facts.units)))


def plan_transfer(picks: list[Pick], to_account_id: str, txn_id: str, new_id: Callable[[], str]) -> Movement:
    return carve(picks, txn_id, new_id, account_id=to_account_id)
