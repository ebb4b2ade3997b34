"""The journal is the authority: replay its row images from genesis and compare with every ledger table.

``replay(reg)`` streams the journal once in seq order (checking each private part against the hash the
chain carries), folds the row images (``domain.replay``), then streams every guarded table
(``store.row_images``) and names the first difference: (table, row, column, journal value, table value,
last entry that wrote the row), rows no entry wrote, and journaled rows gone from their table.

``full_check(reg)`` is what ``sovcarbon check`` and the server's start-up check run: the invariant
checker, the hash chain and signed checkpoints (``journal_admin.verify``) and the replay.
``startup_check`` puts the registry in read-only mode (every write 1006, a loud log line,
``GET /v1/registry`` shows ``read_only`` and the reason) when the ledger and the journal disagree.

Journals written before migration 0005 (entries of format v1, no row images) cannot be replayed: the
result is ``refused`` with a message naming the first such entry; their hash chain still verifies.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from sovcarbon.config import Settings
from sovcarbon.domain import journal as jr
from sovcarbon.domain.replay import DIGEST_BYTES, Difference, ReplayState, first_column_difference, image_digest
from sovcarbon.services.registry import Registry
from sovcarbon.store.row_images import GUARDED, stream_table
from sovcarbon.store.uow import UnitOfWork

log = logging.getLogger("sovcarbon.audit")
BATCH = 2000
MAX_REPORTED = 50


@dataclass
class ReplayResult:
    ok: bool
    refused: bool = False
    entries: int = 0
    rows_compared: int = 0
    differences: int = 0
    first: Difference | None = None
    samples: list[Difference] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.ok:
            return f"replay OK: {self.entries} entries replayed, {self.rows_compared} rows match the journal"
        assert self.first is not None
        prefix = "replay REFUSED" if self.refused else f"replay MISMATCH ({self.differences} differences)"
        return f"{prefix}: {self.first.describe()}"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "refused": self.refused, "entries": self.entries, "rows_compared": self.rows_compared,
                "differences": self.differences, "message": self.message,
                "first": None if self.first is None else self.first.__dict__,
                "samples": [d.__dict__ for d in self.samples]}


def _journal_rows(uow: UnitOfWork) -> Iterator[tuple[int, bytes, bytes | None]]:
    cur = uow.repo.hot.dbapi.cursor()
    try:
        cur.execute("SELECT seq, entry, private FROM journal ORDER BY seq")
        while True:
            batch = cur.fetchmany(BATCH)
            if not batch:
                return
            for seq, entry, private in batch:
                yield int(seq), bytes(entry), None if private is None else bytes(private)
    finally:
        cur.close()


def _fold(uow: UnitOfWork, state: ReplayState) -> Difference | None:
    """Fold every entry's row images into ``state``; the first entry that cannot be replayed stops it."""
    for seq, entry, private in _journal_rows(uow):
        chained = jr.private_hash_of(entry)
        if chained is None:
            return Difference("format_v1", "journal", str(seq), last_seq=seq)
        if private is None or jr.private_hash(private) != chained:
            return Difference("private_part", "journal", str(seq), last_seq=seq)
        state.apply(seq, json.loads(private)["rows"])
    return None


def _journal_image(uow: UnitOfWork, seq: int, table: str, key: str) -> dict[str, Any] | None:
    row = uow.repo.hot.one("SELECT private FROM journal WHERE seq = ?", (seq,))
    if row is None or row[0] is None:
        return None
    image: dict[str, Any] | None = json.loads(bytes(row[0]))["rows"].get(table, {}).get(key)
    return image


def replay_in(uow: UnitOfWork) -> ReplayResult:
    state = ReplayState({name: g.columns for name, g in GUARDED.items()})
    stop = _fold(uow, state)
    if stop is not None:
        return ReplayResult(ok=False, refused=stop.kind == "format_v1", entries=state.entries, differences=1,
                            first=stop, samples=[stop])
    found: list[Difference] = []
    count = compared = 0
    for table in sorted(GUARDED):
        journaled = state.rows.get(table, {})
        cur = uow.repo.hot.dbapi.cursor()
        try:
            for key, image in stream_table(cur, table):
                compared += 1
                packed = journaled.pop(key, None)
                if packed is not None and packed[:DIGEST_BYTES] == image_digest(image, GUARDED[table].columns):
                    continue
                count += 1
                if len(found) >= MAX_REPORTED:
                    continue
                if packed is None:
                    found.append(Difference("not_journaled", table, key))
                else:
                    seq = ReplayState.seq_of(packed)
                    column, jv, tv = first_column_difference(_journal_image(uow, seq, table, key), image)
                    found.append(Difference("differs", table, key, column, jv, tv, seq))
        finally:
            cur.close()
        for key, packed in journaled.items():
            count += 1
            if len(found) < MAX_REPORTED:
                found.append(Difference("missing", table, key, last_seq=ReplayState.seq_of(packed)))
    if not count:
        return ReplayResult(ok=True, entries=state.entries, rows_compared=compared)
    # The first difference: the one whose row the journal last touched earliest (rows never journaled last).
    found.sort(key=lambda d: (d.last_seq is None, d.last_seq or 0, d.table, d.key))
    return ReplayResult(ok=False, entries=state.entries, rows_compared=compared, differences=count, first=found[0],
                        samples=found)


