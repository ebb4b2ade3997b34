"""projects.mitigation_type and issuances.mitigation_type (AEF Table 2/3/4 "Mitigation type")

A project records its mitigation type (Emission reductions, Removals, Emission reductions and removals);
an issuance may override it (NULL = the project's). Existing rows are NOT rewritten: every ledger row's image
is in the journal and replaying the journal must give the tables exactly, so a migration that filled them
would be an edit behind the journal's back. Existing projects keep NULL and the AEF reads, in order: the
issuance's value, the project's, the LoA's mitigation type (what the registry reported before), then the
documented default "Emission reductions" (domain.article6.effective_mitigation_type). An operator who wants
a recorded value for an older project sets it through the API (PUT /v1/projects/{id}/mitigation-type,
journaled).

Revision ID: 0015
Revises: 0004
Create Date: 2026-12-01 16:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("mitigation_type", sa.String(40), nullable=True))
    with op.batch_alter_table("issuances") as batch:
        batch.add_column(sa.Column("mitigation_type", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issuances") as batch:
        batch.drop_column("mitigation_type")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("mitigation_type")
