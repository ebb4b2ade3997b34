"""The Article 6 authorizations aggregate's reads: LoAs and their versions, signed documents, the coverage of
units by LoAs, first transfers and exports per LoA, and the I6 snapshot.

Bound to a unit of work (``uow.repo.authorizations``). Services (``services/article6*.py``) build no SQL for
these tables; writes go through ``uow.repo.insert / update`` (journaled row images).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, RowMapping

from sovcarbon.domain.article6 import VersionStatus
from sovcarbon.domain.serials import SerialRange
from sovcarbon.store import article6_tables as a6


class AuthorizationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- serial-range look-ups (rows of one table that never overlap under ``conds``) ---------------------------
    def _overlapping(self, table: Table, rng: SerialRange, *conds: Any) -> list[RowMapping]:
        """Rows of ``table`` overlapping ``rng``. Rows under ``conds`` never overlap, so at most one starts
        before the range: take it plus those starting inside (two bounded index range scans)."""
        c = table.c
        before = self.conn.execute(select(table).where(c.serial_prefix == rng.prefix, c.first_kg <= rng.first_kg,
                                                       *conds).order_by(c.first_kg.desc()).limit(1)).mappings().first()
        inside = self.conn.execute(select(table).where(c.serial_prefix == rng.prefix, c.first_kg > rng.first_kg,
                                                       c.first_kg <= rng.last_kg, *conds)
                                   .order_by(c.first_kg)).mappings()
        out = [before] if before is not None and before["last_kg"] >= rng.first_kg else []
        return out + list(inside)

    def active_coverage(self, rng: SerialRange) -> list[RowMapping]:
        """Coverage rows (units under an LoA, not released) overlapping ``rng``."""
        return self._overlapping(a6.a6_coverage, rng, a6.a6_coverage.c.released_at.is_(None))

    def first_transfers_in(self, rng: SerialRange) -> list[RowMapping]:
        return self._overlapping(a6.a6_first_transfers, rng)

    def coverage_ranges(self, loa_id: str, project_id: str | None = None,
                        vintage: int | None = None) -> list[SerialRange]:
        """The live coverage of an LoA (optionally of one project / vintage), lowest serials first."""
        cov = a6.a6_coverage.c
        conds = [cov.loa_id == loa_id, cov.released_at.is_(None)]
        if project_id is not None:
            conds.append(cov.project_id == project_id)
        if vintage is not None:
            conds.append(cov.vintage == vintage)
        rows = self.conn.execute(select(cov.serial_prefix, cov.first_kg, cov.last_kg).where(*conds)
                                 .order_by(cov.serial_prefix, cov.first_kg)).all()
        return [SerialRange(r[0], int(r[1]), int(r[2])) for r in rows]

    def adjustments_of_txn(self, txn_id: str) -> list[dict[str, Any]]:
        """The corresponding adjustments of the first transfers a transaction made."""
        ca, ft = a6.a6_adjustments.c, a6.a6_first_transfers.c
        return [dict(r) for r in self.conn.execute(
            select(ca.id, ca.vintage, ca.quantity_kg, ca.method, ca.party_code).where(
                ca.id.in_(select(ft.ca_id).where(ft.txn_id == txn_id)))).mappings()]

    # --- labels ----------------------------------------------------------------------------------------------
    def labels_overlapping(self, rng: SerialRange, label: str | None = None) -> list[RowMapping]:
        """Label rows overlapping ``rng`` (of one ``label`` when named), by first kg."""
        c = a6.a6_labels.c
        conds = [c.serial_prefix == rng.prefix, c.first_kg <= rng.last_kg, c.last_kg >= rng.first_kg]
        if label is not None:
            conds.append(c.label == label)
        return list(self.conn.execute(select(a6.a6_labels).where(*conds).order_by(c.first_kg, c.id)).mappings())

    # --- documents -------------------------------------------------------------------------------------------
    def document(self, sha256: str) -> RowMapping | None:
        return self.conn.execute(select(a6.a6_documents).where(a6.a6_documents.c.sha256 == sha256)).mappings().first()

    def document_exists(self, sha256: str) -> bool:
        d = a6.a6_documents.c
        return self.conn.execute(select(d.sha256).where(d.sha256 == sha256)).first() is not None

    def document_meta(self, sha256: str) -> dict[str, Any] | None:
        d = a6.a6_documents.c
        row = self.conn.execute(select(d.sha256, d.name, d.media_type, d.size_bytes).where(d.sha256 == sha256)).first()
        return {"sha256": row[0], "name": row[1], "media_type": row[2], "size_bytes": int(row[3])} if row else None

    # --- versions --------------------------------------------------------------------------------------------
    def version(self, loa_id: str, version: int) -> RowMapping:
        v = a6.a6_authorization_versions.c
        return self.conn.execute(select(a6.a6_authorization_versions).where(v.loa_id == loa_id, v.version == version)
                                 ).mappings().one()

    def versions(self, loa_id: str) -> list[RowMapping]:
        v = a6.a6_authorization_versions.c
        return list(self.conn.execute(select(a6.a6_authorization_versions).where(v.loa_id == loa_id)
                                      .order_by(v.version)).mappings())

    def pending_version(self, loa_id: str) -> RowMapping | None:
        v = a6.a6_authorization_versions.c
        return self.conn.execute(select(a6.a6_authorization_versions).where(
            v.loa_id == loa_id, v.status == str(VersionStatus.PENDING_APPROVAL))).mappings().first()

    def next_version(self, loa_id: str) -> int:
        v = a6.a6_authorization_versions.c
        return int(self.conn.execute(select(func.max(v.version)).where(v.loa_id == loa_id)).scalar_one()) + 1

    # --- quantities per LoA ------------------------------------------------------------------------------------
    def attached_kg(self, loa_id: str) -> int:
        c = a6.a6_coverage.c
        return int(self.conn.execute(select(func.coalesce(func.sum(c.quantity_kg), 0))
                                     .where(c.loa_id == loa_id, c.released_at.is_(None))).scalar_one())

    def first_transferred_by_vintage(self, loa_id: str) -> dict[int, int]:
        c = a6.a6_first_transfers.c
        rows = self.conn.execute(select(c.vintage, func.sum(c.quantity_kg)).where(c.loa_id == loa_id)
                                 .group_by(c.vintage)).all()
        return {int(r[0]): int(r[1]) for r in rows}

    def exported_kg(self, loa_id: str) -> int:
        c = a6.a6_exports.c
        return int(self.conn.execute(select(func.coalesce(func.sum(c.quantity_kg), 0)).where(c.loa_id == loa_id))
                   .scalar_one())

    # --- invariant I6 ---------------------------------------------------------------------------------------------
    def snapshot_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """First transfers, adjustments, live coverage and the coverage history, as the I6 check reads them."""
        ft, ca, cov = a6.a6_first_transfers.c, a6.a6_adjustments.c, a6.a6_coverage.c
        return {
            "first_transfers": [(r[0], int(r[1]), int(r[2]), int(r[3]), r[4], r[5]) for r in self.conn.execute(
                select(ft.serial_prefix, ft.first_kg, ft.last_kg, ft.vintage, ft.ca_id, ft.loa_id))],
            "adjustments": [(r[0], int(r[1]), int(r[2]), r[3]) for r in self.conn.execute(
                select(ca.id, ca.vintage, ca.quantity_kg, ca.loa_id))],
            "coverage": [(r[0], int(r[1]), int(r[2]), r[3]) for r in self.conn.execute(
                select(cov.serial_prefix, cov.first_kg, cov.last_kg, cov.loa_id).where(cov.released_at.is_(None)))],
            "coverage_history": [(r[0], r[1], int(r[2]), int(r[3]), r[4], int(r[5]), r[6] is not None)
                                 for r in self.conn.execute(select(cov.issuance_id, cov.serial_prefix, cov.first_kg,
                                                                   cov.last_kg, cov.loa_id, cov.vintage,
                                                                   cov.released_at))],
        }
