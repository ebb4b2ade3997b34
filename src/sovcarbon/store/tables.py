"""SQLAlchemy Core tables of the ledger. Quantities are BIGINT kilograms; dates are ISO strings.

The schema is created by Alembic migrations (``store/migrations``), never by ``create_all``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = 40

participants = Table(
    "participants", metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("country", String(2), nullable=False),
    Column("kyc_status", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("license_kind", String(20)),
    Column("license_number", String(80)),
    Column("wallet_address", String(42)),
    Column("created_at", String(32), nullable=False),
)

accounts = Table(
    "accounts", metadata,
    Column("id", String(ID), primary_key=True),
    Column("participant_id", String(ID), ForeignKey("participants.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(ID), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("participant_id", String(ID), ForeignKey("participants.id")),
    Column("role", String(30), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
    Column("expires_at", String(32)),  # migration 0007; NULL = never expires
)

projects = Table(
    "projects", metadata,
    Column("id", String(ID), primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("standard", String(30), nullable=False),
    Column("methodology", String(120), nullable=False),
    Column("host_country", String(2), nullable=False),
    Column("proponent_id", String(ID), ForeignKey("participants.id"), nullable=False),
    Column("crediting_start", String(10), nullable=False),
    Column("crediting_end", String(10), nullable=False),
    Column("location", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("submitted_by", String(ID), nullable=False),
    Column("validated_by", String(ID)),
    Column("validation_report", Text),
    Column("registered_by", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("mitigation_type", String(40)),  # migration 0015; NULL = recorded before it (the AEF falls back)
)

project_registrations = Table(
    "project_registrations", metadata,
    Column("programme", String(30), primary_key=True),
    Column("external_id", String(80), primary_key=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False, index=True),
)

issuances = Table(
    "issuances", metadata,
    Column("id", String(ID), primary_key=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("period_start", String(10), nullable=False),
    Column("period_end", String(10), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("buffer_kg", BigInteger, nullable=False),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("buffer_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("serial_prefix", String(40), nullable=False, unique=True),
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("verification_ref", String(200)),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
    Column("verified_kg", BigInteger),  # migration 0010
    Column("mitigation_type", String(40)),  # migration 0015; NULL = the project's
    UniqueConstraint("project_id", "vintage", "number", name="uq_issuance_number"),
)

transactions = Table(
    "transactions", metadata,
    Column("id", String(ID), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("account_id", String(ID)),
    Column("counterparty_account_id", String(ID)),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("actor_key_id", String(ID), nullable=False),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_transactions_account", "account_id"),
)

blocks = Table(
    "blocks", metadata,
    Column("id", String(ID), primary_key=True),
    Column("issuance_id", String(ID), ForeignKey("issuances.id"), nullable=False),
    Column("project_id", String(ID), nullable=False),
    Column("standard", String(30), nullable=False),
    Column("vintage", Integer, nullable=False),
    Column("serial_prefix", String(40), nullable=False),
    Column("first_kg", BigInteger, nullable=False),
    Column("last_kg", BigInteger, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("parent_id", String(ID)),
    Column("txn_id", String(ID), nullable=False),
    Column("consumed_by_txn", String(ID)),
    Column("is_leaf", Boolean, nullable=False),
    Column("frozen", Boolean, nullable=False),
    Column("lot_id", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("lien_id", String(ID)),  # migration 0016: the lien of a pledged block (NULL otherwise)
    # The hot path: free leaves of an account in serial order.
    Index("ix_blocks_leaf_account", "account_id", "state", "serial_prefix", "first_kg",
          sqlite_where=Column("is_leaf"), postgresql_where=Column("is_leaf")),
    Index("ix_blocks_leaf_serial", "serial_prefix", "first_kg",
          sqlite_where=Column("is_leaf"), postgresql_where=Column("is_leaf")),
    # A lot's leaves (tokenization): burns pick the lowest serials of one lot in a custody account.
    Index("ix_blocks_leaf_lot", "lot_id", "state", "serial_prefix", "first_kg",
          sqlite_where=Column("is_leaf"), postgresql_where=Column("is_leaf")),
    # A lien's pledged leaves (release, enforcement), migration 0016.
    Index("ix_blocks_leaf_lien", "lien_id", "serial_prefix", "first_kg",
          sqlite_where=Column("is_leaf"), postgresql_where=Column("is_leaf")),
    Index("ix_blocks_parent", "parent_id"),
    Index("ix_blocks_txn", "txn_id"),
)

retirements = Table(
    "retirements", metadata,
    Column("id", String(ID), primary_key=True),
    Column("txn_id", String(ID), nullable=False, unique=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("beneficiary_name", String(200), nullable=False),
    Column("beneficiary_country", String(2), nullable=False),
    Column("purpose", String(30), nullable=False),
    Column("claim_year", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("certificate_id", String(ID), nullable=False, unique=True),
    Column("evidence", Text, nullable=False, server_default="{}"),
    Column("journal_seq", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Retirement certificates (migration 0006): signed once, in the retirement's transaction, and served
# byte-for-byte as stored; a later edit of a retirement row can never yield a freshly signed certificate.
certificates = Table(
    "certificates", metadata,
    Column("id", String(ID), primary_key=True),
    Column("retirement_id", String(ID), ForeignKey("retirements.id"), nullable=False, unique=True),
    Column("document", LargeBinary, nullable=False),  # the signed bytes: canonical JSON of the certificate
    Column("signature", String(128), nullable=False),  # Ed25519, hex
    Column("public_key", String(64), nullable=False),  # the signing key's id: its raw public key, hex
    Column("created_at", String(32), nullable=False),
)

cancellations = Table(
    "cancellations", metadata,
    Column("id", String(ID), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("quantity_kg", BigInteger),
    Column("serials", Text),
    Column("reason", Text, nullable=False),
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("txn_id", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
)

# Administrative transfers (migration 0008): an officer moves a holder's units under a court order or a
# correction, requested by a registry_admin with a reason and legal reference, applied by a registry_approver.
admin_transfers = Table(
    "admin_transfers", metadata,
    Column("id", String(ID), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("from_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("to_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("quantity_kg", BigInteger),
    Column("selection", Text),
    Column("reason", Text, nullable=False),
    Column("legal_reference", String(300), nullable=False),
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("decision_reason", Text),
    Column("txn_id", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
)

# Tokenization consents (migration 0008): a holder's own act (its key) allowing one intermediary to tokenize
# up to max_kg of one of its accounts; the intermediary presents it (consent_id) to onboard and tokenize.
token_consents = Table(
    "token_consents", metadata,
    Column("id", String(ID), primary_key=True),
    Column("holder_participant_id", String(ID), ForeignKey("participants.id"), nullable=False),
    Column("holder_account_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("intermediary_id", String(ID), ForeignKey("participants.id"), nullable=False),
    Column("max_kg", BigInteger, nullable=False),
    Column("used_kg", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("granted_by_key", String(ID), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)

journal = Table(
    "journal", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(40), nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    # The private part of the entry (full payload + row images, canonical JSON; its SHA-256 is the entry's
    # "private_hash"); NULL for entries written before migration 0005 (format v1). See domain/journal.py.
    Column("private", LargeBinary),
)

# One row (id = 1): the head of the hash chain. Every write transaction locks it first, which gives
# the journal (and so the ledger) a single total order of changes.
journal_head = Table(
    "journal_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("from_seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("merkle_root", String(64), nullable=False),
    Column("prev_checkpoint_hash", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
)

idempotency = Table(
    "idempotency", metadata,
    Column("scope", String(ID), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
)

settings_kv = Table(
    "registry_settings", metadata,
    Column("key", String(80), primary_key=True),
    Column("value", Text, nullable=False),
)
