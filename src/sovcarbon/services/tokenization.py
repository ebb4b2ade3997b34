"""Tokenizing: immobilize a holder's units in its intermediary's custody account as a new lot and enqueue
open-lot and mint in the same transaction. Rules: ``domain.tokenize``.

The chain itself is never called from here: what must happen on chain is written to ``token_outbox``
in the same transaction as the NR change; ``sovcarbon.bridge`` sends it and reports back through
``services.token_outcomes``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from sovcarbon.domain import tokenize as rules
from sovcarbon.domain.chain_ops import Mint, OpenLot
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.model import AccountKind, Actor, Role
from sovcarbon.domain.tokenize import LotStatus
from sovcarbon.services import token_consents
from sovcarbon.services.movements import load_selection, record
from sovcarbon.services.registry import Registry
from sovcarbon.services.token_identity import serving_intermediary, wallet_of
from sovcarbon.services.token_lots import lot_view
from sovcarbon.services.token_outbox import enqueue
from sovcarbon.services.token_requests import TokenizationIn
from sovcarbon.services.views import block_view
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork


# ------------------------------------------------------------------------------------------- tokenize
def load_facts(uow: UnitOfWork, actor: Actor, req: TokenizationIn) -> tuple[rules.TokenizeFacts, dict[str, Any] | None]:
    """Read what ``rules.check_tokenize`` needs, and the consent an intermediary presents (checked here: the
    access row comes first; the kg count against it when the units are known)."""
    holder_account = uow.repo.account(req.holder_account_id)
    consent: dict[str, Any] | None = None
    if actor.role == Role.INTERMEDIARY and actor.participant_id != holder_account.participant_id:
        consent = token_consents.require_consent(uow, actor, req.consent_id, holder_account.participant_id,
                                                 holder_account)
        if req.intermediary_id not in (None, actor.participant_id):
            raise RegistryError(1002, "an intermediary tokenizes under a consent for itself only")
        intermediary_id: str | None = actor.participant_id
    else:
        intermediary_id = req.intermediary_id or serving_intermediary(uow, holder_account.participant_id)
    holder = uow.repo.participant(holder_account.participant_id)
    intermediary = uow.repo.participant(intermediary_id) if intermediary_id is not None else None
    custody_id, count = req.custody_account_id, 0
    if custody_id is None and intermediary is not None:
        c = t.accounts.c
        ids = list(uow.conn.execute(select(c.id).where(c.participant_id == intermediary.id,
                                                       c.kind == str(AccountKind.CUSTODY))).scalars())
        count = len(ids)
        custody_id = str(ids[0]) if count == 1 else None
    custody = uow.repo.find_account(custody_id) if custody_id is not None else None
    units = load_selection(uow, holder_account.id, quantity_kg=req.quantity_kg, serials=req.serials,
                           project_id=req.project_id, vintage=req.vintage)
    facts = rules.TokenizeFacts(
        actor=actor, holder_account=holder_account, holder=holder, by_consent=consent is not None,
        intermediary=intermediary, intermediary_wallet=wallet_of(uow, intermediary.id) if intermediary else None,
        holder_wallet=wallet_of(uow, holder.id), served_by=serving_intermediary(uow, holder.id),
        custody_account_id=req.custody_account_id, custody=custody, custody_accounts=count, units=units)
    return facts, consent


def tokenize(reg: Registry, uow: UnitOfWork, actor: Actor, req: TokenizationIn) -> dict[str, Any]:
    """Immobilize units in the custody account of the intermediary serving the holder as a new lot; enqueue
    open-lot and mint. Needs the holder's act: its own request (its key, its account), or the intermediary
    presenting the holder's consent for this account (``consent_id``; the kg count against it). Nobody else
    tokenizes a holder's units (1002). The rules: ``domain.tokenize.check_tokenize``."""
    facts, consent = load_facts(uow, actor, req)
    plan = rules.check_tokenize(facts)
    holder, holder_account, intermediary, custody = plan.holder, plan.holder_account, plan.intermediary, plan.custody
    holder_wallet, picks = plan.holder_wallet, list(plan.picks)
    lot_id, txn_id = new_id("lot"), new_id("txn")
    chain_lot_id = int(uow.conn.execute(select(func.coalesce(func.max(tt.token_lots.c.chain_lot_id), 0)))
                       .scalar_one()) + 1
    movement = rules.plan_immobilization(picks, txn_id, lambda: new_id("blk"), custody.id, lot_id)
    quantity_kg = movement.quantity_kg
    if consent is not None:
        token_consents.consume(uow, consent, quantity_kg)
    serials = [block_view(b)["serial"] for b in movement.moved]
    record(uow, movement, txn_id, "tokenization", actor.key_id, holder_account.id, custody.id,
           {"lot_id": lot_id, "chain_lot_id": chain_lot_id, "holder_address": holder_wallet,
            "intermediary_id": intermediary.id, "note": req.note,
            "consent": consent["id"] if consent is not None else "holder_key"})
    uow.repo.insert(tt.token_lots, id=lot_id, chain_lot_id=chain_lot_id, holder_participant_id=holder.id,
                    holder_account_id=holder_account.id, holder_address=holder_wallet,
                    intermediary_id=intermediary.id, custody_account_id=custody.id, quantity_kg=quantity_kg,
                    retired_kg=0, redeemed_kg=0, status=LotStatus.MINTING, frozen=False,
                    serials=canonical_text(serials),
                    txn_id=txn_id, mint_block=None, failure=None, created_at=uow.now, updated_at=uow.now)
    enqueue(uow, OpenLot(chain_lot_id=chain_lot_id, immobilized_kg=quantity_kg), lot_id)
    enqueue(uow, Mint(chain_lot_id=chain_lot_id, to=holder_wallet, amount_kg=quantity_kg), lot_id)
    return lot_view(uow, lot_id)
