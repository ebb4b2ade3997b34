"""Issuance: serialized credits for a verified monitoring period, four-eyes.

A request, checked by ``check_issue_request`` in this order:

| rule | code |
|---|---|
| only a registry admin requests | 1002 |
| the project and the receiving account exist | 1005 |
| credits are issued into a holding or custody account (never the buffer pool, a retirement or cancellation account) | 1003 |
| quantity and buffer are integer kg, quantity positive | 2003 QUANTITY_INVALID |
| quantity and buffer are whole tonnes | 2004 NOT_WHOLE_TONNES |
| the buffer share is less than the quantity | 2003 |
| the buffer is at least the share the standard requires for the project's methodology (profile `buffer_shares`, rounded up to whole tonnes); an omitted buffer is that share | 1003 INVALID_REQUEST |
| the project is registered | 3001 PROJECT_NOT_REGISTERED |
| monitoring period and vintage lie inside the crediting period; the vintage year lies in the monitoring period | 3006 OUTSIDE_CREDITING_PERIOD |
| no monitoring period of a project is credited twice | 2005 DUPLICATE_CLAIM |
| the quantity (buffer included) does not exceed the verified quantity of the verification report (`verified_kg`), when one is named | 5003 EXCEEDS_VERIFIED |
| the receiving account is active | 3004 |
| a serial is never issued twice | 2001 SERIAL_EXISTS |

Its approval, checked by ``check_issue_approval`` in this order (everything checked at request time is checked
again: the world may have moved since):

| rule | code |
|---|---|
| a registry approver (or admin, refused by four-eyes) decides | 1002 |
| the issuance exists | 1005 |
| only a request pending approval can be approved or rejected | 3002 APPROVAL_REQUIRED |
| the approver is a registry_approver who is not the requester | 3003 SAME_APPROVER / 1002 |
| the request's rows from 2003 to 5003, against the world as it is now | 2003-5003 |
| the receiving account is still active | 3004 |
| no block carries the issuance's serials yet | 2001 |

On approval the registry creates two root blocks: kilograms 1..(quantity - buffer) in the
requested account and the rest in the registry's buffer account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sovcarbon.domain.access import require_four_eyes, require_role
from sovcarbon.domain.accounts import TRANSFERABLE_KINDS, require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import (
    Account,
    AccountKind,
    Actor,
    Block,
    BlockState,
    Issuance,
    IssuanceStatus,
    Project,
    ProjectStatus,
    Role,
)
from sovcarbon.domain.quantities import require_quantity, require_whole_tonnes
from sovcarbon.domain.serials import MAX_KG_INDEX
from sovcarbon.domain.standards import Standard

REQUESTERS = (Role.REGISTRY_ADMIN,)
APPROVERS = (Role.REGISTRY_APPROVER, Role.REGISTRY_ADMIN)  # early gate; require_four_eyes decides


@dataclass(frozen=True)
class RequestFacts:
    """What an issuance request is checked against (``services.issuance.load_request_facts``)."""

    actor: Actor
    project_id: str
    account_id: str
    project: Project | None
    account: Account | None
    standard: Standard | None  # the project's standard in the registry's profile
    vintage: int
    period_start: date
    period_end: date
    quantity_kg: object
    buffer_kg: object
    verified_kg: object
    overlapping_issuance_ids: tuple[str, ...]  # read when the project exists
    number: int  # the issuance's number among the project's of its vintage (read when the project exists)
    serial_prefix: str | None  # the prefix the issuance would take
    prefix_issued: bool  # another issuance holds that prefix
    prefix_in_blocks: bool  # a block carries it


@dataclass(frozen=True)
class RequestPlan:
    project: Project
    account: Account
    quantity_kg: int
    buffer_kg: int
    number: int
    serial_prefix: str


@dataclass(frozen=True)
class ApprovalFacts:
    """What an approval is checked against (``services.issuance.load_approval_facts``)."""

    actor: Actor
    issuance_id: str
    issuance: Issuance | None
    project: Project | None  # read when the issuance exists
    standard: Standard | None
    verified_kg: object
    overlapping_issuance_ids: tuple[str, ...]  # other issuances overlapping its period
    account: Account | None
    prefix_in_blocks: bool


def check_issue_request(facts: RequestFacts) -> RequestPlan:
    """The request table's rows, in its order."""
    require_role(facts.actor, REQUESTERS, "request issuance")
    if facts.project is None:
        raise RegistryError(1005, f"project {facts.project_id} not found", id=facts.project_id)
    if facts.account is None:
        raise RegistryError(1005, f"account {facts.account_id} not found", id=facts.account_id)
    account = facts.account
    if account.kind not in TRANSFERABLE_KINDS or account.kind == AccountKind.BUFFER:
        raise RegistryError(1003, f"credits are issued into a holding or custody account, not {account.kind}")
    quantity_kg, buffer_kg = check_request(facts.project, facts.vintage, facts.period_start, facts.period_end,
                                           facts.quantity_kg, facts.buffer_kg, list(facts.overlapping_issuance_ids),
                                           verified_kg=facts.verified_kg, standard=_standard(facts.standard,
                                                                                             facts.project))
    require_active(account, "receiving")
    assert facts.serial_prefix is not None, "the prefix is read when the project exists"
    require_new_serials(facts.serial_prefix, issuance_holds_prefix=facts.prefix_issued,
                        blocks_carry_prefix=facts.prefix_in_blocks)
    return RequestPlan(facts.project, account, quantity_kg, buffer_kg, facts.number, facts.serial_prefix)


