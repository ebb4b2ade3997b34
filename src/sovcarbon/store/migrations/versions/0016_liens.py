"""Pledges with lien ids: the ``liens`` table and ``blocks.lien_id``

A lien is one pledge of registry units (an account) or of tokens on chain (a wallet and a chain lot) to a
bank. Registry units under an active lien are blocks in state ``pledged`` carrying the lien's id
(``blocks.lien_id``): every movement path refuses them (4003) without reading the liens, and release or
enforcement finds a lien's leaves by the partial index ``ix_blocks_leaf_lien``. Existing blocks keep NULL
(nothing was pledged before this revision; the journal's row images count a missing column as NULL).

Revision ID: 0016
Revises: 0004
Create Date: 2026-12-01 17:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = 40


def upgrade() -> None:
    op.create_table(
        "liens",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("asset", sa.String(10), nullable=False),
        sa.Column("holding", sa.String(120), nullable=False),
        sa.Column("account_id", sa.String(ID)),
        sa.Column("chain_lot_id", sa.BigInteger()),
        sa.Column("holder_address", sa.String(42)),
        sa.Column("pledgor_id", sa.String(ID)),
        sa.Column("pledgee_id", sa.String(ID)),
        sa.Column("pledgee_address", sa.String(42)),
        sa.Column("pledged_kg", sa.BigInteger(), nullable=False),
        sa.Column("released_kg", sa.BigInteger(), nullable=False),
        sa.Column("enforced_kg", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("flag", sa.Text()),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("log_index", sa.Integer()),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("requested_by_key", sa.String(ID)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_liens_holding", "liens", ["holding"])
    op.create_index("ix_liens_pledgor", "liens", ["pledgor_id"])
    op.create_index("ix_liens_pledgee", "liens", ["pledgee_id"])
    op.add_column("blocks", sa.Column("lien_id", sa.String(ID), nullable=True))
    op.create_index("ix_blocks_leaf_lien", "blocks", ["lien_id", "serial_prefix", "first_kg"], unique=False,
                    sqlite_where=sa.text("is_leaf"), postgresql_where=sa.text("is_leaf"))


def downgrade() -> None:
    op.drop_index("ix_blocks_leaf_lien", table_name="blocks")
    with op.batch_alter_table("blocks") as batch:
        batch.drop_column("lien_id")
    op.drop_index("ix_liens_pledgee", table_name="liens")
    op.drop_index("ix_liens_pledgor", table_name="liens")
    op.drop_index("ix_liens_holding", table_name="liens")
    op.drop_table("liens")
