"""Runs retire.feature: one scenario per rule row of domain/retire.py (5001 needs a VCS world: it stays in
tests/test_movements.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_bdd import scenarios
from world import Api

scenarios("retire.feature")


def serial(api: Api, first_kg: int, last_kg: int) -> str:
    return f"{api.ids['prefix']}-{first_kg:012d}-{last_kg:012d}"


def _retire(account: str = "foundation_acc", beneficiary: dict[str, str] | None = None,
            **over: Any) -> Callable[[Api], dict[str, Any]]:
    def body(api: Api) -> dict[str, Any]:
        resolved = {k: (v(api) if callable(v) else v) for k, v in over.items()}
        return {"account_id": api.ids[account], "purpose": "voluntary", "claim_year": 2026,
                "beneficiary": beneficiary or {"name": "Siam Cement", "country": "TH"}, **resolved}
    return body


@pytest.fixture
def bodies() -> dict[str, Callable[[Api], dict[str, Any]]]:
    return {
        "1,000 kg voluntary": _retire(quantity_kg=1000),
        "10 kg from a suspended acct": _retire("other_acc", quantity_kg=10),
        "an unknown purpose": _retire(quantity_kg=1000, purpose="bragging"),
        "claim year 1800": _retire(quantity_kg=1000, claim_year=1800),
        "no beneficiary country": _retire(quantity_kg=1000, beneficiary={"name": "Siam Cement"}),
        "retired serials": _retire(serials=lambda a: [serial(a, 1, 10)]),
        "frozen serials": _retire(serials=lambda a: [serial(a, 8_000_001, 8_000_010)]),
        "9,000,000 kg voluntary": _retire(quantity_kg=9_000_000),
        "1,000 kg for CORSIA": _retire(quantity_kg=1000, purpose="corsia"),
    }
