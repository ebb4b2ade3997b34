"""Crediting standards and the country profile a registry instance runs under.

Nothing here is Thailand-specific: the values come from configuration (``sovcarbon.config``), so a
second country can run its own instance with its own standards, serial codes and use rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    buffer_required_for: frozenset[str] = field(default_factory=frozenset)  # methodology prefixes


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
