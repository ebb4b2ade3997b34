"""Integer kilograms: the only unit of account. No floats anywhere in accounting."""

from __future__ import annotations

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import KG_PER_TONNE

MAX_QUANTITY_KG = 10**12 - 1  # the serial's 12-digit kilogram field


def require_quantity(value: object, field: str = "quantity_kg", *, allow_zero: bool = False) -> int:
    """A positive integer number of kg (2003); bools and floats are not integers here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RegistryError(2003, f"{field} must be an integer number of kg", field=field, value=repr(value)[:40])
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_QUANTITY_KG:
        raise RegistryError(2003, f"{field} must be a positive integer number of kg up to {MAX_QUANTITY_KG}",
                            field=field, value=value)
    return value


def require_whole_tonnes(value: int, field: str = "quantity_kg") -> int:
    if value % KG_PER_TONNE:
        raise RegistryError(2004, f"{field} must be a whole number of tonnes (a multiple of 1,000 kg)",
                            field=field, value=value)
    return value
