"""Article 6 tables: authorizations (LoA) and their versions, signed documents by content hash,
authorization coverage, first transfers, corresponding adjustments, AEF actions, exports, labels,
and the holdings frozen when a reporting year closes.

They live on the core ``metadata`` so that one migration run (``upgrade heads``) creates the whole
ledger. Units are named by serial ranges (prefix, first_kg, last_kg) and never by block id: blocks
split, serial ranges identify kilograms for ever. Created by migration ``0002_article6``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sovcarbon.store.tables import ID, metadata

PREFIX = 40

a6_documents = Table(
    "a6_documents", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# One row per LoA: its identity, status and current (approved) version.
a6_authorizations = Table(
    "a6_authorizations", metadata,
    Column("id", String(ID), primary_key=True),
    Column("status", String(20), nullable=False),  # pending_approval, active, revoked, rejected
    Column("current_version", Integer, nullable=False),  # 0 until the grant is approved
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# Every version ever requested (grant, amendment, revocation), approved or not; never rewritten
# except for its decision columns.
a6_authorization_versions = Table(
    "a6_authorization_versions", metadata,
    Column("loa_id", String(ID), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),  # grant, amendment, revocation
    Column("status", String(20), nullable=False),  # pending_approval, approved, rejected
    Column("body", Text, nullable=False),  # the LoA fields of this version (canonical JSON)
    Column("max_quantity_kg", BigInteger, nullable=False),
    Column("document_sha256", String(64)),
    Column("revoked_serials", Text),  # revocation: JSON list of serial ranges, null = the whole LoA
    Column("reason", Text, nullable=False),
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("request_seq", BigInteger, nullable=False),
    Column("decision_seq", BigInteger),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
)

# Serial ranges placed under an LoA. A kilogram is under at most one active coverage row.
a6_coverage = Table(
    "a6_coverage", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("loa_id", String(ID), nullable=False),
    Column("issuance_id", String(ID), nullable=False),
    Column("project_id", String(ID), nullable=False),
    Column("standard", String(30), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("serial_prefix", String(PREFIX), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("attached_at", String(32), nullable=False),
    Column("attach_seq", BigInteger, nullable=False),
    Column("released_at", String(32)),
    Column("released_seq", BigInteger),
    Index("ix_a6_coverage_serial", "serial_prefix", "first_kg"),
    Index("ix_a6_coverage_loa", "loa_id"),
)

# First transfer, once per kilogram, never undone (I6). ``ca_id`` names the adjustment written with it.
a6_first_transfers = Table(
    "a6_first_transfers", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("loa_id", String(ID), nullable=False),
    Column("serial_prefix", String(PREFIX), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("event", String(30), nullable=False),  # authorization, issuance, international_transfer, use
    Column("purpose", String(10), nullable=False),  # ndc, oimp
    Column("txn_id", String(ID)),
    Column("ca_id", String(ID), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("serial_prefix", "first_kg", name="uq_a6_first_transfer_start"),
    Index("ix_a6_first_transfers_loa", "loa_id"),
)

a6_adjustments = Table(
    "a6_adjustments", metadata,
    Column("id", String(ID), primary_key=True),
    Column("loa_id", String(ID), nullable=False),
    Column("party_code", String(3), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("method", String(40), nullable=False),
    Column("year", Integer, nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_a6_adjustments_vintage", "vintage"),
)

# One row per AEF action on one serial range (authorization, first transfer, transfer, use, ...).
a6_actions = Table(
    "a6_actions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("action_type", String(30), nullable=False),
    Column("year", Integer, nullable=False),
    Column("action_at", String(32), nullable=False),
    Column("loa_id", String(ID), nullable=False),
    Column("serial_prefix", String(PREFIX), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("purpose", String(10)),
    Column("first_transfer", Boolean, nullable=False),
    Column("transferring_party", String(3)),
    Column("acquiring_party", String(3)),
    Column("acquiring_registry", String(80)),
    Column("acquiring_entity", String(200)),
    Column("using_entity", String(200)),
    Column("txn_id", String(ID)),
    Column("journal_seq", BigInteger, nullable=False),
    Index("ix_a6_actions_year", "year", "id"),
)

a6_exports = Table(
    "a6_exports", metadata,
    Column("id", String(ID), primary_key=True),
    Column("txn_id", String(ID), nullable=False, unique=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("loa_id", String(ID), nullable=False),
    Column("purpose", String(10), nullable=False),
    Column("destination_party", String(3), nullable=False),
    Column("destination_registry", String(80), nullable=False),
    Column("destination_account", String(80), nullable=False),
    Column("acquiring_entity", String(200), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("first_transferred_kg", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("actor_key_id", String(ID), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
)

a6_labels = Table(
    "a6_labels", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("label", String(30), nullable=False),  # corsia_eligible, icvcm_ccp
    Column("serial_prefix", String(PREFIX), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("set_by_key", String(ID), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_a6_labels_serial", "serial_prefix", "first_kg"),
)

a6_year_closes = Table(
    "a6_year_closes", metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("cutoff", String(32), nullable=False),
    Column("closed_at", String(32), nullable=False),
    Column("closed_by_key", String(ID), nullable=False),
    Column("holdings_kg", BigInteger, nullable=False),
    Column("holdings_rows", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
)

# Holdings of authorized units at 31 December, written once when the year closes.
a6_holdings = Table(
    "a6_holdings", metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("row_no", Integer, primary_key=True, autoincrement=False),
    Column("loa_id", String(ID), nullable=False),
    Column("serial_prefix", String(PREFIX), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("account_id", String(ID), nullable=False),
    Column("first_transferred", Boolean, nullable=False),
)

ARTICLE6_TABLES = (a6_documents, a6_authorizations, a6_authorization_versions, a6_coverage,
                   a6_first_transfers, a6_adjustments, a6_actions, a6_exports, a6_labels, a6_year_closes,
                   a6_holdings)

# Each submission of a year's AEF (migration 0011): version major.minor (1.0, then 1.1, ... on every
# resubmission), when, by whom, and the SHA-256 of the tables submitted.
a6_submissions = Table(
    "a6_submissions", metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("major", Integer, primary_key=True, autoincrement=False),
    Column("minor", Integer, primary_key=True, autoincrement=False),
    Column("submitted_at", String(32), nullable=False),
    Column("submitted_by_key", String(ID), nullable=False),
    Column("tables_sha256", String(64), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
)
