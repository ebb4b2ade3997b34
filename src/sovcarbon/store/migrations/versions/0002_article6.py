"""article 6: authorizations (LoA), coverage, first transfers, corresponding adjustments, AEF

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 22:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("a6_holdings", "a6_year_closes", "a6_labels", "a6_exports", "a6_actions", "a6_adjustments",
          "a6_first_transfers", "a6_coverage", "a6_authorization_versions", "a6_authorizations",
          "a6_documents")
# Surrogate row ids: BIGINT on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'a6_documents',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_table(
        'a6_authorizations',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('current_version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('updated_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'a6_authorization_versions',
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('max_quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('document_sha256', sa.String(length=64), nullable=True),
        sa.Column('revoked_serials', sa.Text(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('requested_by_key', sa.String(length=40), nullable=False),
        sa.Column('requested_by_name', sa.String(length=200), nullable=False),
        sa.Column('decided_by_key', sa.String(length=40), nullable=True),
        sa.Column('request_seq', sa.BigInteger(), nullable=False),
        sa.Column('decision_seq', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.Column('decided_at', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('loa_id', 'version'),
    )
    op.create_table(
        'a6_coverage',
        sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('issuance_id', sa.String(length=40), nullable=False),
        sa.Column('project_id', sa.String(length=40), nullable=False),
        sa.Column('standard', sa.String(length=30), nullable=False),
        sa.Column('vintage', sa.Integer(), nullable=False),
        sa.Column('serial_prefix', sa.String(length=40), nullable=False),
        sa.Column('first_kg', sa.BigInteger(), nullable=False),
        sa.Column('last_kg', sa.BigInteger(), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('attached_at', sa.String(length=32), nullable=False),
        sa.Column('attach_seq', sa.BigInteger(), nullable=False),
        sa.Column('released_at', sa.String(length=32), nullable=True),
        sa.Column('released_seq', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_a6_coverage_loa', 'a6_coverage', ['loa_id'], unique=False)
    op.create_index('ix_a6_coverage_serial', 'a6_coverage', ['serial_prefix', 'first_kg'], unique=False)
    op.create_table(
        'a6_first_transfers',
        sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('serial_prefix', sa.String(length=40), nullable=False),
        sa.Column('first_kg', sa.BigInteger(), nullable=False),
        sa.Column('last_kg', sa.BigInteger(), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('vintage', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=False),
        sa.Column('txn_id', sa.String(length=40), nullable=True),
        sa.Column('ca_id', sa.String(length=40), nullable=False),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('serial_prefix', 'first_kg', name='uq_a6_first_transfer_start'),
    )
    op.create_index('ix_a6_first_transfers_loa', 'a6_first_transfers', ['loa_id'], unique=False)
    op.create_table(
        'a6_adjustments',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('party_code', sa.String(length=3), nullable=False),
        sa.Column('vintage', sa.Integer(), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('method', sa.String(length=40), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_a6_adjustments_vintage', 'a6_adjustments', ['vintage'], unique=False)
    op.create_table(
        'a6_actions',
        sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
        sa.Column('action_type', sa.String(length=30), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('action_at', sa.String(length=32), nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('serial_prefix', sa.String(length=40), nullable=False),
        sa.Column('first_kg', sa.BigInteger(), nullable=False),
        sa.Column('last_kg', sa.BigInteger(), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('vintage', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=True),
        sa.Column('first_transfer', sa.Boolean(), nullable=False),
        sa.Column('transferring_party', sa.String(length=3), nullable=True),
        sa.Column('acquiring_party', sa.String(length=3), nullable=True),
        sa.Column('acquiring_registry', sa.String(length=80), nullable=True),
        sa.Column('acquiring_entity', sa.String(length=200), nullable=True),
        sa.Column('using_entity', sa.String(length=200), nullable=True),
        sa.Column('txn_id', sa.String(length=40), nullable=True),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_a6_actions_year', 'a6_actions', ['year', 'id'], unique=False)
    op.create_table(
        'a6_exports',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('txn_id', sa.String(length=40), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('purpose', sa.String(length=10), nullable=False),
        sa.Column('destination_party', sa.String(length=3), nullable=False),
        sa.Column('destination_registry', sa.String(length=80), nullable=False),
        sa.Column('destination_account', sa.String(length=80), nullable=False),
        sa.Column('acquiring_entity', sa.String(length=200), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('first_transferred_kg', sa.BigInteger(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('actor_key_id', sa.String(length=40), nullable=False),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('txn_id'),
    )
    op.create_index('ix_a6_exports_account_id', 'a6_exports', ['account_id'], unique=False)
    op.create_table(
        'a6_labels',
        sa.Column('id', ROW_ID, autoincrement=True, nullable=False),
        sa.Column('label', sa.String(length=30), nullable=False),
        sa.Column('serial_prefix', sa.String(length=40), nullable=False),
        sa.Column('first_kg', sa.BigInteger(), nullable=False),
        sa.Column('last_kg', sa.BigInteger(), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('set_by_key', sa.String(length=40), nullable=False),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_a6_labels_serial', 'a6_labels', ['serial_prefix', 'first_kg'], unique=False)
    op.create_table(
        'a6_year_closes',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('cutoff', sa.String(length=32), nullable=False),
        sa.Column('closed_at', sa.String(length=32), nullable=False),
        sa.Column('closed_by_key', sa.String(length=40), nullable=False),
        sa.Column('holdings_kg', sa.BigInteger(), nullable=False),
        sa.Column('holdings_rows', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('journal_seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('year'),
    )
    op.create_table(
        'a6_holdings',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('row_no', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('loa_id', sa.String(length=40), nullable=False),
        sa.Column('serial_prefix', sa.String(length=40), nullable=False),
        sa.Column('first_kg', sa.BigInteger(), nullable=False),
        sa.Column('last_kg', sa.BigInteger(), nullable=False),
        sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
        sa.Column('vintage', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('account_id', sa.String(length=40), nullable=False),
        sa.Column('first_transferred', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('year', 'row_no'),
    )


def downgrade() -> None:
    for name in TABLES:
        op.drop_table(name)
