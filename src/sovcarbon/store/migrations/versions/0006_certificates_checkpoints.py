"""certificates: retirement certificates signed once, stored, and served as stored

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01 14:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("retirement_id", sa.String(length=40), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["retirement_id"], ["retirements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("retirement_id"),
    )


def downgrade() -> None:
    op.drop_table("certificates")
