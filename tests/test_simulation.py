"""Seeded randomized simulation: hundreds of random operations (valid and invalid), the invariant
checker after every step, and supply always balanced."""

from __future__ import annotations

import os

from simulation import Simulator

from sovcarbon.services import invariants, queries
from sovcarbon.services.registry import Registry

STEPS = int(os.environ.get("SOVCARBON_SIM_STEPS", "150"))


def test_random_operations_keep_every_invariant(registry: Registry) -> None:
    sim = Simulator(registry, seed=20261127)
    sim.setup()
    for step in range(STEPS):
        sim.step()
        with registry.store.read() as uow:
            violations = invariants.check_uow(uow)
            supply = queries.supply(uow, None, None)
        assert not violations, (step, violations)
        assert supply["balanced"], (step, supply)
    # The workload really exercised both successes and rejections.
    assert sim.outcomes.get("transfer", 0) > 5 and sim.outcomes.get("retire", 0) > 0
    assert any(k.startswith("transfer:") for k in sim.outcomes), sim.outcomes
