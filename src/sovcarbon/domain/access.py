"""Who may do what (PRODUCT.md §2): least privilege, four-eyes, own accounts only.

| rule | code |
|---|---|
| the caller's role is among the roles allowed for the action | 1002 FORBIDDEN |
| a holder acts only on accounts of its own participant | 1002 FORBIDDEN |
| registry officers act on any account (the registry's own accounts included) | |
| an approver is never the person who requested | 3003 SAME_APPROVER |
"""

from __future__ import annotations

from collections.abc import Iterable

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import HOLDING_ROLES, Account, Actor, Role


def require_role(actor: Actor, roles: Iterable[Role], action: str) -> None:
    allowed = set(roles)
    if actor.role not in allowed:
        raise RegistryError(
            1002, f"role {actor.role} may not {action}", role=str(actor.role), allowed=sorted(str(r) for r in allowed)
        )


def require_controls(actor: Actor, account: Account, action: str) -> None:
    """Registry officers control every account; holding roles only their participant's accounts."""
    if actor.role == Role.REGISTRY_ADMIN:
        return
    if actor.role in HOLDING_ROLES and actor.participant_id == account.participant_id:
        return
    raise RegistryError(1002, f"this key may not {action} from account {account.id}", account_id=account.id)


def require_other_person(actor: Actor, requested_by_key: str, requested_by_name: str) -> None:
    if actor.same_person(requested_by_key, requested_by_name):
        raise RegistryError(3003, "four-eyes: the approver must not be the requester", requested_by=requested_by_key)
