"""Account rules shared by every movement.

| rule | code |
|---|---|
| the transferring and the acquiring account are active (not suspended, frozen or closed) | 3004 ACCOUNT_NOT_ACTIVE |
| the transferring and the acquiring account differ | 3005 SAME_ACCOUNT |
| units reach retirement and cancellation accounts only through retirement and cancellation | 1003 |
| a holder's transfer goes to a holding account only: the buffer pool is filled by issuance (or an administrative transfer), a custody account by tokenization | 1003 |
| the acquiring account's participant is active (a suspended or closed participant receives nothing) | 3004 ACCOUNT_NOT_ACTIVE |
"""

from __future__ import annotations

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Account, AccountKind, AccountStatus, ParticipantStatus

TRANSFERABLE_KINDS = frozenset({AccountKind.HOLDING, AccountKind.BUFFER, AccountKind.CUSTODY})
# What a holder's own transfer may reach; the other kinds are filled only by the operation that owns them.
HOLDER_TRANSFER_KINDS = frozenset({AccountKind.HOLDING})


def require_active(account: Account, side: str) -> None:
    if account.status != AccountStatus.ACTIVE:
        raise RegistryError(3004, f"{side} account {account.id} is {account.status}", account_id=account.id,
                            status=str(account.status))


def require_transfer_pair(source: Account, destination: Account) -> None:
    if source.id == destination.id:
        raise RegistryError(3005, "transferring and acquiring account are the same", account_id=source.id)
    require_active(source, "transferring")
    require_active(destination, "acquiring")
    if destination.kind not in TRANSFERABLE_KINDS:
        raise RegistryError(1003, f"units reach a {destination.kind} account only by retirement or cancellation",
                            account_id=destination.id)


def require_holder_destination(destination: Account) -> None:
    """A holder's transfer reaches a holding account only (buffer: issuance; custody: tokenization)."""
    if destination.kind not in HOLDER_TRANSFER_KINDS:
        how = {AccountKind.BUFFER: "issuance or an administrative transfer",
               AccountKind.CUSTODY: "tokenization"}.get(destination.kind, f"{destination.kind}")
        raise RegistryError(1003, f"units reach a {destination.kind} account only by {how}",
                            account_id=destination.id, kind=str(destination.kind))


def require_participant_active(participant_status: str, account: Account, side: str) -> None:
    """The owner of an account that gives or receives units is active (not suspended or closed)."""
    if participant_status != ParticipantStatus.ACTIVE:
        raise RegistryError(3004, f"{side} account {account.id} belongs to a {participant_status} participant",
                            account_id=account.id, participant_id=account.participant_id,
                            participant_status=participant_status)
