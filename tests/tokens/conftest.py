"""Token fixtures: the chain backend (embedded always, an external node when SOVCARBON_TEST_CHAIN_URL is
set), a bridge per test on a fresh contract deployment, and the token world on top of the core world.
Helpers live in ``token_world`` (import from there, never from a conftest); the chain fixtures in
``chain_fixtures`` (shared with tests/pledges)."""

from __future__ import annotations

import pytest
from chain_fixtures import bridge, chain_backend, contract_cache_dir, register_markers
from token_world import TokenWorld, make_token_world
from world import Api

from sovcarbon.bridge import Bridge

__all__ = ["bridge", "chain_backend", "contract_cache_dir"]


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


@pytest.fixture
def tw(world: Api, bridge: Bridge) -> TokenWorld:
    return make_token_world(world, bridge)
