"""Pledge fixtures: the core world (tests/world.py), and for tokens pledged on chain the same chain backend and
bridge fixtures as tests/tokens (a bridge per test on a fresh contract; at the end the NR is caught up and the
shared checker runs WITH the chain)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from token_world import CHAIN_BACKENDS, ChainBackend, open_bridge

from sovcarbon.bridge import Bridge
from sovcarbon.services import invariants
from sovcarbon.services.registry import Registry


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chain: the test needs an EVM chain (embedded, or external when configured)")


@pytest.fixture(scope="session")
def contract_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contracts-cache")


@pytest.fixture(params=CHAIN_BACKENDS)
def chain_backend(request: pytest.FixtureRequest) -> ChainBackend:
    backend: ChainBackend = request.param
    return backend


@pytest.fixture
def bridge(registry: Registry, chain_backend: ChainBackend, contract_cache_dir: Path) -> Iterator[Bridge]:
    b = open_bridge(registry, chain_backend, contract_cache_dir)
    try:
        yield b
        if not b.closed:
            b.run_until_idle()
            violations = invariants.check(registry)
            assert not violations, f"invariants violated (chain attached): {violations}"
    finally:
        b.close()
