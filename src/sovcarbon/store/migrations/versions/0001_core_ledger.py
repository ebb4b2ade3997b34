"""core ledger: participants, accounts, projects, issuances, blocks, journal

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 21:51:56.400815
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('checkpoints',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('from_seq', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('merkle_root', sa.String(length=64), nullable=False),
    sa.Column('prev_checkpoint_hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('idempotency',
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key')
    )
    op.create_table('journal',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('entry', sa.LargeBinary(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('journal_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('participants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('kyc_status', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('license_kind', sa.String(length=20), nullable=True),
    sa.Column('license_number', sa.String(length=80), nullable=True),
    sa.Column('wallet_address', sa.String(length=42), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('registry_settings',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('transactions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=True),
    sa.Column('counterparty_account_id', sa.String(length=40), nullable=True),
    sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
    sa.Column('actor_key_id', sa.String(length=40), nullable=False),
    sa.Column('journal_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_account', ['account_id'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('participant_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_participant_id'), ['participant_id'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('participant_id', sa.String(length=40), nullable=True),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('revoked_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('projects',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('standard', sa.String(length=30), nullable=False),
    sa.Column('methodology', sa.String(length=120), nullable=False),
    sa.Column('host_country', sa.String(length=2), nullable=False),
    sa.Column('proponent_id', sa.String(length=40), nullable=False),
    sa.Column('crediting_start', sa.String(length=10), nullable=False),
    sa.Column('crediting_end', sa.String(length=10), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('submitted_by', sa.String(length=40), nullable=False),
    sa.Column('validated_by', sa.String(length=40), nullable=True),
    sa.Column('validation_report', sa.Text(), nullable=True),
    sa.Column('registered_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['proponent_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_table('cancellations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('quantity_kg', sa.BigInteger(), nullable=True),
    sa.Column('serials', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by_key', sa.String(length=40), nullable=False),
    sa.Column('requested_by_name', sa.String(length=200), nullable=False),
    sa.Column('decided_by_key', sa.String(length=40), nullable=True),
    sa.Column('txn_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('decided_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('issuances',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('project_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.String(length=10), nullable=False),
    sa.Column('period_end', sa.String(length=10), nullable=False),
    sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
    sa.Column('buffer_kg', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('buffer_account_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('serial_prefix', sa.String(length=40), nullable=False),
    sa.Column('requested_by_key', sa.String(length=40), nullable=False),
    sa.Column('requested_by_name', sa.String(length=200), nullable=False),
    sa.Column('decided_by_key', sa.String(length=40), nullable=True),
    sa.Column('verification_ref', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('decided_at', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['buffer_account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'vintage', 'number', name='uq_issuance_number'),
    sa.UniqueConstraint('serial_prefix')
    )
    with op.batch_alter_table('issuances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issuances_project_id'), ['project_id'], unique=False)

    op.create_table('project_registrations',
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('external_id', sa.String(length=80), nullable=False),
    sa.Column('project_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ),
    sa.PrimaryKeyConstraint('programme', 'external_id')
    )
    with op.batch_alter_table('project_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_registrations_project_id'), ['project_id'], unique=False)

    op.create_table('retirements',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('txn_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
    sa.Column('beneficiary_name', sa.String(length=200), nullable=False),
    sa.Column('beneficiary_country', sa.String(length=2), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('claim_year', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('certificate_id', sa.String(length=40), nullable=False),
    sa.Column('evidence', sa.Text(), server_default='{}', nullable=False),
    sa.Column('journal_seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('certificate_id'),
    sa.UniqueConstraint('txn_id')
    )
    with op.batch_alter_table('retirements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retirements_account_id'), ['account_id'], unique=False)

    op.create_table('blocks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('issuance_id', sa.String(length=40), nullable=False),
    sa.Column('project_id', sa.String(length=40), nullable=False),
    sa.Column('standard', sa.String(length=30), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('serial_prefix', sa.String(length=40), nullable=False),
    sa.Column('first_kg', sa.BigInteger(), nullable=False),
    sa.Column('last_kg', sa.BigInteger(), nullable=False),
    sa.Column('quantity_kg', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('account_id', sa.String(length=40), nullable=False),
    sa.Column('parent_id', sa.String(length=40), nullable=True),
    sa.Column('txn_id', sa.String(length=40), nullable=False),
    sa.Column('consumed_by_txn', sa.String(length=40), nullable=True),
    sa.Column('is_leaf', sa.Boolean(), nullable=False),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.Column('lot_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['issuance_id'], ['issuances.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.create_index('ix_blocks_leaf_account', ['account_id', 'state', 'serial_prefix', 'first_kg'], unique=False, sqlite_where=sa.text('is_leaf'), postgresql_where=sa.text('is_leaf'))
        batch_op.create_index('ix_blocks_leaf_serial', ['serial_prefix', 'first_kg'], unique=False, sqlite_where=sa.text('is_leaf'), postgresql_where=sa.text('is_leaf'))
        batch_op.create_index('ix_blocks_parent', ['parent_id'], unique=False)
        batch_op.create_index('ix_blocks_txn', ['txn_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('blocks', schema=None) as batch_op:
        batch_op.drop_index('ix_blocks_txn')
        batch_op.drop_index('ix_blocks_parent')
        batch_op.drop_index('ix_blocks_leaf_serial', sqlite_where=sa.text('is_leaf'), postgresql_where=sa.text('is_leaf'))
        batch_op.drop_index('ix_blocks_leaf_account', sqlite_where=sa.text('is_leaf'), postgresql_where=sa.text('is_leaf'))

    op.drop_table('blocks')
    with op.batch_alter_table('retirements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retirements_account_id'))

    op.drop_table('retirements')
    with op.batch_alter_table('project_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_registrations_project_id'))

    op.drop_table('project_registrations')
    with op.batch_alter_table('issuances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issuances_project_id'))

    op.drop_table('issuances')
    op.drop_table('cancellations')
    op.drop_table('projects')
    op.drop_table('api_keys')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_participant_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_account')

    op.drop_table('transactions')
    op.drop_table('registry_settings')
    op.drop_table('participants')
    op.drop_table('journal_head')
    op.drop_table('journal')
    op.drop_table('idempotency')
    op.drop_table('checkpoints')

