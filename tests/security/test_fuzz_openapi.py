"""A bounded schemathesis run over the app's own OpenAPI document (CI runs it on every push).

Every operation gets up to ``EXAMPLES_PER_OPERATION`` generated requests (valid and invalid by its schema)
sent with an officer's real key, inside an overall time budget; no answer is a 5xx, every refusal is the
RULES.md envelope, and the ledger's invariants (and the journal replay) still hold afterwards.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from world import BACKENDS, Api, make_registry, setup_world

from sovcarbon.api.app import create_app
from sovcarbon.domain.model import Role
from sovcarbon.services import invariants, ledger_audit

EXAMPLES_PER_OPERATION = 25
TIME_BUDGET_S = 45.0  # per backend; operations not reached in time are reported, not failed


@pytest.fixture(params=BACKENDS)
def fuzz_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    reg = make_registry(request.param, tmp_path_factory.mktemp("fuzz"), request)
    try:
        with TestClient(create_app(reg)) as client:
            api = Api(client, reg)
            api.key("admin", Role.REGISTRY_ADMIN)
            api.key("approver", Role.REGISTRY_APPROVER)
            api.key("regulator", Role.REGULATOR)
            yield setup_world(api)
        assert not invariants.check(reg)
        replayed = ledger_audit.replay(reg)
        assert replayed.ok, replayed.message
    finally:
        reg.store.dispose()


def _check(response: Any, label: str) -> None:
    # 503 only as the envelope of "no chain attached" (1007): this app runs without a chain.
    assert response.status_code < 500 or (response.status_code == 503 and response.json()["error"]["code"] == 1007), (
        label, response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, (label, body)
        assert set(body["error"]) == {"code", "name", "message", "details"}, (label, body)
        assert isinstance(body["error"]["code"], int), (label, body)


unauthenticated: set[str] = set()


def _fuzz(operation: Any, headers: dict[str, str], statuses: Counter[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        # Peer-protocol routes authenticate the message's signature, not a bearer key: a fuzzed message is
        # 401 with 8001/8002 there. Anywhere else a 401 means the officer's real key was not accepted.
        if response.status_code == 401 and response.json()["error"]["code"] not in (8001, 8002):
            unauthenticated.add(f"{operation.label}: {response.text[:200]}")
        _check(response, operation.label)

    run()


def test_fuzz_every_operation_never_5xx(fuzz_world: Api) -> None:
    app = fuzz_world.client.app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    started = time.monotonic()
    done: list[str] = []
    skipped: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if time.monotonic() - started > TIME_BUDGET_S:
            skipped.append(operation.label)
            continue
        who = "admin" if operation.method.upper() != "GET" else "regulator"
        _fuzz(operation, {"Authorization": f"Bearer {fuzz_world.keys[who]}"}, statuses)
        done.append(operation.label)
    assert len(done) >= 20, (done, skipped)
    # The run reached the handlers (the key was accepted) and exercised both acceptance and refusal.
    assert statuses[200] + statuses[201] > 0 and statuses[400] > 0 and not unauthenticated, (
        statuses, sorted(unauthenticated)[:10])
    print(f"fuzzed {len(done)} operations in {time.monotonic() - started:.1f} s: {dict(statuses)}; "
          f"not reached: {skipped}")
