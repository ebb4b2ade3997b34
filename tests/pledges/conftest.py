"""Pledge fixtures: the core world (tests/world.py), and for tokens pledged on chain the same chain backend and
bridge fixtures as tests/tokens (tests/chain_fixtures.py: a bridge per test on a fresh contract; at the end the NR
is caught up and the shared checker runs WITH the chain)."""

from __future__ import annotations

import pytest
from chain_fixtures import bridge, chain_backend, contract_cache_dir, register_markers

__all__ = ["bridge", "chain_backend", "contract_cache_dir"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
