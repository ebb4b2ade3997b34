"""The journal aggregate's reads: entries, the head and the signed checkpoints.

Bound to a unit of work (``uow.repo.journal``). The one journal writer is ``UnitOfWork.append`` (with the
head lock and the row images); verification streams ranges of rows on its own connections
(``services/journal_admin._batches_on``, binary cursors). Everything else that reads the journal reads it here,
so services build no journal SQL (``tests/test_architecture.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, RowMapping

from sovcarbon.store import tables as t


class JournalRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- entries ---------------------------------------------------------------------------------------
    def hash_at(self, seq: int) -> str | None:
        found = self.conn.execute(select(t.journal.c.hash).where(t.journal.c.seq == seq)).scalar()
        return None if found is None else str(found)

    def max_seq(self) -> int:
        """The highest seq stored (0 for an empty journal), whatever the head says."""
        return int(self.conn.execute(select(func.coalesce(func.max(t.journal.c.seq), 0))).scalar_one())

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(t.journal)).scalar_one())

    def hashes(self, from_seq: int, to_seq: int) -> list[str]:
        """The entries' hashes from ``from_seq`` to ``to_seq`` (inclusive), in seq order (a Merkle range)."""
        c = t.journal.c
        return [str(h) for h in self.conn.execute(select(c.hash).where(c.seq >= from_seq, c.seq <= to_seq)
                                                  .order_by(c.seq)).scalars()]

    def page(self, after_seq: int, limit: int) -> list[RowMapping]:
        return list(self.conn.execute(select(t.journal).where(t.journal.c.seq > after_seq).order_by(t.journal.c.seq)
                                      .limit(limit)).mappings())

    # --- the head ----------------------------------------------------------------------------------------
    def head(self) -> tuple[int, str] | None:
        """The stored head (seq, hash); None before the first write transaction."""
        row = self.conn.execute(select(t.journal_head.c.seq, t.journal_head.c.hash)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    # --- checkpoints ---------------------------------------------------------------------------------------
    def checkpoints(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.seq)).mappings()]

    def last_checkpoint(self) -> dict[str, Any] | None:
        row = self.conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.seq.desc()).limit(1)).mappings().first()
        return None if row is None else dict(row)
