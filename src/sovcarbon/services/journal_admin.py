"""Journal verification from genesis (I5) and signed checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import journal as jr
from sovcarbon.services.registry import Registry
from sovcarbon.store import tables as t
from sovcarbon.store.engine import is_sqlite

VERIFY_BATCH = 5000


def _rows(reg: Registry) -> Iterator[tuple[int, bytes, str, str]]:
    # A raw DB-API cursor streams rows without building ORM or Row objects: verification is hot.
    with reg.store.engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        cur.execute("SELECT seq, entry, prev_hash, hash FROM journal ORDER BY seq")
        while True:
            batch = cur.fetchmany(VERIFY_BATCH)
            if not batch:
                break
            if is_sqlite(reg.store.engine):
                yield from batch
            else:
                for seq, entry, prev_hash, digest in batch:
                    yield seq, bytes(entry), prev_hash, digest
        cur.close()


def verify(reg: Registry) -> dict[str, Any]:
    """Walk the chain from genesis; then check every checkpoint's root and signature."""
    result = jr.verify_chain(_rows(reg))
    out: dict[str, Any] = {"ok": result.ok, "entries": result.entries, "head_seq": result.head_seq,
                           "head_hash": result.head_hash, "first_bad_seq": result.first_bad_seq,
                           "reason": result.reason, "checkpoints_verified": 0}
    with reg.store.read() as uow:
        head = uow.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).first()
        if result.ok and head is not None and (int(head[0]), str(head[1])) != (result.head_seq, result.head_hash):
            out.update(ok=False, first_bad_seq=min(int(head[0]), result.head_seq) + 1,
                       reason="the stored head does not match the chain (entries removed or rewritten at the end)")
            return out
        if not result.ok:
            return out
        prev_hash = jr.GENESIS_HASH
        for cp in uow.conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.seq)).mappings():
            hashes = list(uow.conn.execute(select(t.journal.c.hash).where(
                t.journal.c.seq >= cp["from_seq"], t.journal.c.seq <= cp["seq"]).order_by(t.journal.c.seq)).scalars())
            entry_hash = hashes[-1] if hashes else None
            message = jr.checkpoint_message(cp["seq"], cp["head_hash"], cp["merkle_root"], cp["from_seq"],
                                            cp["prev_checkpoint_hash"], reg.store.registry_id)
            problems = []
            if entry_hash != cp["head_hash"]:
                problems.append("checkpoint head hash differs from the journal")
            if jr.merkle_root(hashes) != cp["merkle_root"]:
                problems.append("Merkle root differs from the journal")
            if cp["prev_checkpoint_hash"] != prev_hash:
                problems.append("checkpoint does not chain to the previous one")
            if not jr.verify_signature(cp["public_key"], message, cp["signature"]):
                problems.append("signature does not verify")
            if problems:
                out.update(ok=False, first_bad_seq=cp["from_seq"], reason=f"checkpoint {cp['seq']}: " + "; ".join(problems))
                return out
            prev_hash = cp["head_hash"]
            out["checkpoints_verified"] += 1
    return out


def checkpoint(reg: Registry) -> dict[str, Any]:
    with reg.store.write() as uow:
        return uow.checkpoint()
