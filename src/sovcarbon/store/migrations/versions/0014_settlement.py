"""Settlement: DvP orders and the escrow events applied once

Revision ID: 0014
Revises: 0004
Create Date: 2026-12-01 15:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = 40


def upgrade() -> None:
    op.create_table(
        "dvp_orders",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("chain_dvp_id", sa.String(66), nullable=False, unique=True),
        sa.Column("operator_id", sa.String(ID), nullable=False),
        sa.Column("seller_id", sa.String(ID), nullable=False),
        sa.Column("buyer_id", sa.String(ID), nullable=False),
        sa.Column("seller_address", sa.String(42), nullable=False),
        sa.Column("buyer_address", sa.String(42), nullable=False),
        sa.Column("operator_address", sa.String(42), nullable=False),
        sa.Column("lot_id", sa.String(ID), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("price_satang_per_t", sa.BigInteger(), nullable=False),
        sa.Column("total_satang", sa.BigInteger(), nullable=False),
        sa.Column("deadline_s", sa.BigInteger(), nullable=False),
        sa.Column("deadline_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("delivery_funded", sa.Integer(), nullable=False),
        sa.Column("payment_funded", sa.Integer(), nullable=False),
        sa.Column("code", sa.Integer()),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("log_index", sa.Integer()),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_dvp_orders_status", "dvp_orders", ["status"])
    op.create_table(
        "dvp_events",
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("log_index", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("dvp_order_id", sa.String(ID)),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("journal_seq", sa.BigInteger()),
        sa.Column("applied_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dvp_events")
    op.drop_index("ix_dvp_orders_status", table_name="dvp_orders")
    op.drop_table("dvp_orders")
