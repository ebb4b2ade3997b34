"""Administrative transfer: an officer moves a holder's units where the law makes it (a court order, a
correction), never alone. PRODUCT.md §4: "Officers administer; they never act on a holder's units.
Where the law makes them, it is an administrative transfer: requested by an admin with a reason,
approved by a registry_approver, journaled as such."

| rule | code |
|---|---|
| only a registry_admin requests | 1002 FORBIDDEN |
| a reason and a legal reference (court order number, correction ticket) are given | 1003 |
| exactly one of quantity_kg or serials; quantity a positive integer | 1003 / 2003 |
| the two accounts differ | 3005 SAME_ACCOUNT |
| the transferring account is active or suspended (a court order may reach a suspended holder); not frozen or closed | 3004 ACCOUNT_NOT_ACTIVE |
| the acquiring account is active, of an active participant, and a holding or buffer account (custody: tokenization only) | 3004 / 1003 |
| the units are in the transferring account, at request and again at approval: by quantity the free balance first, | 4001-4006 |
| then pledged units of the live liens, newest lien first (``pledge.forced_move``; each lien records what it lost); | |
| by serials only free units (pledged serials: 4003) | |
| only a pending request is approved or rejected | 3002 APPROVAL_REQUIRED |
| only a registry_approver approves or rejects, never the requester (``access.require_four_eyes``) | 3003 / 1002 |

In this order at request; an approval checks the role (1002), that the request exists (1005), the last two rows,
then the accounts and the units again. Not yet one pure check (``services/admin_transfers`` runs these
functions in this order; the lien fallback of a quantity reads the liens in ``services/pledges``).

Journal: ``administrative_transfer_requested`` (reason, legal reference, selection),
``administrative_transfer_approved`` (the movement, with the reason, legal reference and requester) or
``administrative_transfer_rejected``. The movement's transaction row has kind ``administrative_transfer``.
"""

from __future__ import annotations

from collections.abc import Callable

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, carve
from sovcarbon.domain.model import Account, AccountKind, AccountStatus, BlockState, ParticipantStatus

PENDING, TRANSFERRED, REJECTED = "pending_approval", "transferred", "rejected"
SOURCE_STATUSES = frozenset({AccountStatus.ACTIVE, AccountStatus.SUSPENDED})
DESTINATION_KINDS = frozenset({AccountKind.HOLDING, AccountKind.BUFFER})


def check_accounts(source: Account, destination: Account, destination_participant_status: str) -> None:
    if source.id == destination.id:
        raise RegistryError(3005, "transferring and acquiring account are the same", account_id=source.id)
    if source.status not in SOURCE_STATUSES:
        raise RegistryError(3004, f"transferring account {source.id} is {source.status}", account_id=source.id,
                            status=str(source.status))
    if destination.status != AccountStatus.ACTIVE:
        raise RegistryError(3004, f"acquiring account {destination.id} is {destination.status}",
                            account_id=destination.id, status=str(destination.status))
    if destination_participant_status != ParticipantStatus.ACTIVE:
        raise RegistryError(3004, f"acquiring account {destination.id} belongs to a "
                                  f"{destination_participant_status} participant", account_id=destination.id)
    if destination.kind not in DESTINATION_KINDS:
        raise RegistryError(1003, f"an administrative transfer does not reach a {destination.kind} account",
                            account_id=destination.id, kind=str(destination.kind))


def require_pending(status: str, admin_transfer_id: str) -> None:
    if status != PENDING:
        raise RegistryError(3002, f"administrative transfer {admin_transfer_id} is {status}, not awaiting approval",
                            admin_transfer_id=admin_transfer_id, status=status)


def plan(picks: list[Pick], to_account_id: str, txn_id: str, new_id: Callable[[], str]) -> Movement:
    """Pledged units taken by the transfer arrive free (held, no lien) like the rest."""
    return carve(picks, txn_id, new_id, account_id=to_account_id, state=BlockState.HELD, lien_id=None)
