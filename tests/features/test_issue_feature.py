"""Runs issue.feature: one scenario per rule row of domain/issue.py (2001, a serial issued twice, cannot be
reached through the API: tests/test_rules_coverage.py raises it against the store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_bdd import scenarios
from world import Api, issuance_body

scenarios("issue.feature")


def _issue(project: str = "project", **over: Any) -> Callable[[Api], dict[str, Any]]:
    def body(api: Api) -> dict[str, Any]:
        fields: dict[str, Any] = {"vintage": 2024, "monitoring_period": {"start": "2024-01-01", "end": "2024-12-31"},
                                  "quantity_kg": 5_000_000, "buffer_kg": 500_000, **over}
        return issuance_body(api.ids[project], api.ids["foundation_acc"], **fields)
    return body


@pytest.fixture
def bodies() -> dict[str, Callable[[Api], dict[str, Any]]]:
    return {
        "5,000,000 kg for 2024": _issue(),
        "a submitted project": _issue("submitted_project"),
        "zero kg": _issue(quantity_kg=0),
        "1,500 kg": _issue(quantity_kg=1_500, buffer_kg=None),
        "a buffer above it": _issue(buffer_kg=6_000_000),
        "no buffer": _issue(buffer_kg=0),
        "vintage 2019": _issue(vintage=2019, monitoring_period={"start": "2019-01-01", "end": "2019-12-31"}),
        "the 2025 period again": _issue(vintage=2025, monitoring_period={"start": "2025-01-01", "end": "2025-12-31"}),
        "more than verified": _issue(verified_kg=4_000_000),
    }
