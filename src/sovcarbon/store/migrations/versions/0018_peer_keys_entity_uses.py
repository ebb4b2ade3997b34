"""Peer registries, cross-border leftovers: a peer's country, peer key rotation, uses by our entities abroad

* ``peers.tls_ca``: the PEM certificate (its CA's, or its own self-signed one) the peer's HTTPS endpoint must
  present: the client verifies the peer's server against it alone (NULL: the system's trust store for https).
* ``peers.country``: the peer's ISO 3166-1 alpha-2 country (NULL for peers registered before: they get no
  notices of uses by their companies until an officer records it; the journal's row images count a missing
  column as NULL).
* ``peer_keys``: a new public key for a peer, requested by an admin and approved by an approver (four-eyes),
  with the cutover instant from which it alone is accepted (before it, the old key and the new one).
* ``peer_entity_uses``: signed notices from a peer registry that one of our entities used (retired) units
  that Party authorized for our Party, e.g. tokens retired on its chain: our acquisition and use.

Revision ID: 0018
Revises: 0004
Create Date: 2026-12-01 17:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0004"
branch_labels = None
depends_on = ("0012",)  # peers exists (0012): the new column and tables extend it

ID = 40


def upgrade() -> None:
    op.add_column("peers", sa.Column("country", sa.String(2)))
    op.add_column("peers", sa.Column("tls_ca", sa.Text()))
    op.create_table(
        "peer_keys",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("cutover_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by_key", sa.String(ID), nullable=False),
        sa.Column("requested_by_name", sa.String(200), nullable=False),
        sa.Column("decided_by_key", sa.String(ID)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("decided_at", sa.String(32)),
    )
    op.create_index("ix_peer_keys_peer", "peer_keys", ["peer_id", "status"])
    op.create_table(
        "peer_entity_uses",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("peer_id", sa.String(ID), nullable=False),
        sa.Column("serials", sa.Text(), nullable=False),
        sa.Column("quantity_kg", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("entity_name", sa.String(200), nullable=False),
        sa.Column("beneficiary_name", sa.String(200), nullable=False),
        sa.Column("claim_year", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.String(32), nullable=False),
        sa.Column("blocks", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("peer_entity_uses")
    op.drop_index("ix_peer_keys_peer", table_name="peer_keys")
    op.drop_table("peer_keys")
    op.drop_column("peers", "tls_ca")
    op.drop_column("peers", "country")
