"""The escrow's event consumer: DvP steps on chain become registry records exactly once.

Each read applies the events of a block range and moves the escrow's cursor (``token_event_cursor``, keyed
by the escrow's address) in ONE registry transaction: a crash before the commit re-reads the range, a
crash after it never applies it again; (tx hash, log index) is also the key of ``dvp_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sovcarbon.bridge.faults import fault
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain
from sovcarbon.services import settlement
from sovcarbon.services.registry import Registry

MAX_BLOCKS_PER_READ = 2_000


class SettlementConsumer:
    def __init__(self, reg: Registry, escrow: DvpEscrowChain, cash: CashTokenChain, start_block: int) -> None:
        self.reg = reg
        self.escrow = escrow
        self.cash = cash
        self.start_block = start_block

    def cursor(self) -> int:
        with self.reg.store.read() as uow:
            value = settlement.escrow_cursor(uow, self.escrow.address)
        return self.start_block if value is None else value

    def consume(self, max_blocks: int = MAX_BLOCKS_PER_READ) -> int:
        """Apply the escrow events after the cursor; returns how many were applied (not seen before)."""
        start = self.cursor()
        head = int(self.escrow.w3.eth.block_number)
        if start > head:
            return 0
        end = min(head, start + max_blocks - 1)
        events = self.escrow.events(start, end, names=settlement.ESCROW_EVENTS)
        if events:
            fault("after_escrow_events_read", events[0].name)  # a crash here: the range is read again
        applied = 0
        with self.reg.store.write() as uow:
            for e in events:
                applied += settlement.apply_event(uow, e.name, dict(e.args), e.tx_hash, e.log_index,
                                                  e.block_number)
                fault("after_escrow_event_applied", e.name)  # a crash here: nothing of the range committed
            settlement.save_cursor(uow, self.escrow.address, end + 1)
            due = settlement.earliest_unopened_deadline(uow)
            if due is not None:  # orders never created on the escrow: closed once the chain's clock passed them
                block_time_s = int(self.escrow.w3.eth.get_block(end)["timestamp"])
                if block_time_s >= due:
                    applied += settlement.lapse_unopened(uow, end, block_time_s)
        if events:
            fault("after_escrow_cursor_saved", events[-1].name)  # committed: never applied again
        return applied

    def run_until_idle(self) -> int:
        total = 0
        while True:
            before = self.cursor()
            total += self.consume()
            if self.cursor() == before or self.cursor() > int(self.escrow.w3.eth.block_number):
                return total

    def holdings_at(self, chain_lot_ids: Sequence[int], block: int) -> tuple[dict[int, int], int]:
        """What the escrow holds at ``block``: (escrowed kg per chain lot, escrowed satang)."""
        kg = {lot: int(self.escrow.call("escrowedKg", [lot], block)[0]) for lot in chain_lot_ids}
        return kg, int(self.escrow.call("escrowedSatang", [], block)[0])

    def conservation(self) -> list[str]:
        """Escrow conservation at the chain head vs the NR (call when the consumer is caught up)."""
        with self.reg.store.read() as uow:
            orders = settlement.all_orders(uow)
        lots = sorted({int(o["chain_lot_id"]) for o in orders})
        escrowed: dict[int, Any] = {lot: self.escrow.escrowed_kg(lot) for lot in lots}
        return settlement.escrow_conservation(orders, escrowed, self.escrow.escrowed_satang())
