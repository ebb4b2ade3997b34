"""Chain fixtures: a deployed carbon token on the embedded chain (always) and on an external
node (when SOVCARBON_TEST_CHAIN_URL is set, e.g. the Hardhat node of tools/hardhat).

One contract per backend is shared by the whole session; tests stay independent by using
fresh holders, fresh lot ids and fresh op_ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_world import CHAIN_URL_ENV, EXTERNAL_CONFIGURED, ROLE_DELAY_S, TokenWorld, backend_args
from eth_account import Account

from sovcarbon.chain import CarbonTokenChain, make_op_id, open_chain

BACKENDS = [
    "embedded",
    pytest.param(
        "external", marks=pytest.mark.skipif(not EXTERNAL_CONFIGURED, reason=f"{CHAIN_URL_ENV} not set")
    ),
]


@pytest.fixture(scope="session")
def contract_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contracts-cache")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Backend name: "embedded" always, "external" when SOVCARBON_TEST_CHAIN_URL is set."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def world(
    backend: str, tmp_path_factory: pytest.TempPathFactory, contract_cache_dir: Path
) -> Iterator[TokenWorld]:
    chain_url, bridge_key = backend_args(backend)
    data_dir = tmp_path_factory.mktemp(f"chain-{backend}")
    chain = open_chain(chain_url, data_dir)
    # one key per role: the owner deploys and governs, the bridge mirrors, the agent enforces
    token = CarbonTokenChain(chain, bridge_key, agent_key=Account.create().key.hex(),
                             owner_key=Account.create().key.hex(), role_delay_s=ROLE_DELAY_S,
                             cache_dir=contract_cache_dir)
    token.deploy_or_load(data_dir / "deployment.json")
    intermediary = Account.create().address
    unlicensed = Account.create().address
    token.set_intermediary(make_op_id(uuid.uuid4().hex), intermediary, True)
    token.set_intermediary(make_op_id(uuid.uuid4().hex), unlicensed, False)
    yield TokenWorld(backend, chain, token, data_dir, intermediary, unlicensed)
    chain.close()
