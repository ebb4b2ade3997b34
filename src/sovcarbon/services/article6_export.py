"""Export: units leave for a named foreign registry and acquiring entity under an LoA (Article 6.2).

Rules (``domain.article6`` has the full table):

| rule | code |
|---|---|
| the caller controls the account; the account is active | 1002 / 3004 |
| the destination is another Party | 1003 |
| the LoA is granted and valid today | 3002 / 6001 |
| the purpose (ndc, oimp) is named in the LoA | 6003 |
| the acquiring Party, and the acquiring entity when the LoA names entities, are named in the LoA | 6004 |
| the units are free in the account | 4001-4006 |
| the units are of an exportable standard (Premium T-VER) | 5002 |
| every kilogram is under this LoA | 6001 |

The exported part of each block moves to state ``exported`` (final here; I7 later spans registries).
For NDC use, the export is the first international transfer: kilograms not yet first-transferred are
first-transferred and a corresponding adjustment per vintage is written in the same transaction and
the same journal entry. AEF actions: one ``transfer`` per moved block, plus ``first_transfer`` rows.
"""

from __future__ import annotations

from typing import Any

from sovcarbon.domain import article6 as rules
from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, carve
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import Actor, Block, BlockState
from sovcarbon.domain.quantities import require_quantity
from sovcarbon.domain.serials import SerialRange
from sovcarbon.services import article6 as a6s
from sovcarbon.services import article6_first_transfer
from sovcarbon.services.article6_requests import ExportIn
from sovcarbon.services.movements import blocks_of_txn, record, select_units
from sovcarbon.services.registry import Registry
from sovcarbon.services.views import block_view
from sovcarbon.store import article6_tables as a6
from sovcarbon.store.uow import UnitOfWork


def _account_leaves_in(uow: UnitOfWork, account_id: str, rng: SerialRange) -> list[Block]:
    """Free held leaves of the account overlapping ``rng``."""
    return [b for b in uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)
            if b.account_id == account_id and b.state == BlockState.HELD and not b.frozen]


def covered_picks(uow: UnitOfWork, account_id: str, loa_id: str, quantity_kg: int, project_id: str | None,
                  vintage: int | None) -> list[Pick]:
    """``quantity_kg`` of the account's free units under the LoA, lowest serials first."""
    picks: list[Pick] = []
    remaining = quantity_kg
    for rng in uow.repo.authorizations.coverage_ranges(loa_id, project_id, vintage):
        for block in _account_leaves_in(uow, account_id, rng):
            part = rules.intersect(rng, SerialRange(block.serial_prefix, block.first_kg, block.last_kg))
            assert part is not None
            take = min(remaining, part.quantity_kg)
            picks.append(Pick(block, part.first_kg, part.first_kg + take - 1))
            remaining -= take
            if remaining == 0:
                return picks
    free_kg = sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(account_id, BlockState.HELD, project_id=project_id,
                                                               vintage=vintage))
    if free_kg >= quantity_kg:
        raise RegistryError(6001, "the account's free units under this authorization are short",
                            requested_kg=quantity_kg, authorized_kg=quantity_kg - remaining, authorization_id=loa_id)
    pledged_kg = sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(account_id, BlockState.PLEDGED,
                                                                        project_id=project_id, vintage=vintage))
    if free_kg + pledged_kg >= quantity_kg:  # as domain.holdings: what fits only with pledged kg is 4003
        raise RegistryError(4003, "the quantity fits only with pledged units: pledged kg move only by release or "
                                  "enforcement of their lien", requested_kg=quantity_kg, free_kg=free_kg,
                            pledged_kg=pledged_kg, account_id=account_id)
    raise RegistryError(4001, "quantity above the account's free balance", requested_kg=quantity_kg,
                        available_kg=free_kg, account_id=account_id)


