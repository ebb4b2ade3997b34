"""Tables of the settlement capability (DvP orders and the escrow's events), on the ledger's ``metadata``
(migration 0014).

| table | what it holds |
|---|---|
| dvp_orders | one row per DvP order: parties, lot, kg, integer satang (per tonne, total), deadline, state, |
|  | chain evidence (tx hash, log index) of its last step |
| dvp_events | every escrow event applied, once, by (tx hash, log index), with the journal entry it produced |
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from sovcarbon.store.tables import ID, metadata

dvp_orders = Table(
    "dvp_orders", metadata,
    Column("id", String(ID), primary_key=True),
    Column("chain_dvp_id", String(66), nullable=False, unique=True),  # 0x + 32 bytes: sha256 of the order id
    Column("operator_id", String(ID), nullable=False),  # the licensed intermediary
    Column("seller_id", String(ID), nullable=False),
    Column("buyer_id", String(ID), nullable=False),
    Column("seller_address", String(42), nullable=False),
    Column("buyer_address", String(42), nullable=False),
    Column("operator_address", String(42), nullable=False),
    Column("lot_id", String(ID), nullable=False),
    Column("chain_lot_id", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("price_satang_per_t", BigInteger, nullable=False),
    Column("total_satang", BigInteger, nullable=False),
    Column("deadline_s", BigInteger, nullable=False),  # unix seconds, compared with block time on chain
    Column("deadline_at", String(32), nullable=False),
    Column("status", String(20), nullable=False),  # ordered | open | settled | cancelled | expired | rejected
    Column("delivery_funded", Integer, nullable=False),  # 0/1
    Column("payment_funded", Integer, nullable=False),
    Column("code", Integer),  # 7005 when expired
    Column("tx_hash", String(66)),  # evidence of the last applied step
    Column("log_index", Integer),
    Column("block_number", BigInteger),
    Column("detail", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
Index("ix_dvp_orders_status", dvp_orders.c.status)

dvp_events = Table(
    "dvp_events", metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("dvp_order_id", String(ID)),  # None: an escrow event of no order of ours (recorded, not applied)
    Column("block_number", BigInteger, nullable=False),
    Column("journal_seq", BigInteger),
    Column("applied_at", String(32), nullable=False),
)
