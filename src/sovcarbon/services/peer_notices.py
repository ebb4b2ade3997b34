"""Uses here by a peer's companies (tokens abroad): the notice to the company's registry.

A foreign company (a participant whose country is a registered peer's) that passed KYC may hold this
registry's tokens through a licensed intermediary and retire them on chain; the bridge's event consumer
records the retirement here as any other (``services.retirements.record_retirement``). When the retired
units are covered by an LoA that authorizes the company's Party, the same transaction stores a signed
``retirement_notice`` (kind ``entity_use``) to that Party's registry, chained under the retirement's id.
The message is sent after the commit by the peer worker (``interop.send_notices``: resent byte for byte
until the peer acknowledges it), so a crash after the commit or a peer that is down only delays it, and
the destination answers a second copy with its stored answer and records the use once.

| rule | how |
|---|---|
| only units an LoA authorizes for the company's Party are notified | coverage x LoA ``authorized_parties`` |
| the notice is written in the retirement's own transaction | ``record_retirement`` calls ``notify_entity_use``; |
| | the stored message's row image is in the retirement's journal entry |
| each notice describes the ITMOs as this registry's AEF does | ``interop.itmo_description`` per LoA |
| the destination records it once | (transfer id, type) replay: the same stored answer |
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import article6 as a6rules
from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.holdings import Pick
from sovcarbon.domain.serials import SerialRange
from sovcarbon.services import article6 as a6s
from sovcarbon.services import interop
from sovcarbon.services.registry import Registry
from sovcarbon.store import peer_tables as pt
from sovcarbon.store.uow import UnitOfWork

ENTITY_USE = "entity_use"


def peer_of_country(uow: UnitOfWork, country: str) -> Any:
    """The active peer registry of a country (alpha-2), or None."""
    p = pt.peers.c
    return uow.conn.execute(select(pt.peers).where(p.country == country, p.status == "active")
                            .order_by(p.id).limit(1)).mappings().first()


def notify_entity_use(reg: Registry, uow: UnitOfWork, *, retirement_id: str, user_participant_id: str,
                      picks: Sequence[Pick], purpose: str, beneficiary: dict[str, str], claim_year: int,
                      evidence: dict[str, Any]) -> str | None:
    """In the retirement's transaction: if the user is a company of a peer's country and the retired units are
    authorized for that peer's Party, store the signed notice to that peer (sent after the commit). Returns the
    peer id notified, or None."""
    participant = uow.repo.participant(user_participant_id)
    if participant.country == reg.profile.country:
        return None
    peer_row = peer_of_country(uow, participant.country)
    if peer_row is None:
        return None
    by_loa: dict[str, list[tuple[SerialRange, int]]] = defaultdict(list)
    loas: dict[str, a6rules.Loa] = {}
    for pick in picks:
        rng = SerialRange(pick.block.serial_prefix, pick.first_kg, pick.last_kg)
        for row in a6s.active_coverage(uow, rng):
            part = a6rules.intersect(rng, a6s.range_of(row))
            if part is None:
                continue
            loa = loas.get(row["loa_id"]) or a6s.current(uow, row["loa_id"])
            loas[loa.id] = loa
            if peer_row["party_code"] in loa.parties:
                by_loa[loa.id].append((part, pick.block.vintage))
    if not by_loa:
        return None
    blocks: list[dict[str, Any]] = []
    for loa_id, parts in sorted(by_loa.items()):
        parts.sort(key=lambda pv: (pv[0].prefix, pv[0].first_kg))
        blocks.append({"serials": [str(r) for r, _ in parts], "vintages": {r.prefix: v for r, v in parts},
                       "itmo": interop.itmo_description(reg, uow, loa_id, {r.prefix for r, _ in parts})})
    serials = [str(r) for _, parts in sorted(by_loa.items()) for r, _ in parts]
    quantity_kg = sum(r.quantity_kg for parts in by_loa.values() for r, _ in parts)
    interop.emit(reg, uow, peer_row["id"], pp.MessageType.RETIREMENT_NOTICE, retirement_id, {
        "kind": ENTITY_USE, "serials": serials, "quantity_kg": quantity_kg, "purpose": str(purpose),
        "beneficiary": beneficiary.get("name", ""), "claim_year": claim_year, "retired_at": uow.now,
        "entity": {"name": participant.name, "country": participant.country, "participant_id": participant.id},
        "blocks": blocks, "chain_tx": evidence.get("chain_tx")})
    return str(peer_row["id"])
