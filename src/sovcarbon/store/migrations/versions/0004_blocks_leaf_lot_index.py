"""blocks: a partial index on a lot's leaves; joins the Article 6 (0002) and tokens (0003) branches

A chain retirement or redemption picks the lowest serials of one lot inside a custody account that may
hold thousands of lots; lot views sum a lot's leaves. Without this index both scanned the account (or
the whole table).

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-27 23:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_blocks_leaf_lot", "blocks", ["lot_id", "state", "serial_prefix", "first_kg"], unique=False,
                    sqlite_where=sa.text("is_leaf"), postgresql_where=sa.text("is_leaf"))


def downgrade() -> None:
    op.drop_index("ix_blocks_leaf_lot", table_name="blocks")
