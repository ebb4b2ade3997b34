"""Account rules shared by every movement.

| rule | code |
|---|---|
| the transferring and the acquiring account are active (not suspended, frozen or closed) | 3004 ACCOUNT_NOT_ACTIVE |
| the transferring and the acquiring account differ | 3005 SAME_ACCOUNT |
| units reach retirement and cancellation accounts only through retirement and cancellation | 1003 |
"""

from __future__ import annotations

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Account, AccountKind, AccountStatus

TRANSFERABLE_KINDS = frozenset({AccountKind.HOLDING, AccountKind.BUFFER, AccountKind.CUSTODY})


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
