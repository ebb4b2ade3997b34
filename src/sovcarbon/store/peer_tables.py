"""Tables of the peer-registry capability, on the ledger's ``metadata`` (migration 0012).

| table | what it holds |
|---|---|
| peers | registered peer registries: id, base URL, Ed25519 public key, four-eyes status |
| peer_transfers | one row per cross-border transfer on this side (origin or destination) and its state |
| peer_messages | every signed message sent or received, by (transfer id, message type), with its chain position |
| peer_mirrors | issuances of another registry mirrored here so that received units have a serial home |
| peer_uses_abroad | retirements of this registry's units reported by the registry that held them |
| peer_reconciliations | I7 reconciliation runs against a peer and their findings |
| peer_keys | a peer's new public keys (four-eyes) and the cutover from which the new key alone is accepted (0018) |
| peer_entity_uses | uses by our entities of units another Party authorized for ours, e.g. tokens retired on its chain |
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from sovcarbon.store.tables import ID, metadata

peers = Table(
    "peers", metadata,
    Column("id", String(ID), primary_key=True),  # the peer registry's id, e.g. "ID-NR"
    Column("base_url", String(300), nullable=False),
    Column("public_key", String(64), nullable=False),  # Ed25519, raw, hex
    Column("party_code", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # pending_approval | active | rejected
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
    Column("country", String(2)),  # ISO 3166-1 alpha-2 (migration 0018; NULL: not recorded)
    Column("tls_ca", Text),  # PEM the peer's HTTPS endpoint is verified against (0018; NULL: system trust)
)

peer_transfers = Table(
    "peer_transfers", metadata,
    Column("id", String(ID), primary_key=True),
    Column("side", String(12), nullable=False),  # origin | destination
    Column("peer_id", String(ID), nullable=False),
    Column("state", String(20), nullable=False),
    Column("account_id", String(ID), nullable=False),  # origin: sending account; destination: receiving
    Column("counterparty_account", String(ID), nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("serials", Text, nullable=False),  # JSON list of serial ranges
    Column("detail", Text, nullable=False),  # JSON: LoA, purpose, entity, actor, issuances (prefix -> kg)
    Column("deadline_at", String(32), nullable=False),
    Column("txn_id", String(ID)),  # origin: the commit transaction; destination: the suspense transaction
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index("ix_peer_transfers_state", "side", "state"),
)

peer_messages = Table(
    "peer_messages", metadata,
    Column("transfer_id", String(ID), primary_key=True),
    Column("msg_type", String(24), primary_key=True),
    Column("direction", String(3), nullable=False),  # in | out
    Column("seq", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("jws", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

peer_mirrors = Table(
    "peer_mirrors", metadata,
    Column("issuance_id", String(ID), primary_key=True),
    Column("serial_prefix", String(40), nullable=False, unique=True),
    Column("peer_id", String(ID), nullable=False),
    Column("issued_kg", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
)

peer_uses_abroad = Table(
    "peer_uses_abroad", metadata,
    Column("id", String(ID), primary_key=True),  # the notice's id at the reporting registry (its retirement)
    Column("peer_id", String(ID), nullable=False),
    Column("transfer_id", String(ID)),
    Column("serials", Text, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("purpose", String(30), nullable=False),
    Column("beneficiary_name", String(200), nullable=False),
    Column("claim_year", Integer, nullable=False),
    Column("retired_at", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)

peer_reconciliations = Table(
    "peer_reconciliations", metadata,
    Column("id", String(ID), primary_key=True),
    Column("peer_id", String(ID), nullable=False),
    Column("ok", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

peer_keys = Table(
    "peer_keys", metadata,
    Column("id", String(ID), primary_key=True),
    Column("peer_id", String(ID), nullable=False),
    Column("public_key", String(64), nullable=False),  # Ed25519, raw, hex
    Column("cutover_at", String(32), nullable=False),  # from then on only this key is accepted
    Column("status", String(20), nullable=False),  # pending_approval | active | rejected
    Column("requested_by_key", String(ID), nullable=False),
    Column("requested_by_name", String(200), nullable=False),
    Column("decided_by_key", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("decided_at", String(32)),
    Index("ix_peer_keys_peer", "peer_id", "status"),
)

peer_entity_uses = Table(
    "peer_entity_uses", metadata,
    Column("id", String(ID), primary_key=True),  # the notice's id at the sending registry (its retirement)
    Column("peer_id", String(ID), nullable=False),
    Column("serials", Text, nullable=False),
    Column("quantity_kg", BigInteger, nullable=False),
    Column("purpose", String(30), nullable=False),
    Column("entity_name", String(200), nullable=False),
    Column("beneficiary_name", String(200), nullable=False),
    Column("claim_year", Integer, nullable=False),
    Column("retired_at", String(32), nullable=False),
    Column("blocks", Text, nullable=False),  # JSON: [{"serials": [...], "vintage": {...}, "itmo": {...}}]
    Column("created_at", String(32), nullable=False),
)

PEER_TABLE_NAMES = ("peers", "peer_transfers", "peer_messages", "peer_mirrors", "peer_uses_abroad",
                    "peer_reconciliations", "peer_keys", "peer_entity_uses")
