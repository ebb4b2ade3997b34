"""admin_transfers and token_consents: acts on holdings need the holder or four-eyes

admin_transfers: an officer's transfer of a holder's units (court order, correction), requested by a
registry_admin with a reason and a legal reference, approved (applied) or rejected by a
registry_approver who is not the requester (domain/admin_transfer.py).
token_consents: a holder's consent (its own key) for one intermediary to tokenize up to max_kg of one
of its accounts (services/token_consents.py).

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01 14:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_transfers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("from_account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("to_account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger()),
        sa.Column("selection", sa.Text()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("legal_reference", sa.String(300), nullable=False),
        sa.Column("requested_by_key", sa.String(40), nullable=False),
        sa.Column("requested_by_name", sa.String(200), nullable=False),
        sa.Column("decided_by_key", sa.String(40)),
        sa.Column("decision_reason", sa.Text()),
        sa.Column("txn_id", sa.String(40)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("decided_at", sa.String(32)),
    )
    op.create_table(
        "token_consents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("holder_participant_id", sa.String(40), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("holder_account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("intermediary_id", sa.String(40), sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("max_kg", sa.BigInteger(), nullable=False),
        sa.Column("used_kg", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("granted_by_key", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("token_consents")
    op.drop_table("admin_transfers")
