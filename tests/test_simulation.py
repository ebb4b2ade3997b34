"""Seeded randomized simulation: hundreds of random operations (valid and invalid), the invariant
checker after every step, and supply always balanced. The seed is fresh each run and printed (and named in
every failure); SOVCARBON_SIM_SEED=<seed> replays a run."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from simulation import Article6TokenSimulator, DvpSimulator, Simulator
from token_world import CHAIN_BACKENDS, open_bridge
from world import Api

from sovcarbon.services import invariants, ledger_audit, queries
from sovcarbon.services.registry import Registry

STEPS = int(os.environ.get("SOVCARBON_SIM_STEPS", "150"))
A6_STEPS = int(os.environ.get("SOVCARBON_SIM_A6_STEPS", "40"))
SEED = int(os.environ.get("SOVCARBON_SIM_SEED") or secrets.randbits(32))


def _simulate(registry: Registry, seed: int) -> dict[str, int]:
    """Run the simulation with ``seed``: the invariant checker and the supply balance after every step."""
    sim = Simulator(registry, seed=seed)
    sim.setup()
    for step in range(STEPS):
        sim.step()
        with registry.store.read() as uow:
            violations = invariants.check_uow(uow)
            supply = queries.supply(uow, None, None)
        assert not violations, (f"SOVCARBON_SIM_SEED={seed}", step, violations)
        assert supply["balanced"], (f"SOVCARBON_SIM_SEED={seed}", step, supply)
    done = {k: v for k, v in sim.outcomes.items() if k.startswith("lien_") and ":" not in k}
    refused = {k: v for k, v in sim.outcomes.items() if k.startswith("lien_") and ":" in k}
    print(f"seed {seed}: outcomes {sorted(sim.outcomes.items())}")
    print(f"successful pledge operations (seed {seed}): {sorted(done.items())}; refused: {sorted(refused.items())}")
    return dict(sim.outcomes)


def test_random_operations_keep_every_invariant(registry: Registry) -> None:
    """A fresh seed each run: whatever the draws, every invariant holds after every step. Which operations
    succeed depends on the seed (a seed that suspends accounts early retires little), so the workload's
    coverage is asserted on the pinned seeds below, not here."""
    print(f"simulation seed {SEED} (replay: SOVCARBON_SIM_SEED={SEED})")
    outcomes = _simulate(registry, SEED)
    assert any(":" in k for k in outcomes), (SEED, outcomes)  # refusals are among the draws


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pinned_seeds_exercise_every_operation(registry: Registry, seed: int) -> None:
    """The workload really exercises successes and refusals: on these seeds transfers and retirements
    succeed, and liens are requested, accepted and then released, defaulted or enforced (a change to the
    simulator's draws may need new pinned seeds; a change to the rules that stops these operations fails)."""
    outcomes = _simulate(registry, seed)
    assert outcomes.get("transfer", 0) + outcomes.get("retire", 0) > 5, (seed, outcomes)
    assert outcomes.get("lien_request", 0) >= 1 and outcomes.get("lien_accept", 0) >= 1, (seed, outcomes)
    assert outcomes.get("lien_release", 0) + outcomes.get("lien_default", 0) + outcomes.get("lien_enforce", 0) >= 1, (
        seed, outcomes)
    assert any(":" in k for k in outcomes), (seed, outcomes)


@pytest.fixture(scope="module")
def contract_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled contract, shared by the backends' runs (compiling is most of a bridge's start)."""
    return tmp_path_factory.mktemp("contracts-cache")


def test_article6_and_token_operations_keep_every_invariant(world: Api, contract_cache: Path) -> None:
    """LoAs with four-eyes, units attached (whole tonnes only: 6006), exports, CORSIA/OIMP use, tokenizations
    by the holder and chain transfers and retirements through the bridge, at random; after every step the
    invariants WITH the chain (I4 per lot, I6 accounted once) hold and the journal replays to the tables."""
    print(f"article 6 + token simulation seed {SEED} (replay: SOVCARBON_SIM_SEED={SEED})")
    registry = world.reg
    embedded = CHAIN_BACKENDS[0].values[0]
    bridge = open_bridge(registry, embedded, contract_cache)
    try:
        sim = Article6TokenSimulator(world, bridge, seed=SEED, verbose=bool(os.environ.get("SOVCARBON_SIM_VERBOSE")))
        sim.setup()
        sim.dvp = DvpSimulator(sim)  # DvP orders and escrow steps too; ESCROW conservation in the checker
        sim.dvp.setup()
        for step in range(A6_STEPS):
            kind = sim.step()
            bridge.run_until_idle()
            where = (f"SOVCARBON_SIM_SEED={SEED}", step, kind)
            assert bridge.halted() is None, (*where, bridge.halted())
            violations = invariants.check(registry)
            assert not violations, (*where, violations)
            assert not sim.dvp.check(), (*where, sim.dvp.check())
            replayed = ledger_audit.replay(registry)
            assert replayed.ok, (*where, replayed.message)
            with registry.store.read() as uow:
                assert queries.supply(uow, None, None)["balanced"], where
        out = sim.outcomes
        print(sorted(out.items()))
        # Both worlds were really exercised, with successes and refusals (6006 among them once attaches ran).
        assert out.get("loa_approval", 0) >= 1 and out.get("tokenize", 0) >= 1, (SEED, out)
        assert any(k.startswith(("attach:", "export:", "retire_")) and ":" in k for k in out), (SEED, out)
    finally:
        bridge.close()