def check_decision(actor: Actor, issuance_id: str, issuance: Issuance | None, action: str) -> Issuance:
    """The approval table's first four rows (a rejection has only these)."""
    require_role(actor, APPROVERS, action)
    if issuance is None:
        raise RegistryError(1005, f"issuance {issuance_id} not found", id=issuance_id)
    require_pending(issuance)
    require_four_eyes(actor, issuance.requested_by_key, issuance.requested_by_name, action)
    return issuance


def check_issue_approval(facts: ApprovalFacts) -> Issuance:
    """The approval table's rows, in its order; returns the issuance to create the root blocks of."""
    issuance = check_decision(facts.actor, facts.issuance_id, facts.issuance, "approve issuance")
    assert facts.project is not None and facts.account is not None, "an issuance names its project and account"
    check_request(facts.project, issuance.vintage, date.fromisoformat(issuance.period_start),
                  date.fromisoformat(issuance.period_end), issuance.quantity_kg, issuance.buffer_kg,
                  list(facts.overlapping_issuance_ids), verified_kg=facts.verified_kg,
                  standard=_standard(facts.standard, facts.project))
    require_active(facts.account, "receiving")
    require_new_serials(issuance.serial_prefix, issuance_holds_prefix=False,
                        blocks_carry_prefix=facts.prefix_in_blocks)
    return issuance


def _standard(standard: Standard | None, project: Project) -> Standard:
    if standard is None:
        raise RegistryError(1003, f"unknown standard {project.standard!r}")
    return standard


def check_request(
    project: Project,
    vintage: int,
    period_start: date,
    period_end: date,
    quantity_kg: object,
    buffer_kg: object,
    overlapping_issuance_ids: list[str],
    verified_kg: object = None,
    standard: Standard | None = None,
) -> tuple[int, int]:
    """Validate an issuance request; returns (quantity_kg, buffer_kg).

    ``buffer_kg`` None means "the share the standard requires"; a named buffer may be larger than that
    share (a project-specific risk assessment), never smaller.
    """
    quantity = require_whole_tonnes(require_quantity(quantity_kg))
    if quantity > MAX_KG_INDEX:
        raise RegistryError(2003, "quantity does not fit the serial's kilogram field", quantity_kg=quantity)
    required_kg = standard.required_buffer_kg(project.methodology, quantity) if standard is not None else 0
    if buffer_kg is None:
        buffer = required_kg
    else:
        buffer = require_whole_tonnes(require_quantity(buffer_kg, "buffer_kg", allow_zero=True), "buffer_kg")
    if buffer >= quantity:
        raise RegistryError(2003, "buffer_kg must be less than quantity_kg", buffer_kg=buffer, quantity_kg=quantity)
    if buffer < required_kg:
        assert standard is not None
        raise RegistryError(1003, f"{standard.code} requires {standard.buffer_share_pct(project.methodology)}% of "
                            f"this issuance in the buffer for methodology {project.methodology}",
                            buffer_kg=buffer, required_buffer_kg=required_kg, methodology=project.methodology)
    verified = None if verified_kg is None else require_quantity(verified_kg, "verified_kg")
    if project.status != ProjectStatus.REGISTERED:
        raise RegistryError(3001, f"project {project.id} is {project.status}, not registered", project_id=project.id)
    if period_start > period_end:
        raise RegistryError(1003, "monitoring period starts after it ends")
    crediting_start = date.fromisoformat(project.crediting_start)
    crediting_end = date.fromisoformat(project.crediting_end)
    if period_start < crediting_start or period_end > crediting_end:
        raise RegistryError(3006, "monitoring period lies outside the crediting period",
                            crediting_period={"start": project.crediting_start, "end": project.crediting_end})
    if not (crediting_start.year <= vintage <= crediting_end.year) or not (
        period_start.year <= vintage <= period_end.year
    ):
        raise RegistryError(3006, f"vintage {vintage} lies outside the crediting or monitoring period",
                            vintage=vintage)
    if overlapping_issuance_ids:
        raise RegistryError(2005, "this monitoring period of the project is already credited",
                            issuance_ids=overlapping_issuance_ids)
    if verified is not None and quantity > verified:
        raise RegistryError(5003, "issuance above the verified quantity of the verification report",
                            quantity_kg=quantity, verified_kg=verified)
    return quantity, buffer


def require_new_serials(prefix: str, *, issuance_holds_prefix: bool, blocks_carry_prefix: bool) -> None:
    """A serial is never issued twice: no other issuance and no existing block may carry the prefix."""
    if issuance_holds_prefix or blocks_carry_prefix:
        raise RegistryError(2001, "these serials already exist", serial_prefix=prefix)


def require_pending(issuance: Issuance) -> None:
    if issuance.status != IssuanceStatus.PENDING_APPROVAL:
        raise RegistryError(3002, f"issuance {issuance.id} is {issuance.status}, not awaiting approval",
                            issuance_id=issuance.id, status=str(issuance.status))


def root_blocks(issuance: Issuance, project: Project, txn_id: str, new_id: Callable[[], str]) -> list[Block]:
    """The blocks an approved issuance creates: the holder's share, then the buffer share."""
    held_kg = issuance.quantity_kg - issuance.buffer_kg

    def root(first_kg: int, last_kg: int, account_id: str) -> Block:
        return Block(id=new_id(), issuance_id=issuance.id, project_id=project.id, standard=project.standard,
                     vintage=issuance.vintage, serial_prefix=issuance.serial_prefix, first_kg=first_kg,
                     last_kg=last_kg, state=BlockState.HELD, account_id=account_id, parent_id=None, txn_id=txn_id)

    blocks = [root(1, held_kg, issuance.account_id)]
    if issuance.buffer_kg:
        blocks.append(root(held_kg + 1, issuance.quantity_kg, issuance.buffer_account_id))
    assert sum(b.quantity_kg for b in blocks) == issuance.quantity_kg
    return blocks
