"""Two-step burns on the NR side: a retirement or redemption requested on chain locks the holder's tokens;
the NR decides it (applies it, or refuses it) and the bridge settles it on chain (completes the burn, or
returns the tokens). A refusal harms nobody: the requester gets its tokens back, the lot stays open.

| rule | code |
|---|---|
| a burn request the NR applies is completed on chain (outbox ``complete_burn``), in the same transaction | - |
| a burn request the NR refuses (any rule) returns the tokens (outbox ``return_burn``), journaled | the rule's |
| a request is decided once: (kind, seq) is the key of ``token_burns`` | - |
| a settlement on chain (``BurnSettled``) marks the request settled; I4 counts unsettled requests | - |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update

from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork

BURN_KINDS = {"Retired": ("retire", 1), "Redeemed": ("redeem", 2)}
KIND_NUMBER = {"retire": 1, "redeem": 2}
ACCEPTED, REFUSED = "accepted", "refused"


def _update(uow: UnitOfWork, table: Any, where: list[Any], **values: Any) -> None:
    """An update through the repository when it journals row images, else plainly."""
    repo_update = getattr(uow.repo, "update", None)
    if repo_update is not None:
        repo_update(table, where, **values)
    else:
        uow.conn.execute(update(table).where(*where).values(**values))


def record_decision(uow: UnitOfWork, event: Mapping[Any, Any], decision: str, reason: str | None,
                    applied_txn: str | None, lot_id: str | None, outbox_id: str) -> None:
    kind, _ = BURN_KINDS[str(event["name"])]
    uow.repo.insert(tt.token_burns, kind=kind, seq=int(event["seq"]), chain_lot_id=int(event["lot_id"]),
                    lot_id=lot_id, holder_address=str(event["holder"]).lower(), amount_kg=int(event["amount_kg"]),
                    decision=decision, reason=reason, settled=False, tx_hash=str(event["tx_hash"]),
                    log_index=int(event["log_index"]), applied_txn=applied_txn, outbox_id=outbox_id,
                    created_at=uow.now, updated_at=uow.now)


def settle(uow: UnitOfWork, event: Mapping[Any, Any]) -> None:
    """A ``BurnSettled`` event: the chain completed or returned the request."""
    args = event.get("args") or {}
    kind = {1: "retire", 2: "redeem"}.get(int(args["kind"]))
    if kind is None:
        raise ValueError(f"BurnSettled names burn kind {args['kind']}")
    c = tt.token_burns.c
    row = uow.conn.execute(select(tt.token_burns).where(c.kind == kind, c.seq == int(event["seq"]))).mappings().first()
    if row is None:
        raise ValueError(f"BurnSettled for {kind} #{event['seq']}, which the NR never decided")
    if bool(args["completed"]) != (row["decision"] == ACCEPTED):
        raise ValueError(f"{kind} #{event['seq']} was {row['decision']} by the NR but "
                         f"{'completed' if args['completed'] else 'returned'} on chain")
    _update(uow, tt.token_burns, [c.kind == kind, c.seq == int(event["seq"])], settled=True, updated_at=uow.now)


def unsettled_by_lot(uow: UnitOfWork) -> dict[int, tuple[int, int, int]]:
    """chain lot id -> (accepted retire kg, accepted redeem kg, refused kg) not yet settled on chain."""
    c = tt.token_burns.c
    out: dict[int, list[int]] = {}
    rows = uow.conn.execute(select(c.chain_lot_id, c.kind, c.decision, func.sum(c.amount_kg))
                            .where(c.settled.is_(False)).group_by(c.chain_lot_id, c.kind, c.decision))
    for lot, kind, decision, kg in rows:
        slot = out.setdefault(int(lot), [0, 0, 0])
        if decision == REFUSED:
            slot[2] += int(kg)
        elif kind == "retire":
            slot[0] += int(kg)
        else:
            slot[1] += int(kg)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}
