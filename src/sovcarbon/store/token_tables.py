"""Tables of tokenization and the bridge, on the ledger's ``metadata`` (migration 0003).

| table | what it holds |
|---|---|
| token_holders | which intermediary onboarded (serves) which token holder |
| token_lots | NR lot id ``lot_...`` <-> numeric chain lot id, holder, intermediary, custody account, counters |
| token_outbox | chain operations to send, committed with the NR change that needs them |
| token_events | chain events consumed, one row per (tx_hash, log_index), with the NR transaction applied |
| token_event_cursor | the next chain block the event consumer reads, per contract |
| token_dead_letters | events whose NR effect failed: retried and listed, never skipped |
| token_identity_sync | what the chain's identity registry should say about each address, and whether it does |
| token_balances | the token balances per (lot, address), mirrored from TransferSingle events |
| token_reconciliations | reconciliation runs and their reports |
| token_burns | two-step burn requests seen on chain, the NR's decision and whether the chain settled it (0009) |
| token_officer_actions | four-eyes officer actions on the bridge: unfreeze, resolve a dead letter, resume (0009) |
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sovcarbon.store.tables import ID, metadata

TX_HASH = 66
ADDRESS = 42

token_holders = Table(
    "token_holders", metadata,
    Column("participant_id", String(ID), ForeignKey("participants.id"), primary_key=True),
    Column("intermediary_id", String(ID), ForeignKey("participants.id"), nullable=False, index=True),
    Column("onboarded_by", String(ID), nullable=False),
    Column("created_at", String(32), nullable=False),
)

token_lots = Table(
    "token_lots", metadata,
    Column("id", String(ID), primary_key=True),
    Column("chain_lot_id", BigInteger, nullable=False, unique=True),
    Column("holder_participant_id", String(ID), ForeignKey("participants.id"), nullable=False),
    Column("holder_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("holder_address", String(ADDRESS), nullable=False),
    Column("intermediary_id", String(ID), ForeignKey("participants.id"), nullable=False),
    Column("custody_account_id", String(ID), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("retired_kg", BigInteger, nullable=False),
    Column("redeemed_kg", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("frozen", Boolean, nullable=False),
    Column("serials", Text, nullable=False),
    Column("txn_id", String(ID), nullable=False),
    Column("mint_block", BigInteger),
    Column("failure", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

token_outbox = Table(
    "token_outbox", metadata,
    Column("id", String(ID), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("kind", String(30), nullable=False),
    Column("lot_id", String(ID), index=True),
    Column("payload", Text, nullable=False),
    Column("op_id", String(66), nullable=False, unique=True),
    Column("status", String(12), nullable=False),
    Column("tx_hash", String(TX_HASH)),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_token_outbox_status_seq", "status", "seq"),
)

token_events = Table(
    "token_events", metadata,
    Column("tx_hash", String(TX_HASH), primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("chain_lot_id", BigInteger),
    Column("applied_txn", String(ID)),
    Column("journal_seq", BigInteger),
    Column("applied_at", String(32), nullable=False),
)

token_event_cursor = Table(
    "token_event_cursor", metadata,
    Column("contract_address", String(ADDRESS), primary_key=True),
    Column("next_block", BigInteger, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

token_dead_letters = Table(
    "token_dead_letters", metadata,
    Column("id", String(ID), primary_key=True),
    Column("tx_hash", String(TX_HASH), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("name", String(40), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("chain_lot_id", BigInteger),
    Column("event", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("tx_hash", "log_index", name="uq_token_dead_letter_event"),
    Index("ix_token_dead_letters_status", "status"),
)

token_identity_sync = Table(
    "token_identity_sync", metadata,
    Column("address", String(ADDRESS), primary_key=True),
    Column("participant_id", String(ID), ForeignKey("participants.id"), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("intermediary_address", String(ADDRESS)),
    Column("outbox_id", String(ID), nullable=False),
    Column("status", String(12), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

token_balances = Table(
    "token_balances", metadata,
    Column("chain_lot_id", BigInteger, primary_key=True),
    Column("address", String(ADDRESS), primary_key=True),
    Column("balance_kg", BigInteger, nullable=False),
)

token_reconciliations = Table(
    "token_reconciliations", metadata,
    Column("id", String(ID), primary_key=True),
    Column("status", String(12), nullable=False),
    Column("chain_block", BigInteger, nullable=False),
    Column("lots_checked", Integer, nullable=False),
    Column("lots_in_flight", Integer, nullable=False),
    Column("mismatches", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
)

token_burns = Table(
    "token_burns", metadata,
    Column("kind", String(8), primary_key=True),  # retire | redeem
    Column("seq", BigInteger, primary_key=True),  # the contract's retirement / redemption seq
    Column("chain_lot_id", BigInteger, nullable=False),
    Column("lot_id", String(ID)),
    Column("holder_address", String(ADDRESS), nullable=False),
    Column("amount_kg", BigInteger, nullable=False),
    Column("decision", String(12), nullable=False),  # accepted | refused
    Column("reason", Text),
    Column("settled", Boolean, nullable=False),  # the chain's BurnSettled was consumed
    Column("tx_hash", String(TX_HASH), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("applied_txn", String(ID)),
    Column("outbox_id", String(ID), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_token_burns_lot_settled", "chain_lot_id", "settled"),
)

token_officer_actions = Table(
    "token_officer_actions", metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(24), nullable=False),  # unfreeze_lot | unfreeze_address | resolve_dead_letter
    Column("target", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(12), nullable=False),  # requested | approved
    Column("requested_by", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("approved_by", String(ID)),
    Column("result", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_token_officer_actions_status", "status"),
)
