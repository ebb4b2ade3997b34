"""The token outbox: chain operations written in the NR transaction that needs them (``enqueue``), their
statuses, the op id each carries, and the row view. ``sovcarbon.bridge.outbox`` sends them; the NR effects
of their outcomes are in ``services.token_outcomes``."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, select

from sovcarbon.domain.chain_ops import ChainOp, payload_of
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_text
from sovcarbon.domain.op_ids import op_id_hex
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import Store, UnitOfWork

PENDING, SENT, CONFIRMED, FAILED = "pending", "sent", "confirmed", "failed"
TERMINAL = frozenset({CONFIRMED, FAILED})

# The bridge serving a store is woken after the commit of a transaction that enqueued chain work (and only
# then: a transfer or a read does not make the bridge run a cycle).
OUTBOX_WAKERS: weakref.WeakKeyDictionary[Store, Callable[[], None]] = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------- outbox
def enqueue(uow: UnitOfWork, op: ChainOp, lot_id: str | None = None) -> str:
    """Add one chain operation (``domain.chain_ops``) to the outbox in the caller's transaction; returns the
    row id. The row stores the operation's kind and its fields as the JSON payload."""
    assert uow.write
    seq = int(uow.conn.execute(select(func.coalesce(func.max(tt.token_outbox.c.seq), 0))).scalar_one()) + 1
    outbox_id = new_id("out")
    uow.repo.insert(tt.token_outbox, id=outbox_id, seq=seq, kind=str(op.OP), lot_id=lot_id,
                    payload=canonical_text(payload_of(op)),
                    op_id=op_id_hex(outbox_id), status=PENDING, tx_hash=None, attempts=0, last_error=None,
                    created_at=uow.now, updated_at=uow.now)
    waker = OUTBOX_WAKERS.get(uow.store)
    if waker is not None and waker not in uow.after_commit:
        uow.after_commit.append(waker)
    return outbox_id


def outbox_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(id=r["id"], seq=r["seq"], kind=r["kind"], lot_id=r["lot_id"], payload=json.loads(r["payload"]),
                op_id=r["op_id"], status=r["status"], tx_hash=r["tx_hash"], attempts=r["attempts"],
                last_error=r["last_error"], created_at=r["created_at"], updated_at=r["updated_at"])


def set_outbox(uow: UnitOfWork, outbox_id: str, **values: Any) -> None:
    uow.repo.update(tt.token_outbox, [tt.token_outbox.c.id == outbox_id], updated_at=uow.now, **values)
