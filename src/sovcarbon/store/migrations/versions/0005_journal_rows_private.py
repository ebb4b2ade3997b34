"""journal: the private part of each entry (full payload + row images), committed by its hash

Entries written from this revision on have canonical bytes {"at", "kind", "private_hash", "public",
"seq"}; the private part (the full payload and the image of every ledger row the transaction wrote)
is stored in ``journal.private`` and its SHA-256 is inside the hash chain. Entries written before
(format v1: {"at", "kind", "payload", "seq"}) keep a NULL private part.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("journal", sa.Column("private", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journal") as batch:  # SQLite before 3.35 cannot drop a column in place
        batch.drop_column("private")
