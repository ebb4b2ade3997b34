"""The event consumer: chain events become NR changes exactly once, in chain order, never skipped.

- A persisted cursor (``token_event_cursor``) names the next block to read, per contract.
- Each event is applied in ONE NR transaction together with its ``token_events`` row, keyed by
  (tx hash, log index): re-reading a block after a crash finds the row and applies nothing twice.
- ``Pledged`` / ``Released`` / ``Enforced`` / ``PledgeDelivered`` keep the ``liens`` rows of tokens pledged on
  chain, with the chain evidence (``services/pledges.apply_chain_event``; the DvP escrow's own pledges are not liens);
- ``Retired`` retires exact serials of the lot (lowest first) with the chain tx as evidence;
  ``Redeemed`` releases the lowest serials into the NR account named on chain; ``TransferSingle``
  (mint, transfer, burn) updates the token balances mirror.
- An event whose effect fails a rule goes to ``token_dead_letters`` with its attempts and last error, in
  its own transaction, before the cursor moves past it; dead letters are retried (each cycle, with a
  pause, and on demand) and listed until they apply. Database or chain outages are not dead letters:
  they stop the cycle and the cursor stays.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from sovcarbon.bridge import audit
from sovcarbon.bridge.faults import fault
from sovcarbon.chain import CarbonTokenChain, ChainEvent, ChainUnavailable
from sovcarbon.chain.abi import lenient_text
from sovcarbon.domain.chain_ops import CompleteBurn, ReturnBurn
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.journal import canonical_text
from sovcarbon.services import pledges, token_burns, token_lots, token_outbox, token_outcomes
from sovcarbon.services.registry import Registry
from sovcarbon.store import token_tables as tt
from sovcarbon.store.uow import UnitOfWork

log = logging.getLogger(__name__)

EVENT_NAMES = ("TransferSingle", "Retired", "Redeemed", "BurnSettled", *pledges.CHAIN_EVENTS)
MAX_BLOCKS_PER_READ = 2_000
DEAD_LETTER_RETRY_S = 5.0  # first retry of a dead letter; each failed attempt doubles the pause
DEAD_LETTER_MAX_PAUSE_S = 3600.0
DEAD_LETTER_BUDGET_S = 0.25  # at most this long retrying dead letters per cycle: a flood cannot slow the bridge
OPEN, RESOLVED = "open", "resolved"
# Outages (the database or the chain is down or busy) propagate: the cycle stops and the cursor stays.
# ANY other failure while applying one log is that log's own (a rule said no, bytes the NR cannot store,
# a log we cannot decode) and parks it as a dead letter: no event, whatever its content, stops the consumer.
OUTAGES: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, DisconnectionError, OSError,
                                            ChainUnavailable)
MAX_CHAIN_LOT_ID = 2**63 - 1


def _describe(exc: BaseException) -> str:
    text = f"{exc.code} {exc.name}: {exc.message}" if isinstance(exc, RegistryError) else repr(exc)
    return lenient_text(text.encode("utf-8", errors="replace"))[:2000]


def _chain_lot_id(event: Mapping[Any, Any]) -> int | None:
    value = event.get("lot_id")
    return int(value) if isinstance(value, int) and 0 <= value <= MAX_CHAIN_LOT_ID else None


def event_record(event: ChainEvent) -> dict[str, Any]:
    """The event as plain JSON values (what a dead letter keeps to be applied later)."""
    record = asdict(event)
    record["args"] = {k: v for k, v in dict(event.args).items() if isinstance(v, str | int | bool)}
    return record


class EventConsumer:
    def __init__(self, reg: Registry, token: CarbonTokenChain, start_block: int) -> None:
        self.reg = reg
        self.token = token
        self.start_block = start_block
        self.deploy_block = start_block
        self._last_try_s: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # failed retries per dead letter (its back-off)
        self.last_error: str | None = None  # the last outage that stopped a read (None after a good one)
        self.last_parked_error: str | None = None
        self.head_seen = start_block

    # ------------------------------------------------------------------------------------ cursor
    def cursor(self) -> int:
        """The next block to read (created at the contract's deployment block on first use)."""
        c = tt.token_event_cursor.c
        with self.reg.store.read() as uow:
            value = uow.conn.execute(select(c.next_block).where(c.contract_address == self.token.address)).scalar()
        if value is not None:
            return int(value)
        with self.reg.store.write() as uow:
            if uow.conn.execute(select(c.next_block).where(c.contract_address == self.token.address)).first() is None:
                uow.repo.insert(tt.token_event_cursor, contract_address=self.token.address,
                                next_block=self.start_block, updated_at=uow.now)
        return self.start_block

    def _save_cursor(self, next_block: int) -> None:
        c = tt.token_event_cursor.c
        with self.reg.store.write() as uow:
            uow.repo.update(tt.token_event_cursor, [c.contract_address == self.token.address],
                            next_block=next_block, updated_at=uow.now)

    # ------------------------------------------------------------------------------------ consuming
    def consume(self, max_blocks: int = MAX_BLOCKS_PER_READ) -> int:
        """Apply the events of the blocks after the cursor (up to ``max_blocks``); returns events handled."""
        try:
            start = self.cursor()
            head = self.token.block_number()
            self.head_seen = head
            if start > head:
                self.last_error = None
                return 0
            end = min(head, start + max_blocks - 1)
            read = self.token.get_events(start, end, names=EVENT_NAMES + audit.AUDIT_NAMES)
            # whole-chain audit first: an act the registry did not order halts the bridge before anything
            # of this range is applied (the cursor stays)
            with self.reg.store.write() as uow:
                if audit.halted(uow) is not None:
                    return 0
                findings = audit.unordered(uow, read, self.deploy_block)
                if findings:
                    audit.halt(uow, findings)
            if findings:
                log.error("bridge halted: %d acts on the contract the registry did not order", len(findings))
                return 0
            events = [e for e in read if e.name in EVENT_NAMES]
            fault("after_events_read")
            for event in events:
                self.handle(event_record(event))
            self._save_cursor(end + 1)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {_describe(exc)}"
            raise
        self.last_error = None
        fault("after_cursor_saved")
        return len(events)

    def lag(self, max_lag_blocks: int) -> dict[str, Any]:
        """How far the consumer is behind the chain head (blocks), its last error, and the alarm."""
        next_block = self.cursor()
        try:
            head = self.token.block_number()
            self.head_seen = head
        except Exception as exc:  # noqa: BLE001 - the status page reports an unreachable chain
            head = self.head_seen
            self.last_error = self.last_error or f"{type(exc).__name__}: {_describe(exc)}"
        behind = max(0, head - (next_block - 1))
        d = tt.token_dead_letters.c
        with self.reg.store.read() as uow:
            open_letters = int(uow.conn.execute(select(func.count()).select_from(tt.token_dead_letters)
                                                .where(d.status == OPEN)).scalar_one())
        return {"next_block": next_block, "head_block": head, "lag_blocks": behind,
                "max_lag_blocks": max_lag_blocks, "alarm": behind > max_lag_blocks, "last_error": self.last_error,
                "last_dead_letter_error": self.last_parked_error, "open_dead_letters": open_letters}

    def handle(self, event: Mapping[Any, Any]) -> bool:
        """Apply one event once; park it as a dead letter if a rule refuses it. True if applied now."""
        try:
            with self.reg.store.write() as uow:
                if self._seen(uow, event):
                    return False
                self._apply(uow, event)
            fault("after_event_applied", str(event["name"]))
            return True
        except OUTAGES:
            raise
        except Exception as exc:  # noqa: BLE001 - one log's failure is parked, never stops the consumer
            if str(event["name"]) in token_burns.BURN_KINDS and self._try_refuse(event, exc, None):
                fault("after_event_applied", str(event["name"]))
                return True
            self._park(event, exc)
            fault("after_dead_letter", str(event["name"]))
            return False

    def _try_refuse(self, event: Mapping[Any, Any], exc: Exception, dead_letter_id: str | None) -> bool:
        """The NR refuses a burn request: the tokens go back to the holder (outbox ``return_burn``), the
        refusal is journaled. False if even the refusal cannot be recorded (the event is then parked)."""
        try:
            with self.reg.store.write() as uow:
                if dead_letter_id is None and self._seen(uow, event):
                    return True
                self._refuse(uow, event, _describe(exc))
                if dead_letter_id is not None:
                    d = tt.token_dead_letters.c
                    token_burns._update(uow, tt.token_dead_letters, [d.id == dead_letter_id], status=RESOLVED,
                                        updated_at=uow.now)
            return True
        except OUTAGES:
            raise
        except Exception as again:  # noqa: BLE001 - parked by the caller
            log.warning("could not record the refusal of %s %s: %s", event["name"], event["tx_hash"], again)
            return False

    def _refuse(self, uow: UnitOfWork, event: Mapping[Any, Any], reason: str) -> None:
        kind, _ = token_burns.BURN_KINDS[str(event["name"])]
        if event.get("seq") is None or event.get("lot_id") is None or event.get("amount_kg") is None:
            raise ValueError("burn request without seq, lot or amount")
        lot = uow.conn.execute(select(tt.token_lots.c.id).where(tt.token_lots.c.chain_lot_id
                                                                == _chain_lot_id(event))).scalar()
        outbox_id = token_outbox.enqueue(uow, ReturnBurn(kind=kind, seq=int(event["seq"]),
                                                         chain_lot_id=int(event["lot_id"])),
                                         None if lot is None else str(lot))
        token_burns.record_decision(uow, event, token_burns.REFUSED, reason, None,
                                    None if lot is None else str(lot), outbox_id)
        uow.repo.insert(tt.token_events, tx_hash=str(event["tx_hash"]), log_index=int(event["log_index"]),
                        name=str(event["name"]), block_number=int(event["block_number"]),
                        chain_lot_id=_chain_lot_id(event), applied_txn=None, journal_seq=None, applied_at=uow.now)
        uow.append("chain_burn_refused", {"kind": kind, "seq": int(event["seq"]), "chain_lot_id": event["lot_id"],
                                          "lot_id": lot, "holder_address": event.get("holder"),
                                          "amount_kg": event["amount_kg"], "reason": reason[:500],
                                          "chain_tx": event["tx_hash"], "log_index": event["log_index"],
                                          "outbox_id": outbox_id})

    def _seen(self, uow: UnitOfWork, event: Mapping[Any, Any]) -> bool:
        key = (str(event["tx_hash"]), int(event["log_index"]))
        c, d = tt.token_events.c, tt.token_dead_letters.c
        if uow.conn.execute(select(c.tx_hash).where(c.tx_hash == key[0], c.log_index == key[1])).first():
            return True
        return uow.conn.execute(select(d.id).where(d.tx_hash == key[0], d.log_index == key[1])).first() is not None

    def _apply(self, uow: UnitOfWork, event: Mapping[Any, Any]) -> None:
        name = str(event["name"])
        txn_id: str | None = None
        seq: int | None = None
        args = event.get("args") or {}
        if "decode_error" in args:
            raise RegistryError(7002, f"chain log {name} could not be decoded: {args['decode_error']}")
        if name in token_burns.BURN_KINDS:
            kind, _ = token_burns.BURN_KINDS[name]
            if event.get("seq") is None:
                raise ValueError(f"{name} without a request seq")
            if token_lots.lot_by_chain_id(uow, int(event["lot_id"]))["frozen"]:
                # a frozen lot's tokens may be counterfeit: no burn takes its serials until officers unfreeze
                raise RegistryError(4006, f"lot of chain lot {event['lot_id']} is frozen: burn request refused")
            if name == "Retired":
                txn_id, seq = token_outcomes.apply_retired(self.reg, uow, event)
            else:
                txn_id, seq = token_outcomes.apply_redeemed(self.reg, uow, event)
            lot_id = str(token_lots.lot_by_chain_id(uow, int(event["lot_id"]))["id"])
            outbox_id = token_outbox.enqueue(uow, CompleteBurn(kind=kind, seq=int(event["seq"]),
                                                               chain_lot_id=int(event["lot_id"])), lot_id)
            token_burns.record_decision(uow, event, token_burns.ACCEPTED, None, txn_id, lot_id, outbox_id)
        elif name == "BurnSettled":
            token_burns.settle(uow, event)
        elif name in pledges.CHAIN_EVENTS:  # liens of tokens (services/pledges.py); the escrow's own are skipped
            seq = pledges.apply_chain_event(uow, event)
        elif name == "TransferSingle":
            token_outcomes.apply_transfer(uow, int(event["lot_id"]), event.get("sender"), event.get("receiver"),
                                  int(event["amount_kg"]))
        uow.repo.insert(tt.token_events, tx_hash=str(event["tx_hash"]), log_index=int(event["log_index"]),
                        name=name, block_number=int(event["block_number"]), chain_lot_id=_chain_lot_id(event),
                        applied_txn=txn_id, journal_seq=seq, applied_at=uow.now)

    def _park(self, event: Mapping[Any, Any], exc: Exception) -> None:
        error = _describe(exc)
        self.last_parked_error = error
        log.warning("chain event %s %s#%s parked as a dead letter: %s", event["name"], event["tx_hash"],
                    event["log_index"], error)
        try:
            self._insert_dead_letter(event, canonical_text(dict(event)), error)
        except OUTAGES:
            raise
        except Exception as again:  # noqa: BLE001 - keep the bare identity of the log; never lose it
            bare = {k: event.get(k) for k in ("name", "block_number", "block_hash", "tx_hash", "log_index")}
            self._insert_dead_letter(event, json.dumps(bare, sort_keys=True, default=str),
                                     f"{error} (event not storable: {_describe(again)})")

    def _insert_dead_letter(self, event: Mapping[Any, Any], event_json: str, error: str) -> None:
        with self.reg.store.write() as uow:
            if self._seen(uow, event):
                return
            uow.repo.insert(tt.token_dead_letters, id=new_id("evt"), tx_hash=str(event["tx_hash"]),
                            log_index=int(event["log_index"]), name=str(event["name"]),
                            block_number=int(event["block_number"]), chain_lot_id=_chain_lot_id(event),
                            event=event_json, status=OPEN, attempts=1,
                            last_error=error[:2000], created_at=uow.now, updated_at=uow.now)
            uow.append("chain_event_dead_lettered", {"tx_hash": event["tx_hash"], "log_index": event["log_index"],
                                                     "name": event["name"], "error": error[:500]})

    # ------------------------------------------------------------------------------------ dead letters
    def retry_due(self) -> int:
        """Retry open dead letters not tried in the last ``DEAD_LETTER_RETRY_S``; returns how many applied."""
        d = tt.token_dead_letters.c
        with self.reg.store.read() as uow:
            ids = list(uow.conn.execute(select(d.id).where(d.status == OPEN).order_by(d.block_number, d.log_index))
                       .scalars())
        now_s = time.monotonic()
        applied = 0
        for dead_id in ids:
            if time.monotonic() - now_s > DEAD_LETTER_BUDGET_S:
                break  # the rest next cycle
            last_s = self._last_try_s.get(dead_id)
            pause_s = min(DEAD_LETTER_RETRY_S * 2 ** self._failures.get(dead_id, 0), DEAD_LETTER_MAX_PAUSE_S)
            if last_s is not None and now_s - last_s < pause_s:
                continue
            if self.retry(dead_id)["status"] == RESOLVED:
                applied += 1
                self._failures.pop(dead_id, None)
            else:
                self._failures[dead_id] = self._failures.get(dead_id, 0) + 1
        return applied

    def retry(self, dead_letter_id: str) -> dict[str, Any]:
        """Apply a dead letter now: on success it is resolved (and consumed) in the same transaction."""
        self._last_try_s[dead_letter_id] = time.monotonic()
        d = tt.token_dead_letters.c
        with self.reg.store.read() as uow:
            row = uow.conn.execute(select(tt.token_dead_letters).where(d.id == dead_letter_id)).mappings().first()
        if row is None:
            raise RegistryError(1005, f"dead letter {dead_letter_id} not found", id=dead_letter_id)
        if row["status"] == RESOLVED:
            return dead_letter_view(row)
        event = json.loads(row["event"])
        try:
            with self.reg.store.write() as uow:
                self._apply(uow, event)
                uow.repo.update(tt.token_dead_letters, [d.id == dead_letter_id], status=RESOLVED,
                                attempts=int(row["attempts"]) + 1, updated_at=uow.now)
        except OUTAGES:
            raise
        except Exception as exc:  # noqa: BLE001 - still refused: counted, stays open
            error = _describe(exc)
            if str(event.get("name")) in token_burns.BURN_KINDS and self._try_refuse(event, exc, dead_letter_id):
                with self.reg.store.read() as uow:
                    return dead_letter_view(uow.conn.execute(select(tt.token_dead_letters)
                                                             .where(d.id == dead_letter_id)).mappings().one())
            with self.reg.store.write() as uow:
                uow.repo.update(tt.token_dead_letters, [d.id == dead_letter_id],
                                attempts=int(row["attempts"]) + 1, last_error=error[:2000], updated_at=uow.now)
        with self.reg.store.read() as uow:
            return dead_letter_view(uow.conn.execute(select(tt.token_dead_letters).where(d.id == dead_letter_id))
                                    .mappings().one())


def dead_letter_view(r: Mapping[Any, Any]) -> dict[str, Any]:
    return dict(id=r["id"], tx_hash=r["tx_hash"], log_index=r["log_index"], name=r["name"],
                block_number=r["block_number"], chain_lot_id=r["chain_lot_id"], event=json.loads(r["event"]),
                status=r["status"], attempts=r["attempts"], last_error=r["last_error"], created_at=r["created_at"],
                updated_at=r["updated_at"])
