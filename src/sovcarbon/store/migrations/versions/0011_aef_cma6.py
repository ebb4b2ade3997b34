"""a6_submissions: each submission of a year's AEF (CMA.6), version X.Y rising on every resubmission

Existing data: nothing to fill. LoAs granted before the CMA.6 fields (cooperative approach id of the
form CA + 4 digits, sectors and activity types from the UNFCCC nomenclature, mitigation type, the
authorized entities' identification number and country of incorporation) keep their stored version
bodies (journaled, never rewritten): the report shows what they hold and an operator supplies the rest
by an amendment (four-eyes) before submitting. Missing mitigation type reads as "Emission reductions";
the NDC implementation period reads from registry settings ndc_first_year / ndc_last_year (2021-2030
when unset).

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-01 15:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "a6_submissions",
        sa.Column("year", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("major", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("minor", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("submitted_at", sa.String(32), nullable=False),
        sa.Column("submitted_by_key", sa.String(40), nullable=False),
        sa.Column("tables_sha256", sa.String(64), nullable=False),
        sa.Column("journal_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("year", "major", "minor"),
    )


def downgrade() -> None:
    op.drop_table("a6_submissions")
