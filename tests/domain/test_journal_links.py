"""The journal's link verifier (``domain.journal.verify_stored``), the hot loop of ``journal verify``: rows are
(entry, hash, prev_hash) in seq order, positions come from the order and every entry's bytes name their own
position. Each kind of damage is named at the right position with the right reason."""

from __future__ import annotations

from sovcarbon.domain import journal as jr


def _chain(n: int) -> list[tuple[bytes, bytes, bytes]]:
    rows, prev = [], jr.GENESIS_HASH
    for seq in range(1, n + 1):
        entry = jr.canonical_json({"at": "2026-12-01T00:00:00Z", "kind": "t", "public": {"n": seq}, "seq": seq})
        digest = jr.chain_hash(prev, entry)
        rows.append((entry, digest.encode(), prev.encode()))
        prev = digest
    return rows


def _rehashed(entries: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    rows, prev = [], jr.GENESIS_HASH
    for entry in entries:
        digest = jr.chain_hash(prev, entry)
        rows.append((entry, digest.encode(), prev.encode()))
        prev = digest
    return rows


def test_a_whole_chain_verifies_in_any_batching() -> None:
    rows = _chain(10)
    for batches in ([rows], [rows[:3], rows[3:7], [], rows[7:]], [[r] for r in rows]):
        result, bad_prev = jr.verify_stored(batches, jr.GENESIS_HASH, 1)
        assert result.ok and result.entries == 10 and result.head_seq == 10 and bad_prev is None
        assert result.head_hash == rows[-1][1].decode()
    # a range in the middle, from its predecessor's hash
    result, _ = jr.verify_stored([rows[4:]], rows[3][1].decode(), 5)
    assert result.ok and result.entries == 6 and result.head_seq == 10


def test_each_kind_of_damage_is_named_at_its_position() -> None:
    rows = _chain(10)
    removed = rows[:4] + rows[5:]
    result, _ = jr.verify_stored([removed], jr.GENESIS_HASH, 1)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 5, "entry 5 is missing (found 6)")
    assert result.head_seq == 4 and result.head_hash == rows[3][1].decode()

    altered = list(rows)
    altered[6] = (rows[6][0].replace(b'"n":7', b'"n":8'), rows[6][1], rows[6][2])
    result, _ = jr.verify_stored([altered], jr.GENESIS_HASH, 1)
    assert (result.first_bad_seq, result.reason) == (7, "hash does not match the entry's bytes")

    # a forger removes entry 5 and re-hashes everything after it: the links hold, the positions do not
    forged = _rehashed([r[0] for r in removed])
    result, _ = jr.verify_stored([forged], jr.GENESIS_HASH, 1)
    assert (result.first_bad_seq, result.reason) == (5, "entry 5 is missing (found 6)")
    swapped = _rehashed([r[0] for r in rows[:2]] + [rows[3][0], rows[2][0]] + [r[0] for r in rows[4:]])
    result, _ = jr.verify_stored([swapped], jr.GENESIS_HASH, 1)
    assert (result.first_bad_seq, result.reason) == (3, "entry 3 is missing (found 4)")
    result, _ = jr.verify_stored([swapped[3:]], swapped[2][1].decode(), 4)
    assert (result.first_bad_seq, result.reason) == (4, "entry bytes belong to another position")


def test_a_bad_prev_hash_copy_is_reported_without_stopping_the_walk() -> None:
    rows = _chain(10)
    rows[5] = (rows[5][0], rows[5][1], b"f" * 64)
    result, bad_prev = jr.verify_stored([rows], jr.GENESIS_HASH, 1)
    assert result.ok and result.entries == 10 and bad_prev == 6
    as_stored = [(i + 1, e, p.decode(), h.decode()) for i, (e, h, p) in enumerate(rows)]
    whole = jr.verify_chain(as_stored)
    assert (whole.ok, whole.first_bad_seq, whole.reason) == (False, 6, "prev_hash does not match the previous entry")
    assert whole.head_hash == rows[4][1].decode()
