"""Runs cancel.feature: one scenario per rule row of domain/cancel.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_bdd import scenarios
from world import Api

scenarios("cancel.feature")


@pytest.fixture
def bodies() -> dict[str, Callable[[Api], dict[str, Any]]]:
    def cancel(api: Api) -> dict[str, Any]:
        return {"account_id": api.ids["foundation_acc"], "quantity_kg": 1000, "reason": "reversal of over-crediting"}
    return {"1,000 kg of its own": cancel, "1,000 kg of the foundation's": cancel}