def replay(reg: Registry) -> ReplayResult:
    """Replay the journal from genesis against the live tables, in one read transaction on one snapshot
    (REPEATABLE READ on PostgreSQL, whose default READ COMMITTED would see writes landing meanwhile)."""
    engine = reg.store.engine
    options = {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn:
        conn.begin()
        try:
            return replay_in(UnitOfWork(conn, reg.store, write=False))
        finally:
            conn.rollback()


@dataclass
class CheckReport:
    ok: bool
    lines: list[str]
    replay: ReplayResult | None = None

    @property
    def first_problem(self) -> str | None:
        return next((line for line in self.lines if not line.startswith("OK")), None)


def full_check(reg: Registry, *, workers: int | None = None) -> CheckReport:
    """The invariant checker, the journal's chain and checkpoints, and the replay: what ``check`` runs.
    ``workers``: processes for the chain walk (default: one per core)."""
    from sovcarbon.services import invariants, journal_admin

    lines: list[str] = []
    violations = invariants.check(reg)
    lines += [f"invariant {v.invariant} violated: {v.message}" for v in violations] or ["OK invariants hold"]
    verified = journal_admin.verify(reg, workers=workers)
    lines.append(f"OK journal chain: {verified['entries']} entries, {verified['checkpoints_verified']} checkpoints"
                 if verified["ok"] else
                 f"journal BROKEN at seq {verified['first_bad_seq']}: {verified['reason']}")
    result = replay(reg)
    lines.append(("OK " if result.ok else "") + result.message)
    ok = not violations and bool(verified["ok"]) and result.ok
    return CheckReport(ok=ok, lines=lines, replay=result)


def _check_in_child(settings: Settings, reply: Connection) -> None:
    """The start-up check's process: its own registry object on the same ledger (no migrations: the server
    applied them), one process for the chain walk; sends the ``CheckReport`` or the error's text."""
    try:
        reg = Registry(settings, apply_migrations=False)
        try:
            reply.send(full_check(reg, workers=1))
        finally:
            reg.store.dispose()
    except Exception as exc:  # noqa: BLE001 - reported by the server as "could not run"
        reply.send(f"{type(exc).__name__}: {exc}")
    finally:
        reply.close()


def full_check_apart(reg: Registry) -> CheckReport:
    """``full_check`` in a separate process (spawned: a clean interpreter, not a fork of a threaded server).

    In a thread of the server the replay held the GIL against the requests for as long as it ran: on a ledger
    of 20,000 entries the serving process's CPU per HTTP transfer doubled and p99 went from ~10 to ~40 ms while
    it lasted. In its own process it takes the other core; the server's thread only waits on a pipe."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    # daemon: terminated if the server exits first (a check has nothing to save); so it cannot have worker
    # processes of its own, and walks the chain in one (workers=1)
    proc = ctx.Process(target=_check_in_child, args=(reg.settings, send), name="sovcarbon-startup-check",
                       daemon=True)
    proc.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        proc.join(timeout=5)
        raise RuntimeError(f"the start-up check process ended without a report (exit code {proc.exitcode})") from None
    finally:
        receive.close()
    proc.join(timeout=30)
    if isinstance(outcome, str):
        raise RuntimeError(outcome)
    if not isinstance(outcome, CheckReport):
        raise RuntimeError(f"the start-up check process answered {type(outcome).__name__}")
    return outcome


def startup_check(reg: Registry, *, background: bool = True,
                  log_line: Callable[[str], None] | None = None) -> threading.Thread | None:
    """Run ``full_check`` at start; on a mismatch the registry goes read-only (writes 1006) and says so loudly.

    ``background`` runs it in a separate process (``full_check_apart``) watched by a daemon thread: a large
    ledger neither delays the port nor slows the requests while it is checked. Tests call it with
    ``background=False`` (in this process). ``GET /v1/registry`` shows ``startup_check`` ("running", "ok",
    "read-only", "could not run", "refused"). A journal of format v1 (replay refused) is reported but does not
    stop writes.
    """
    say = log_line or (lambda m: log.error(m))
    reg.store.startup_check_state = "running"

    def run() -> None:
        try:
            report = full_check_apart(reg) if background else full_check(reg)
            if not report.ok:
                # Writers may have committed while the check read (a demo loads at start): confirm a failure
                # with writers held at the journal head's lock, so only a real disagreement goes read-only.
                with reg.store.write():
                    report = full_check(reg)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run must not pass silently
            reason = f"the start-up check could not run: {exc}"
            reg.store.read_only_reason = reason
            reg.store.startup_check_state = "could not run"
            say(f"REGISTRY READ-ONLY: {reason}; run `sovcarbon check`")
            return
        if report.ok:
            reg.store.startup_check_state = "ok"
            log.info("start-up check OK")
            return
        if report.replay is not None and report.replay.refused and all(
                line.startswith("OK") or line.startswith("replay REFUSED") for line in report.lines):
            reg.store.startup_check_state = "refused"
            say(f"start-up check: {report.replay.message} (writes stay allowed; see docs/security.md)")
            return
        reason = report.first_problem or "the ledger and the journal disagree"
        reg.store.read_only_reason = reason
        reg.store.startup_check_state = "read-only"
        say(f"REGISTRY READ-ONLY: the start-up check found the ledger and the journal disagree: {reason}. "
            "Every write is refused (1006) until an operator runs `sovcarbon check` and restores the ledger.")

    if not background:
        run()
        return None
    thread = threading.Thread(target=run, name="startup-check", daemon=True)
    thread.start()
    return thread
