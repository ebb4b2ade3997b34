"""tokens: lots, token holders, the bridge outbox, consumed chain events, event cursor, dead letters,
identity sync state, token balances mirror, reconciliation runs

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("token_reconciliations", "token_balances", "token_identity_sync", "token_dead_letters",
          "token_event_cursor", "token_events", "token_outbox", "token_lots", "token_holders")


def upgrade() -> None:
    op.create_table(
        "token_holders",
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("intermediary_id", sa.String(length=40), nullable=False),
        sa.Column("onboarded_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.ForeignKeyConstraint(["intermediary_id"], ["participants.id"]),
        sa.PrimaryKeyConstraint("participant_id"),
    )
    op.create_index("ix_token_holders_intermediary_id", "token_holders", ["intermediary_id"])
    op.create_table(
        "token_lots",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=False),
        sa.Column("holder_participant_id", sa.String(length=40), nullable=False),
        sa.Column("holder_account_id", sa.String(length=40), nullable=False),
        sa.Column("holder_address", sa.String(length=42), nullable=False),
        sa.Column("intermediary_id", sa.String(length=40), nullable=False),
        sa.Column("custody_account_id", sa.String(length=40), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("retired_kg", sa.BigInteger(), nullable=False),
        sa.Column("redeemed_kg", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("txn_id", sa.String(length=40), nullable=False),
        sa.Column("mint_block", sa.BigInteger(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["holder_participant_id"], ["participants.id"]),
        sa.ForeignKeyConstraint(["holder_account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["intermediary_id"], ["participants.id"]),
        sa.ForeignKeyConstraint(["custody_account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_lot_id"),
    )
    op.create_index("ix_token_lots_custody_account_id", "token_lots", ["custody_account_id"])
    op.create_table(
        "token_outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("op_id", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
        sa.UniqueConstraint("op_id"),
    )
    op.create_index("ix_token_outbox_lot_id", "token_outbox", ["lot_id"])
    op.create_index("ix_token_outbox_status_seq", "token_outbox", ["status", "seq"])
    op.create_table(
        "token_events",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=True),
        sa.Column("applied_txn", sa.String(length=40), nullable=True),
        sa.Column("journal_seq", sa.BigInteger(), nullable=True),
        sa.Column("applied_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", "log_index"),
    )
    op.create_table(
        "token_event_cursor",
        sa.Column("contract_address", sa.String(length=42), nullable=False),
        sa.Column("next_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("contract_address"),
    )
    op.create_table(
        "token_dead_letters",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index", name="uq_token_dead_letter_event"),
    )
    op.create_index("ix_token_dead_letters_status", "token_dead_letters", ["status"])
    op.create_table(
        "token_identity_sync",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("intermediary_address", sa.String(length=42), nullable=True),
        sa.Column("outbox_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"]),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_index("ix_token_identity_sync_participant_id", "token_identity_sync", ["participant_id"])
    op.create_table(
        "token_balances",
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("balance_kg", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_lot_id", "address"),
    )
    op.create_table(
        "token_reconciliations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("chain_block", sa.BigInteger(), nullable=False),
        sa.Column("lots_checked", sa.Integer(), nullable=False),
        sa.Column("lots_in_flight", sa.Integer(), nullable=False),
        sa.Column("mismatches", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for name in TABLES:
        op.drop_table(name)
