"""Issuance: serialized credits for a verified monitoring period, four-eyes.

| rule | code |
|---|---|
| only a registry admin requests; a registry approver (or another admin) approves | 1002 |
| the approver is not the requester | 3003 SAME_APPROVER |
| only a request pending approval can be approved or rejected | 3002 APPROVAL_REQUIRED |
| the project is registered | 3001 PROJECT_NOT_REGISTERED |
| quantity and buffer are integer kg, quantity positive | 2003 QUANTITY_INVALID |
| quantity and buffer are whole tonnes | 2004 NOT_WHOLE_TONNES |
| the buffer share is less than the quantity | 2003 |
| the buffer is at least the share the standard requires for the project's methodology (profile `buffer_shares`, rounded up to whole tonnes); an omitted buffer is that share | 1003 INVALID_REQUEST |
| monitoring period and vintage lie inside the crediting period; the vintage year lies in the monitoring period | 3006 OUTSIDE_CREDITING_PERIOD |
| no monitoring period of a project is credited twice | 2005 DUPLICATE_CLAIM |
| a serial is never issued twice | 2001 SERIAL_EXISTS |
| the quantity (buffer included) does not exceed the verified quantity of the verification report (`verified_kg`), when one is named | 5003 EXCEEDS_VERIFIED |

On approval the registry creates two root blocks: kilograms 1..(quantity - buffer) in the
requested account and the rest in the registry's buffer account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Block, BlockState, Issuance, IssuanceStatus, Project, ProjectStatus
from sovcarbon.domain.quantities import require_quantity, require_whole_tonnes
from sovcarbon.domain.serials import MAX_KG_INDEX
from sovcarbon.domain.standards import Standard


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
