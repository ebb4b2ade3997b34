"""Tables of the pledges capability (liens), on the ledger's ``metadata`` (migration 0016).

| table | what it holds |
|---|---|
| liens | one row per lien: registry units (account) or tokens (wallet + chain lot), pledgor, pledgee (a bank), |
|  | pledged / released / enforced kg, state, a flag when the registry cannot vouch for it, and for tokens the |
|  | chain evidence (tx hash, log index, block) of the last step applied |

Registry units under a live lien are ``blocks`` in state ``pledged`` with ``blocks.lien_id`` set (tables.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from sovcarbon.store.tables import ID, metadata

liens = Table(
    "liens", metadata,
    Column("id", String(ID), primary_key=True),
    Column("asset", String(10), nullable=False),  # units | tokens
    Column("holding", String(120), nullable=False),  # account id (units) or "<wallet>:<chain lot>" (tokens)
    Column("account_id", String(ID)),  # units
    Column("chain_lot_id", BigInteger),  # tokens
    Column("holder_address", String(42)),  # tokens, lower case
    Column("pledgor_id", String(ID)),  # the holder participant (NULL: a token holder the registry cannot name)
    Column("pledgee_id", String(ID)),  # the bank participant (NULL: a pledgee wallet of no participant: flagged)
    Column("pledgee_address", String(42)),  # tokens, lower case
    Column("pledged_kg", BigInteger, nullable=False),
    Column("released_kg", BigInteger, nullable=False),
    Column("enforced_kg", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # requested | active | defaulted | released | enforced | withdrawn
    Column("flag", Text),  # why the registry cannot vouch for this lien (tokens: pledgee no bank with a wallet)
    Column("tx_hash", String(66)),  # tokens: evidence of the last chain step applied
    Column("log_index", Integer),
    Column("block_number", BigInteger),
    Column("detail", Text, nullable=False),  # JSON: history of steps (who, kg, evidence)
    Column("requested_by_key", String(ID)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
Index("ix_liens_holding", liens.c.holding)
Index("ix_liens_pledgor", liens.c.pledgor_id)
Index("ix_liens_pledgee", liens.c.pledgee_id)
