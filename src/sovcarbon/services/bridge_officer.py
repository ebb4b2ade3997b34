"""Officer actions on the bridge, under four-eyes: a registry_admin requests, a registry_approver who is not
the same person approves (3003 otherwise), and only then does the action take effect, journaled.

| action | target | effect on approval |
|---|---|---|
| unfreeze_lot | NR lot id ``lot_...`` | the lot is unfrozen in the NR and on chain (outbox ``unfreeze_lot``) |
| unfreeze_address | a holder's chain address | the address is unfrozen on chain (outbox ``unfreeze_address``) |
| resolve_dead_letter | dead letter id ``evt_...`` | closed without applying it (the reason says why) |
| resume_bridge | ``bridge`` | the halted bridge resumes; the acts the audit reported are acknowledged |

| rule | code |
|---|---|
| only a registry_admin requests, only a registry_approver approves | 1002 |
| the approver is not the requester | 3003 |
| the target exists, in a state the action changes (frozen lot, open dead letter, halted bridge) | 1005 / 1008 |
| an action is approved once | 3002 APPROVAL_REQUIRED |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import select

from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.chain_ops import FreezeAddress, UnfreezeAddress, UnfreezeLot
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import token_lots, token_outbox
from sovcarbon.services.requests import Command
from sovcarbon.services.token_burns import _update
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork

KINDS = ("unfreeze_lot", "unfreeze_address", "resolve_dead_letter", "resume_bridge")
REQUESTED, APPROVED = "requested", "approved"


class BridgeActionIn(Command):
    """An officer's request for a bridge action (approved by another person before it takes effect)."""

    kind: Literal["unfreeze_lot", "unfreeze_address", "resolve_dead_letter", "resume_bridge"]
    target: Annotated[str, Field(min_length=1, max_length=80)]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


def action_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(id=r["id"], kind=r["kind"], target=r["target"], reason=r["reason"], status=r["status"],
                requested_by=r["requested_by"], approved_by=r["approved_by"], result=r["result"],
                created_at=r["created_at"], updated_at=r["updated_at"])


def _check_target(uow: UnitOfWork, kind: str, target: str) -> str:
    if kind == "unfreeze_lot":
        lot = token_lots.lot_row(uow, target)
        if not lot["frozen"]:
            raise RegistryError(1008, f"lot {target} is not frozen", lot_id=target)
        return target
    if kind == "unfreeze_address":
        address = target.lower()
        if not (len(address) == 42 and address.startswith("0x")
                and all(ch in "0123456789abcdef" for ch in address[2:])):
            raise RegistryError(1003, "unfreeze_address names a 0x-prefixed 20-byte address", target=target[:80])
        return address
    if kind == "resolve_dead_letter":
        d = tt.token_dead_letters.c
        status = uow.conn.execute(select(d.status).where(d.id == target)).scalar()
        if status is None:
            raise RegistryError(1005, f"dead letter {target} not found", id=target)
        if status != "open":
            raise RegistryError(1008, f"dead letter {target} is {status}", id=target)
        return target
    if kind == "resume_bridge":
        from sovcarbon.bridge import audit  # the bridge's halt state (imported late: bridge imports services)

        if target != "bridge":
            raise RegistryError(1003, "resume_bridge names the target 'bridge'", target=target[:80])
        if audit.halted(uow) is None:
            raise RegistryError(1008, "the bridge is not halted")
        return target
    raise RegistryError(1003, f"unknown bridge action {kind!r}; one of {', '.join(KINDS)}", kind=kind[:40])


def request_action(uow: UnitOfWork, actor: Actor, kind: str, target: str, reason: str) -> dict[str, Any]:
    require_role(actor, [Role.REGISTRY_ADMIN], "request a bridge action")
    if not reason.strip():
        raise RegistryError(1003, "a bridge action needs a reason")
    target = _check_target(uow, kind, target)
    action_id = new_id("frz")  # officer actions (unfreezes, resolutions)
    uow.repo.insert(tt.token_officer_actions, id=action_id, kind=kind, target=target, reason=reason,
                    status=REQUESTED, requested_by=actor.key_id, requested_by_name=actor.name, approved_by=None,
                    result=None, created_at=uow.now, updated_at=uow.now)
    uow.append("bridge_action_requested", {"id": action_id, "kind": kind, "target": target, "reason": reason,
                                           "actor": actor.key_id})
    return action_view(_row(uow, action_id))


def _row(uow: UnitOfWork, action_id: str) -> Mapping[Any, Any]:
    row = uow.conn.execute(select(tt.token_officer_actions).where(tt.token_officer_actions.c.id == action_id)
                           ).mappings().first()
    if row is None:
        raise RegistryError(1005, f"bridge action {action_id} not found", id=action_id)
    return row


def approve_action(uow: UnitOfWork, actor: Actor, action_id: str) -> dict[str, Any]:
    row = _row(uow, action_id)
    require_four_eyes(actor, str(row["requested_by"]), str(row["requested_by_name"]), "approve a bridge action")
    if row["status"] != REQUESTED:
        raise RegistryError(3002, f"bridge action {action_id} is {row['status']}", id=action_id)
    kind, target = str(row["kind"]), str(row["target"])
    _check_target(uow, kind, target)
    if kind == "unfreeze_lot":
        lot = token_lots.lot_row(uow, target)
        _update(uow, tt.token_lots, [tt.token_lots.c.id == target], frozen=False, updated_at=uow.now)
        result = token_outbox.enqueue(uow, UnfreezeLot(chain_lot_id=int(lot["chain_lot_id"])), target)
    elif kind == "unfreeze_address":
        result = token_outbox.enqueue(uow, UnfreezeAddress(holder=target))
    elif kind == "resume_bridge":
        from sovcarbon.bridge import audit

        result = ", ".join(audit.resume(uow, action_id))[:2000]
    else:
        d = tt.token_dead_letters.c
        _update(uow, tt.token_dead_letters, [d.id == target], status="resolved",
                last_error=f"resolved by officers ({action_id}): {row['reason']}"[:2000], updated_at=uow.now)
        result = target
    _update(uow, tt.token_officer_actions, [tt.token_officer_actions.c.id == action_id], status=APPROVED,
            approved_by=actor.key_id, result=result, updated_at=uow.now)
    uow.append("bridge_action_approved", {"id": action_id, "kind": kind, "target": target, "actor": actor.key_id,
                                          "requested_by": row["requested_by"], "result": result})
    return action_view(_row(uow, action_id))


def freeze_address(uow: UnitOfWork, address: str, reason: str, report_id: str) -> str:
    """Freeze one holder's address on chain (the offending part of a mismatch), journaled."""
    outbox_id = token_outbox.enqueue(uow, FreezeAddress(holder=address.lower()))
    uow.append("token_address_frozen", {"address": address.lower(), "code": 7001, "reason": reason,
                                        "reconciliation_id": report_id, "outbox_id": outbox_id})
    return outbox_id
