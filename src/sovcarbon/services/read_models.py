"""Read models for the entry points: the pages and lookups the API and the explorer show, each in its own
read transaction, with who-may-see-what applied here. The API and the web pages call these and never
touch store tables or the unit of work themselves (tests/test_architecture.py checks the imports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor
from sovcarbon.services import (
    article6,
    article6_export,
    bridge_officer,
    projects,
    queries,
    retirements,
    token_lots,
    token_outbox,
)
from sovcarbon.services.movements import blocks_of_txn
from sovcarbon.services.queries import READ_ALL_ROLES, can_read_account
from sovcarbon.services.registry import Registry
from sovcarbon.services.views import account_view, block_view, issuance_view, participant_view, project_view
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

Page = dict[str, Any]  # {"data": [...], "next_cursor": str | None}


def _page(reg: Registry, table: Any, view: Callable[[Any], dict[str, Any]], limit: int, cursor: str | None,
          where: list[Any] | None = None) -> Page:
    with reg.store.read() as uow:
        rows, nxt = uow.repo.page(table, limit=limit, cursor=cursor, where=where or [])
        return {"data": [view(r) for r in rows], "next_cursor": nxt}


# --- participants and accounts: everyone sees their own, officers and the regulator see all ------------------
def participants_page(reg: Registry, actor: Actor, limit: int, cursor: str | None) -> Page:
    where = [] if actor.role in READ_ALL_ROLES else [t.participants.c.id == actor.participant_id]
    return _page(reg, t.participants, participant_view, limit, cursor, where)


def participant(reg: Registry, actor: Actor, participant_id: str) -> dict[str, Any]:
    if actor.role not in READ_ALL_ROLES and actor.participant_id != participant_id:
        raise RegistryError(1005, f"participant {participant_id} not found", id=participant_id)
    with reg.store.read() as uow:
        return participant_view(uow.repo.one(t.participants, participant_id, "participant"))


def accounts_page(reg: Registry, actor: Actor, limit: int, cursor: str | None) -> Page:
    where = [] if actor.role in READ_ALL_ROLES else [t.accounts.c.participant_id == actor.participant_id]
    return _page(reg, t.accounts, account_view, limit, cursor, where)


def account(reg: Registry, actor: Actor, account_id: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        row = uow.repo.one(t.accounts, account_id, "account")
        if not can_read_account(actor, row["participant_id"]):
            raise RegistryError(1005, f"account {account_id} not found", id=account_id)
        return {**account_view(row), "balances_kg": uow.repo.blocks.balance_by_state(account_id)}


# --- projects, issuances, movements (public, except a transaction: its parties and officers) ------------------
def projects_page(reg: Registry, limit: int, cursor: str | None) -> Page:
    return _page(reg, t.projects, lambda r: project_view(r), limit, cursor)


def issuances_page(reg: Registry, project_id: str | None, limit: int, cursor: str | None) -> Page:
    where = [t.issuances.c.project_id == project_id] if project_id else []
    return _page(reg, t.issuances, lambda r: issuance_view(r), limit, cursor, where)


def transaction(reg: Registry, actor: Actor, txn_id: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        row = uow.repo.one(t.transactions, txn_id, "transaction")
        accounts = [a for a in (row["account_id"], row["counterparty_account_id"]) if a]
        owners = {uow.repo.account(a).participant_id for a in accounts}
        if actor.role not in READ_ALL_ROLES and actor.participant_id not in owners:
            raise RegistryError(1005, f"transaction {txn_id} not found", id=txn_id)
        return {**dict(row), "blocks": [block_view(b) for b in blocks_of_txn(uow, txn_id)]}


def retirements_page(reg: Registry, limit: int, cursor: str | None) -> Page:
    with reg.store.read() as uow:
        rows, nxt = uow.repo.page(t.retirements, limit=limit, cursor=cursor)
        return {"data": [retirements.view(uow, r["id"]) for r in rows], "next_cursor": nxt}


# --- Article 6 -------------------------------------------------------------------------------------------------
def authorizations_page(reg: Registry, limit: int, cursor: str | None) -> Page:
    with reg.store.read() as uow:
        rows, nxt = uow.repo.page(a6.a6_authorizations, limit=limit, cursor=cursor)
        return {"data": [article6.view(reg, uow, r["id"]) for r in rows], "next_cursor": nxt}


def exports_page(reg: Registry, actor: Actor, limit: int, cursor: str | None) -> Page:
    with reg.store.read() as uow:
        where = []
        if actor.role not in READ_ALL_ROLES:
            own = select(t.accounts.c.id).where(t.accounts.c.participant_id == actor.participant_id)
            where.append(a6.a6_exports.c.account_id.in_(own))
        rows, nxt = uow.repo.page(a6.a6_exports, limit=limit, cursor=cursor, where=where)
        return {"data": [article6_export.view(reg, uow, r["id"]) for r in rows], "next_cursor": nxt}


# --- tokens: a lot is seen by officers, the regulator, its holder and its intermediary ---------------------------
def _lot_scope(actor: Actor) -> list[Any]:
    if actor.role in READ_ALL_ROLES:
        return []
    c = tt.token_lots.c
    return [or_(c.holder_participant_id == actor.participant_id, c.intermediary_id == actor.participant_id)]


def lots_page(reg: Registry, actor: Actor, limit: int, cursor: str | None) -> Page:
    with reg.store.read() as uow:
        return token_lots.list_lots(uow, limit=limit, cursor=cursor, where=_lot_scope(actor))


def lot(reg: Registry, actor: Actor, lot_id: str) -> dict[str, Any]:
    """The NR's view of a lot (serials, blocks, holders, outbox rows); 7003 when absent or not the caller's."""
    with reg.store.read() as uow:
        if uow.conn.execute(select(tt.token_lots.c.id).where(tt.token_lots.c.id == lot_id, *_lot_scope(actor))
                            ).first() is None:
            raise RegistryError(7003, f"lot {lot_id} not found", lot_id=lot_id)
        return token_lots.lot_view(uow, lot_id, with_blocks=True)


def outbox_page(reg: Registry, status: str | None, limit: int, cursor: str | None) -> Page:
    where = [] if status is None else [tt.token_outbox.c.status == status]
    return _page(reg, tt.token_outbox, token_outbox.outbox_view, limit, cursor, where)


def dead_letter_rows_page(reg: Registry, status: str | None, limit: int, cursor: str | None) -> Page:
    """Dead letters as stored; the bridge's own view (``bridge.events.dead_letter_view``) renders them."""
    where = [] if status is None else [tt.token_dead_letters.c.status == status]
    return _page(reg, tt.token_dead_letters, dict, limit, cursor, where)


