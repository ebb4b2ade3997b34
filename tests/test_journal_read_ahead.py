"""journal verify on PostgreSQL reads the journal through a server-side cursor, one batch ahead in a thread
(performance issue #10, goal 4). The batches must arrive complete and in order, a bad entry must still be named,
and the reader thread must end however verification ends."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update
from world import Api

from sovcarbon.services import journal_admin
from sovcarbon.store import tables as t


def _readers() -> list[threading.Thread]:
    return [th for th in threading.enumerate() if th.name == "journal-verify-read-ahead"]


@pytest.mark.tampers
def test_small_batches_verify_and_a_bad_entry_is_still_named(world: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    if world.reg.store.engine.dialect.name != "postgresql":
        pytest.skip("the read-ahead cursor is PostgreSQL's")
    with world.reg.store.write() as uow:
        for i in range(60):
            uow.append("bench", {"note": f"entry {i}"})
    monkeypatch.setattr(journal_admin, "VERIFY_BATCH", 7)  # many batches, a partial last one
    batches: list[int] = []
    read_ahead = journal_admin._read_ahead

    def counted(cur: object) -> object:
        for batch in read_ahead(cur):
            batches.append(len(batch))
            yield batch

    monkeypatch.setattr(journal_admin, "_read_ahead", counted)
    report = journal_admin.verify(world.reg, workers=1)
    assert report["ok"] and report["entries"] == report["head_seq"] > 60, report
    assert sum(batches) == report["entries"] and max(batches) == 7, batches  # all rows came through the reader
    assert _readers() == []
    bad = report["head_seq"] - 30
    with world.reg.store.engine.begin() as conn:
        conn.execute(update(t.journal).where(t.journal.c.seq == bad).values(entry=b'{"tampered":true}'))
    report = journal_admin.verify(world.reg, workers=1)
    assert not report["ok"] and report["first_bad_seq"] == bad, report
    assert _readers() == []  # verification stopped early; the reader thread ended too
