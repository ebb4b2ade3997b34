"""bridge hardening: two-step burn requests (token_burns) and four-eyes officer actions on the bridge
(token_officer_actions)

A retirement or redemption on chain now locks the tokens as a request; the NR decides (applies it or
refuses it) and the bridge completes the burn or returns the tokens. ``token_burns`` records each
request, the decision and whether the chain has settled it (I4 counts unsettled requests on both sides).

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-01 14:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_burns",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_lot_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.String(length=40), nullable=True),
        sa.Column("holder_address", sa.String(length=42), nullable=False),
        sa.Column("amount_kg", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("applied_txn", sa.String(length=40), nullable=True),
        sa.Column("outbox_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("kind", "seq"),
    )
    op.create_index("ix_token_burns_lot_settled", "token_burns", ["chain_lot_id", "settled"])
    op.create_table(
        "token_officer_actions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.String(length=40), nullable=False),
        sa.Column("requested_by_name", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=40), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_token_officer_actions_status", "token_officer_actions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_token_officer_actions_status", table_name="token_officer_actions")
    op.drop_table("token_officer_actions")
    op.drop_index("ix_token_burns_lot_settled", table_name="token_burns")
    op.drop_table("token_burns")
