"""Read-side views: serial lookup with lineage, holdings, supply, journal pages, registry info."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from sovcarbon.domain import checkpoints as cpt
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor, BlockState, Role
from sovcarbon.domain.serials import parse_serial
from sovcarbon.services.registry import Registry
from sovcarbon.services.views import account_view, block_view
from sovcarbon.store import lien_tables as lt
from sovcarbon.store import tables as t
from sovcarbon.store.repository import block_from_row
from sovcarbon.store.uow import UnitOfWork

READ_ALL_ROLES = frozenset({Role.REGISTRY_ADMIN, Role.REGISTRY_APPROVER, Role.REGULATOR})


def serial(uow: UnitOfWork, text: str) -> dict[str, Any]:
    rng = parse_serial(text)
    leaves = uow.repo.blocks.leaves_overlapping(rng.prefix, rng.first_kg, rng.last_kg)
    if not leaves:
        raise RegistryError(1005, "no issued units carry this serial", serial=text)
    holder = leaves[0]
    lineage = [block_view(r) for r in uow.repo.blocks.lineage(holder.id)]
    issuance = uow.repo.one(t.issuances, holder.issuance_id, "issuance")
    return {"serial": text, "block": block_view(holder), "state": str(holder.state), "account_id": holder.account_id,
            "frozen": holder.frozen, "lineage": lineage,
            "covering_blocks": [block_view(b) for b in leaves],
            "issuance": {"id": issuance["id"], "project_id": issuance["project_id"], "vintage": issuance["vintage"],
                         "serial_prefix": issuance["serial_prefix"], "quantity_kg": issuance["quantity_kg"],
                         "issued_at": issuance["decided_at"]}}


def can_read_account(actor: Actor, participant_id: str) -> bool:
    return actor.role in READ_ALL_ROLES or actor.participant_id == participant_id


def holdings(uow: UnitOfWork, actor: Actor, account_id: str) -> dict[str, Any]:
    row = uow.repo.one(t.accounts, account_id, "account")
    if not can_read_account(actor, row["participant_id"]):
        raise RegistryError(1005, f"account {account_id} not found", id=account_id)
    blocks = [block_view(block_from_row(r)) for r in uow.repo.blocks.holdings(account_id)]
    by_state: dict[str, list[dict[str, Any]]] = {}
    for b in blocks:
        by_state.setdefault(b["state"], []).append(b)
    totals = {s: sum(b["quantity_kg"] for b in bs) for s, bs in by_state.items()}
    free_kg = sum(b["quantity_kg"] for b in blocks if b["state"] == BlockState.HELD and not b["frozen"])
    # the holder's statement of liens on this account (pledges, migration 0016)
    liens = [dict(r) for r in uow.conn.execute(select(lt.liens).where(lt.liens.c.holding == account_id)
                                               .order_by(lt.liens.c.created_at, lt.liens.c.id)).mappings()]
    return {"account": account_view(row), "free_kg": free_kg, "totals_kg": totals, "by_state": by_state,
            "pledged_kg": totals.get(str(BlockState.PLEDGED), 0),
            "liens": [{k: r[k] for k in ("id", "pledgee_id", "pledged_kg", "released_kg", "enforced_kg", "status")}
                      | {"remaining_kg": r["pledged_kg"] - r["released_kg"] - r["enforced_kg"]} for r in liens]}


def supply(uow: UnitOfWork, project_id: str | None, vintage: int | None) -> dict[str, Any]:
    """Supply by state, optionally for one project and/or vintage; an unknown project is 1005, not zeros."""
    if project_id:
        uow.repo.project(project_id)
    issued, by_state = uow.repo.blocks.supply(project_id, vintage)
    states = {str(s): by_state.get(str(s), 0) for s in BlockState}
    # pledged kg: registry units under live liens (their blocks' state), and tokens pledged on chain to banks
    # as the registry mirrors them (not part of by_state_kg: tokenized units are immobilized there)
    c = lt.liens.c
    token_pledged = None if project_id or vintage else int(uow.conn.execute(
        select(func.coalesce(func.sum(c.pledged_kg - c.released_kg - c.enforced_kg), 0))
        .where(c.asset == "tokens", c.status.in_(("active", "defaulted")))).scalar_one())
    return {"project_id": project_id, "vintage": vintage, "issued_kg": issued, "by_state_kg": states,
            "frozen_kg": uow.repo.blocks.frozen_kg(project_id), "balanced": issued == sum(states.values()),
            "pledged_kg": states[str(BlockState.PLEDGED)], "pledged_tokens_kg": token_pledged}


def journal_page(uow: UnitOfWork, after_seq: int, limit: int, *, private: bool = False) -> dict[str, Any]:
    """A page of the journal. Everyone gets each entry's chained bytes (``entry``: the public part and the
    hash of the private part) and ``payload`` = the public details; ``private`` (regulator and registry
    officers) adds the private part (full payload and row images) and ``payload`` is then the full one."""
    rows = uow.repo.journal.page(after_seq, limit)
    data = []
    for r in rows:
        entry = bytes(r["entry"])
        parsed = json.loads(entry)
        item: dict[str, Any] = {"seq": r["seq"], "kind": r["kind"], "created_at": r["created_at"],
                                "prev_hash": r["prev_hash"], "hash": r["hash"], "entry": entry.decode("utf-8")}
        if "private_hash" in parsed:  # format v2
            item.update(format=2, public=parsed["public"], private_hash=parsed["private_hash"],
                        payload=parsed["public"]["details"])
            if private and r["private"] is not None:
                item["private"] = json.loads(bytes(r["private"]))
                item["payload"] = item["private"]["payload"]
        else:  # format v1 (before migration 0005): the payload was public
            item.update(format=1, payload=parsed["payload"])
        data.append(item)
    return {"data": data, "next_cursor": str(rows[-1]["seq"]) if len(rows) == limit else None}


def journal_head(reg: Registry, uow: UnitOfWork) -> dict[str, Any]:
    head = uow.repo.journal.head()
    cp = uow.repo.journal.last_checkpoint()
    return {"seq": head[0] if head else 0, "hash": head[1] if head else None,
            # checkpoint_hash: what an anchor publishes (domain/checkpoints.py)
            "checkpoint": cpt.with_checkpoint_hash(cp, reg.store.registry_id) if cp else None,
            "public_key": reg.store.public_key_hex}


def registry_info(reg: Registry, uow: UnitOfWork) -> dict[str, Any]:
    p = reg.profile
    return {"registry": p.registry_name, "agency": p.agency_name, "country": p.country, "party_code": p.party_code,
            "public_key": reg.store.public_key_hex, "signature_algorithm": "Ed25519",
            "participant_id": uow.repo.setting("registry_participant_id"),
            "buffer_account_id": uow.repo.setting("buffer_account_id"),
            "standards": [{"code": s.code, "serial_code": s.serial_code, "label": s.label, "domestic": s.domestic,
                           "exportable": s.exportable, "allowed_purposes": sorted(str(x) for x in s.allowed_purposes)}
                          for s in p.standards.values()],
            "journal_entries": uow.repo.journal.count(),
            # Read-only mode: the start-up check found the ledger tables and the journal disagree (1006 on writes).
            "read_only": reg.store.read_only_reason is not None, "reason": reg.store.read_only_reason,
            # The start-up check runs in its own process after the port opens: "running" until it has answered.
            "startup_check": reg.store.startup_check_state}
