"""Peer registries: peers, transfers, signed messages, mirrored issuances, uses abroad, reconciliations

Revision ID: 0012
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = 40


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("base_url", sa.String(300), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("party_code", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by_key", sa.String(ID), nullable=False),
        sa.Column("requested_by_name", sa.String(200), nullable=False),
        sa.Column("decided_by_key", sa.String(ID)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("decided_at", sa.String(32)),
    )
    op.create_table(
        "peer_transfers",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("side", sa.String(12), nullable=False),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("counterparty_account", sa.String(ID), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("deadline_at", sa.String(32), nullable=False),
        sa.Column("txn_id", sa.String(ID)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_peer_transfers_state", "peer_transfers", ["side", "state"])
    op.create_table(
        "peer_messages",
        sa.Column("transfer_id", sa.String(ID), primary_key=True),
        sa.Column("msg_type", sa.String(24), primary_key=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "peer_mirrors",
        sa.Column("issuance_id", sa.String(ID), primary_key=True),
        sa.Column("serial_prefix", sa.String(40), nullable=False, unique=True),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("issued_kg", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "peer_uses_abroad",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("transfer_id", sa.String(ID)),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("beneficiary_name", sa.String(200), nullable=False),
        sa.Column("claim_year", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "peer_reconciliations",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for name in ("peer_reconciliations", "peer_uses_abroad", "peer_mirrors", "peer_messages"):
        op.drop_table(name)
    op.drop_index("ix_peer_transfers_state", table_name="peer_transfers")
    op.drop_table("peer_transfers")
    op.drop_table("peers")