def bridge_actions_page(reg: Registry, limit: int, cursor: str | None) -> Page:
    return _page(reg, tt.token_officer_actions, bridge_officer.action_view, limit, cursor)


# --- explorer pages --------------------------------------------------------------------------------------------
def explorer_home(reg: Registry) -> dict[str, Any]:
    """Supply by state, the journal head, the 20 newest projects and the 10 latest retirements."""
    with reg.store.read() as uow:
        supply = queries.supply(uow, None, None)
        head = queries.journal_head(reg, uow)
        newest = select(t.projects).order_by(t.projects.c.number.desc()).limit(20)
        project_rows = list(uow.conn.execute(newest).mappings())
        recent = list(uow.conn.execute(select(t.retirements).order_by(t.retirements.c.created_at.desc()).limit(10))
                      .mappings())
    return {"supply": supply, "head": head, "projects": project_rows, "retirements": recent}


def explorer_project(reg: Registry, project_id: str) -> dict[str, Any]:
    """A project with its supply and issuances (oldest first); 1005 when absent."""
    with reg.store.read() as uow:
        project = projects.view(uow, project_id)
        supply = queries.supply(uow, project_id, None)
        issuances = list(uow.conn.execute(select(t.issuances).where(t.issuances.c.project_id == project_id)
                                          .order_by(t.issuances.c.created_at)).mappings())
    return {"project": project, "supply": supply, "issuances": issuances}
