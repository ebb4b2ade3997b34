"""Runs transfer.feature: one scenario per rule row of domain/transfer.py and domain/holdings.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_bdd import scenarios
from world import Api

scenarios("transfer.feature")


def serial(api: Api, first_kg: int, last_kg: int) -> str:
    return f"{api.ids['prefix']}-{first_kg:012d}-{last_kg:012d}"


def _move(frm: str, to: str, **what: Any) -> Callable[[Api], dict[str, Any]]:
    def body(api: Api) -> dict[str, Any]:
        resolved = {k: (v(api) if callable(v) else v) for k, v in what.items()}
        return {"from_account_id": api.ids[frm], "to_account_id": api.ids[to], **resolved}
    return body


@pytest.fixture
def bodies() -> dict[str, Callable[[Api], dict[str, Any]]]:
    return {
        "1,000 kg to the company": _move("foundation_acc", "company_acc", quantity_kg=1000),
        "both a quantity and serials": _move("foundation_acc", "other_acc", quantity_kg=10,
                                             serials=lambda a: [serial(a, 100, 109)]),
        "1,000 kg of the foundation's": _move("foundation_acc", "company_acc", quantity_kg=1000),
        "zero kg": _move("foundation_acc", "other_acc", quantity_kg=0),
        "a reversed serial range": _move("foundation_acc", "other_acc", serials=lambda a: [serial(a, 200, 100)]),
        "1,000 kg to itself": _move("foundation_acc", "foundation_acc", quantity_kg=1000),
        "1,000 kg to a retirement acct": _move("foundation_acc", "company_retirement_acc", quantity_kg=1000),
        "retired serials to other": _move("foundation_acc", "other_acc", serials=lambda a: [serial(a, 1, 10)]),
        "the foundation's serials": _move("other_acc", "foundation_acc", serials=lambda a: [serial(a, 100, 109)]),
        "frozen serials to other": _move("foundation_acc", "other_acc",
                                         serials=lambda a: [serial(a, 8_000_001, 8_000_010)]),
        "9,000,000 kg to other": _move("foundation_acc", "other_acc", quantity_kg=9_000_000),
    }
