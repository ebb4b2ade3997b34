"""Serial numbers: the one parser and formatter.

Format ``{CC}-{STD}-{PROJECT}-{VINTAGE}-{ISSUANCE}-{FIRST}-{LAST}`` with fixed-width numeric fields,
e.g. ``TH-PTVER-00042-2025-001-000000000001-000010000000``. FIRST and LAST count kilograms from 1
within the issuance. Anything else is rejected with 2002.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sovcarbon.domain.errors import RegistryError

PROJECT_WIDTH = 5
ISSUANCE_WIDTH = 3
KG_WIDTH = 12
MAX_KG_INDEX = 10**KG_WIDTH - 1

_SERIAL_RE = re.compile(r"^([A-Z]{2})-([A-Z0-9]{2,8})-(\d{5})-(\d{4})-(\d{3})-(\d{12})-(\d{12})$")
_PREFIX_RE = re.compile(r"^([A-Z]{2})-([A-Z0-9]{2,8})-(\d{5})-(\d{4})-(\d{3})$")


@dataclass(frozen=True, order=True)
class SerialRange:
    """A contiguous range of kilograms inside one issuance, named by its serial prefix."""

    prefix: str
    first_kg: int
    last_kg: int

    @property
    def quantity_kg(self) -> int:
        return self.last_kg - self.first_kg + 1

    def __str__(self) -> str:
        return format_serial(self.prefix, self.first_kg, self.last_kg)


def format_prefix(country: str, standard_code: str, project_number: int, vintage: int, issuance_number: int) -> str:
    if not (0 < project_number < 10**PROJECT_WIDTH):
        raise RegistryError(2002, f"project number {project_number} does not fit {PROJECT_WIDTH} digits")
    if not (0 < issuance_number < 10**ISSUANCE_WIDTH):
        raise RegistryError(2002, f"issuance number {issuance_number} does not fit {ISSUANCE_WIDTH} digits")
    if not (1000 <= vintage <= 9999):
        raise RegistryError(2002, f"vintage {vintage} is not a four-digit year")
    prefix = f"{country}-{standard_code}-{project_number:05d}-{vintage:04d}-{issuance_number:03d}"
    if not _PREFIX_RE.match(prefix):
        raise RegistryError(2002, f"serial prefix {prefix!r} is malformed")
    return prefix


def format_serial(prefix: str, first_kg: int, last_kg: int) -> str:
    if not (1 <= first_kg <= last_kg <= MAX_KG_INDEX):
        raise RegistryError(2002, f"serial range {first_kg}..{last_kg} is invalid")
    return f"{prefix}-{first_kg:012d}-{last_kg:012d}"


def parse_serial(text: object) -> SerialRange:
    """Parse one serial range; reject anything that is not exactly the format (2002)."""
    if not isinstance(text, str):
        raise RegistryError(2002, "a serial must be a string", serial=repr(text)[:80])
    match = _SERIAL_RE.match(text)
    if match is None:
        raise RegistryError(
            2002,
            "malformed serial; expected CC-STD-PROJECT(5)-VINTAGE(4)-ISSUANCE(3)-FIRST(12)-LAST(12)",
            serial=text[:80],
        )
    first_kg, last_kg = int(match.group(6)), int(match.group(7))
    if first_kg < 1:
        raise RegistryError(2002, "serial FIRST counts from 1", serial=text)
    if last_kg < first_kg:
        raise RegistryError(2002, "serial LAST is below FIRST", serial=text)
    prefix = "-".join(match.group(i) for i in range(1, 6))
    return SerialRange(prefix=prefix, first_kg=first_kg, last_kg=last_kg)


def parse_serial_list(texts: list[object], max_ranges: int = 1000) -> list[SerialRange]:
    """Parse a request's serial list: non-empty, bounded, no two ranges overlapping (2002)."""
    if not texts:
        raise RegistryError(2002, "serials must name at least one range")
    if len(texts) > max_ranges:
        raise RegistryError(2002, f"at most {max_ranges} serial ranges per request", count=len(texts))
    ranges = sorted(parse_serial(t) for t in texts)
    for a, b in zip(ranges, ranges[1:], strict=False):
        if a.prefix == b.prefix and b.first_kg <= a.last_kg:
            raise RegistryError(2002, "serial ranges overlap", first=str(a), second=str(b))
    return ranges
