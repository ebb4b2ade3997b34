"""Replay of the journal's row images (pure): the journal is the authority over the ledger tables.

Every format-v2 entry's private part holds the image of each ledger row its transaction wrote. Folding
the images in seq order from genesis gives the state the journal vouches for; comparing it with the live
tables, row by row and column by column, finds any edit made behind the journal's back.

| finding | meaning |
|---|---|
| ``differs`` | a row's columns are not what the journal last recorded (e.g. a block re-homed, un-retired) |
| ``not_journaled`` | a row exists that no journal entry ever wrote (e.g. an inserted issuance, a forged key) |
| ``missing`` | the journal recorded a row that is gone from its table |
| ``private_part`` | an entry's private part does not hash to the ``private_hash`` its chained bytes carry |
| ``format_v1`` | the journal holds entries written before row images existed: replay refuses (it cannot vouch) |

The folded state keeps a 16-byte digest and the last seq per row (not the rows), so a ledger of a million
blocks replays in one streaming pass with bounded memory per row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain.journal import canonical_json

DIGEST_BYTES = 16


def image_digest(image: dict[str, Any], columns: tuple[str, ...] | None = None) -> bytes:
    """A row image's digest over its values in the table's column order (a column the image lacks, e.g. one
    a later migration added as NULL, counts as None). Values are str/int/bool/None, so repr is canonical."""
    if columns is None:
        return hashlib.blake2b(canonical_json(image), digest_size=DIGEST_BYTES).digest()
    get = image.get
    return hashlib.blake2b(repr(tuple([get(c) for c in columns])).encode(), digest_size=DIGEST_BYTES).digest()


@dataclass(frozen=True)
class Difference:
    kind: str  # differs | not_journaled | missing | private_part | format_v1
    table: str
    key: str
    column: str | None = None
    journal_value: Any = None
    table_value: Any = None
    last_seq: int | None = None

    def describe(self) -> str:
        where = f"{self.table} {self.key}"
        if self.kind == "differs":
            return (f"{where}: column {self.column} is {self.table_value!r} in the table but {self.journal_value!r} "
                    f"in the journal (last written by entry {self.last_seq})")
        if self.kind == "not_journaled":
            return f"{where}: the row is in the table but no journal entry ever wrote it"
        if self.kind == "missing":
            return f"{where}: the journal recorded this row (entry {self.last_seq}) but it is not in the table"
        if self.kind == "private_part":
            return f"journal entry {self.last_seq}: its private part does not match the private_hash it was chained with"
        return (f"journal entry {self.last_seq} is format v1 (written before migration 0005, without row images): "
                "replay from genesis is not possible for this journal")


def first_column_difference(journal_image: dict[str, Any] | None, table_image: dict[str, Any]) -> tuple[str, Any, Any]:
    """The first column (in the table's column order) whose values differ: (column, journal, table)."""
    if journal_image is None:
        return "(row)", None, "present"
    for column, value in table_image.items():
        if journal_image.get(column) != value:
            return column, journal_image.get(column), value
    for column, value in journal_image.items():
        if column not in table_image:
            return column, value, None
    return "(row)", "?", "?"


@dataclass
class ReplayState:
    """{table: {row key: digest (16 bytes) + last seq (8 bytes, big endian)}}; deleted rows are dropped."""

    columns: dict[str, tuple[str, ...]]  # table -> column order of its digests (tables of the live schema)
    rows: dict[str, dict[str, bytes]] = field(default_factory=dict)
    entries: int = 0

    def apply(self, seq: int, images: dict[str, dict[str, dict[str, Any] | None]]) -> None:
        self.entries += 1
        tail = seq.to_bytes(8, "big")
        for table, by_key in images.items():
            state = self.rows.setdefault(table, {})
            columns = self.columns.get(table)
            for key, image in by_key.items():
                if image is None:
                    state.pop(key, None)
                else:
                    state[key] = image_digest(image, columns) + tail

    @staticmethod
    def seq_of(packed: bytes) -> int:
        return int.from_bytes(packed[DIGEST_BYTES:], "big")
