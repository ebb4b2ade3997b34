"""issuances.verified_kg: the verification report's verified quantity (5003 EXCEEDS_VERIFIED)

An issuance request names the verified quantity of its verification report; the request and the
approval refuse a quantity (buffer included) above it. Older issuances have none (NULL).

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-01 14:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issuances") as batch:
        batch.add_column(sa.Column("verified_kg", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issuances") as batch:
        batch.drop_column("verified_kg")
