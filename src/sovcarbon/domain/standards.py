"""Crediting standards and the country profile a registry instance runs under.

Nothing here is Thailand-specific: the values come from configuration (``sovcarbon.config``), so a
second country can run its own instance with its own standards, serial codes and use rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Purpose


@dataclass(frozen=True)
class Standard:
    """A crediting standard as the registry records it."""

    code: str  # API name, e.g. "PREMIUM_T-VER"
    serial_code: str  # serial field, e.g. "PTVER"
    label: str
    domestic: bool  # issued by this registry (False: recorded international units, e.g. VCS, GS)
    exportable: bool  # may leave the country as ITMOs with an authorization
    allowed_purposes: frozenset[Purpose]
    # The buffer share the standard requires, per methodology: (methodology prefix, percent of the issued
    # quantity). The longest matching prefix wins; no match means no buffer is required.
    buffer_shares: tuple[tuple[str, int], ...] = ()

    def buffer_share_pct(self, methodology: str) -> int:
        """The percent of an issuance this standard requires in the buffer for a project's methodology."""
        best: tuple[int, int] = (-1, 0)
        for prefix, pct in self.buffer_shares:
            if methodology.upper().startswith(prefix.upper()) and len(prefix) > best[0]:
                best = (len(prefix), pct)
        return best[1]

    def required_buffer_kg(self, methodology: str, quantity_kg: int) -> int:
        """The required buffer in kg: the share of the quantity, rounded up to whole tonnes."""
        share_kg = -(-quantity_kg * self.buffer_share_pct(methodology) // 100)
        return -(-share_kg // 1000) * 1000


@dataclass(frozen=True)
class RegistryProfile:
    """The country a registry instance serves."""

    country: str  # ISO 3166-1 alpha-2, first serial field
    party_code: str  # ISO 3166-1 alpha-3, for ITMO identifiers
    registry_name: str
    agency_name: str
    standards: dict[str, Standard]

    def standard(self, code: str) -> Standard:
        try:
            return self.standards[code]
        except KeyError:
            raise RegistryError(
                1003, f"unknown standard {code!r}", allowed=sorted(self.standards)
            ) from None

    def standard_by_serial_code(self, serial_code: str) -> Standard | None:
        for std in self.standards.values():
            if std.serial_code == serial_code:
                return std
        return None
