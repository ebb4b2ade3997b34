"""The chain fixtures shared by tests/tokens and tests/pledges (their conftests import them): the chain backend
(embedded always, an external node when SOVCARBON_TEST_CHAIN_URL is set) and a bridge per test on a fresh
contract deployment, checked WITH the chain at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from token_world import CHAIN_BACKENDS, ChainBackend, frozen_lots, open_bridge

from sovcarbon.bridge import Bridge
from sovcarbon.services import invariants
from sovcarbon.services.registry import Registry


def register_markers(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chain: the test needs an EVM chain (embedded, or external when configured)")
    config.addinivalue_line("markers", "supply_mismatch: the test makes a lot's chain supply differ on purpose; "
                                       "at teardown I4 must report exactly the frozen lots")


@pytest.fixture(scope="session")
def contract_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contracts-cache")


@pytest.fixture(params=CHAIN_BACKENDS)
def chain_backend(request: pytest.FixtureRequest) -> ChainBackend:
    backend: ChainBackend = request.param
    return backend


@pytest.fixture
def bridge(request: pytest.FixtureRequest, registry: Registry, chain_backend: ChainBackend,
           contract_cache_dir: Path) -> Iterator[Bridge]:
    """A bridge on a fresh contract; at the end the NR is caught up and I1-I4 are checked WITH the chain."""
    b = open_bridge(registry, chain_backend, contract_cache_dir)
    try:
        yield b
        if not b.closed:
            b.run_until_idle()
            violations = invariants.check(registry)
            if request.node.get_closest_marker("supply_mismatch") is not None:
                frozen = {lot["id"] for lot in frozen_lots(registry)}
                assert frozen and violations, "the test meant to leave a frozen, mismatched lot"
                assert all(v.invariant == "I4" and any(f in v.message for f in frozen) for v in violations), violations
            else:
                assert not violations, f"invariants violated (chain attached): {violations}"
    finally:
        b.close()
