"""Who may do what (PRODUCT.md §2): least privilege, four-eyes, own accounts only.

Officers administer; they never act on a holder's units. Units move only by an act of their holder
(transfer, retirement, export, tokenization, cancellation request), by the operation that owns a
movement (issuance into the buffer pool, tokenization into custody, chain burns), or by an
administrative transfer: requested by a registry_admin with a reason and a legal reference,
approved by a registry_approver (``domain.admin_transfer``).

| rule | code |
|---|---|
| the caller's role is among the roles allowed for the action | 1002 FORBIDDEN |
| only a holding role (holder, proponent, intermediary, bank) acts on holdings, and only on accounts of its own participant | 1002 FORBIDDEN |
| registry officers (admin, approver) and the regulator never act on holdings, not even the registry's own accounts | 1002 FORBIDDEN |
| the registry's buffer pool is moved only by an administrative transfer or a cancellation under four-eyes | 1002 FORBIDDEN |
| a participant that is suspended or closed only reads its own data: every write of its keys is refused | 1002 FORBIDDEN |
| an approval (issuance, cancellation, LoA, administrative transfer) is never given by the requester | 3003 SAME_APPROVER |
| an approval is given by a registry_approver only (never by a second admin) | 1002 FORBIDDEN |
"""

from __future__ import annotations

from collections.abc import Iterable

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import (
    HOLDING_ROLES,
    Account,
    AccountKind,
    Actor,
    ParticipantStatus,
    Role,
)

APPROVER_ROLES = frozenset({Role.REGISTRY_APPROVER})


def require_role(actor: Actor, roles: Iterable[Role], action: str) -> None:
    allowed = set(roles)
    if actor.role not in allowed:
        raise RegistryError(
            1002, f"role {actor.role} may not {action}", role=str(actor.role), allowed=sorted(str(r) for r in allowed)
        )


def require_controls(actor: Actor, account: Account, action: str) -> None:
    """Acts on holdings: only a holding role, only on its own participant's accounts, never the buffer pool."""
    if actor.role not in HOLDING_ROLES:
        raise RegistryError(1002, f"role {actor.role} does not act on holdings ({action}): "
                                  "an officer moves units only by an administrative transfer under four-eyes",
                            account_id=account.id, role=str(actor.role))
    if actor.participant_id != account.participant_id:
        raise RegistryError(1002, f"this key may not {action} from account {account.id}", account_id=account.id)
    if account.kind == AccountKind.BUFFER:
        raise RegistryError(1002, f"the buffer pool {account.id} moves only by an administrative transfer",
                            account_id=account.id)


def require_may_write(actor: Actor, participant_status: str | None) -> None:
    """A key of a suspended or closed participant (or of one that does not exist: None) only reads."""
    if actor.participant_id is None:
        return
    if participant_status is None:
        raise RegistryError(1002, "this key's participant does not exist", participant_id=actor.participant_id)
    if participant_status != ParticipantStatus.ACTIVE:
        raise RegistryError(1002, f"participant {actor.participant_id} is {participant_status}: its keys only read",
                            participant_id=actor.participant_id, status=participant_status)


def require_four_eyes(actor: Actor, requested_by_key: str, requested_by_name: str, action: str) -> None:
    """The one four-eyes check: a registry_approver who is not the requester (3003 before 1002)."""
    if actor.same_person(requested_by_key, requested_by_name):
        raise RegistryError(3003, "four-eyes: the approver must not be the requester", requested_by=requested_by_key)
    require_role(actor, APPROVER_ROLES, action)