def export(reg: Registry, uow: UnitOfWork, actor: Actor, req: ExportIn) -> dict[str, Any]:
    account = uow.repo.account(req.account_id)
    require_controls(actor, account, "export")
    require_active(account, "exporting")
    party = reg.profile.party_code
    if req.destination.party == party:
        raise RegistryError(1003, "an export goes to another Party's registry", party=party)
    loa = a6s.current(uow, req.authorization_id)
    rules.require_valid_on(loa, a6s.today(uow))
    rules.check_purpose(loa, req.purpose)
    rules.check_acquirer(loa, req.destination.party, req.destination.entity)
    if req.serials is not None:
        picks = select_units(uow, account.id, quantity_kg=None, serials=req.serials)
    else:
        picks = covered_picks(uow, account.id, loa.id, require_quantity(req.quantity_kg), req.project_id, req.vintage)
    pieces: list[article6_first_transfer.Piece] = []
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        rules.require_exportable(reg.profile, pick.block.standard, str(rng))
        mine = [a6s.range_of(r) for r in a6s.active_coverage(uow, rng) if r["loa_id"] == loa.id]
        if rules.subtract(rng, mine):
            raise RegistryError(6001, f"units are not covered by authorization {loa.id}", serial=str(rng),
                                authorization_id=loa.id)
        rules.require_whole_itmos(rng, "an export of ITMOs")
        pieces.append(article6_first_transfer.Piece(rng, pick.block.vintage, loa.id))
    plan = (article6_first_transfer.plan_first_transfer(uow, loa, pieces, "international_transfer", req.purpose)
            if rules.first_transfer_at_export(loa, req.purpose) else None)
    rid = a6s.registry_id(reg, uow)
    txn_id, export_id = new_id("txn"), new_id("exp")
    movement = carve(picks, txn_id, lambda: new_id("blk"), state=BlockState.EXPORTED)
    destination = req.destination.model_dump()
    extra: dict[str, Any] = {
        "export_id": export_id, "authorization_id": loa.id, "purpose": str(req.purpose), "destination": destination,
        "note": req.note, "itmo": [{"serial": str(p.rng),
                                    "itmo_first_id": a6s.itmo_ids(loa, rid, party, p.rng, p.vintage)[0],
                                    "itmo_last_id": a6s.itmo_ids(loa, rid, party, p.rng, p.vintage)[1]}
                                   for p in pieces]}
    if plan is not None:
        extra["article6"] = plan.payload(rid, party)
    seq, _moved = record(uow, movement, txn_id, "export", actor.key_id, account.id, None, extra)
    ft_kg = plan.quantity_kg if plan is not None else 0
    uow.repo.insert(a6.a6_exports, id=export_id, txn_id=txn_id, account_id=account.id, loa_id=loa.id,
                    purpose=str(req.purpose), destination_party=req.destination.party,
                    destination_registry=req.destination.registry_id, destination_account=req.destination.account_id,
                    acquiring_entity=req.destination.entity, quantity_kg=movement.quantity_kg,
                    first_transferred_kg=ft_kg, note=req.note, actor_key_id=actor.key_id, journal_seq=seq,
                    created_at=uow.now)
    parties = {"transferring_party": party, "acquiring_party": req.destination.party,
               "acquiring_registry": req.destination.registry_id, "acquiring_entity": req.destination.entity}
    article6_first_transfer.insert_actions(uow, rules.ActionType.TRANSFER, pieces, seq, txn_id,
                       {**parties, "purpose": str(req.purpose), "first_transfer": plan is not None})
    if plan is not None:
        article6_first_transfer.apply_first_transfer(uow, plan, party, seq, txn_id, parties)
    return view(reg, uow, export_id)


def view(reg: Registry, uow: UnitOfWork, export_id: str) -> dict[str, Any]:
    row = uow.repo.one(a6.a6_exports, export_id, "export")
    rid = a6s.registry_id(reg, uow)
    loa = a6s.current(uow, row["loa_id"])
    blocks = []
    for b in blocks_of_txn(uow, row["txn_id"], str(BlockState.EXPORTED)):
        first_id, last_id = a6s.itmo_ids(loa, rid, reg.profile.party_code,
                                         SerialRange(b.serial_prefix, b.first_kg, b.last_kg), b.vintage)
        blocks.append({**block_view(b), "itmo_first_id": first_id, "itmo_last_id": last_id})
    adjustments = uow.repo.authorizations.adjustments_of_txn(row["txn_id"])
    return {"id": export_id, "txn_id": row["txn_id"], "account_id": row["account_id"],
            "authorization_id": row["loa_id"], "purpose": row["purpose"],
            "destination": {"party": row["destination_party"], "registry_id": row["destination_registry"],
                            "account_id": row["destination_account"], "entity": row["acquiring_entity"]},
            "quantity_kg": row["quantity_kg"], "first_transferred_kg": row["first_transferred_kg"],
            "corresponding_adjustments": adjustments, "note": row["note"], "journal_seq": row["journal_seq"],
            "created_at": row["created_at"], "itmo_registry_id": rid,
            "serials": [b["serial"] for b in blocks], "blocks": blocks}
