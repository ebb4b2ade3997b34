"""Many clients moving the same units at once: exactly one wins, the others get a clear 4xx, nothing is
over-spent (writers queue on the journal head lock on both stores)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from world import Api

from sovcarbon.domain.errors import RegistryError
from sovcarbon.services import auth, transfers
from sovcarbon.services.requests import TransferIn

CLIENTS = 8


def _race(api: Api, bodies: list[dict[str, Any]]) -> Counter[int | str]:
    actor = auth.authenticate(api.reg, api.keys["proponent"])
    outcomes: Counter[int | str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(bodies))

    def client(body: dict[str, Any]) -> None:
        req = TransferIn(**body)
        barrier.wait()
        try:
            api.reg.execute(actor, "transfer", req.model_dump(mode="json"),
                            lambda uow: transfers.transfer(api.reg, uow, actor, req))
            result: int | str = "ok"
        except RegistryError as err:
            result = err.code
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=client, args=(b,)) for b in bodies]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return outcomes


def test_same_serials_exactly_one_wins(world: Api) -> None:
    serial = f"{world.ids['prefix']}-000000000001-000000001000"
    bodies = [{"from_account_id": world.ids["foundation_acc"],
               "to_account_id": world.ids["company_acc" if i % 2 else "other_acc"], "serials": [serial]}
              for i in range(CLIENTS)]
    outcomes = _race(world, bodies)
    assert outcomes == Counter({"ok": 1, 4002: CLIENTS - 1}), outcomes
    look = world.ok("GET", f"/v1/serials/{serial}", None)
    assert look["block"]["serial"] == serial


def test_quantity_race_never_overspends(world: Api) -> None:
    # Leave exactly 10,000 kg free in the foundation's account.
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["other_acc"],
                                                    "quantity_kg": 9_000_000 - 10_000})
    bodies = [{"from_account_id": world.ids["foundation_acc"], "to_account_id": world.ids["company_acc"],
               "quantity_kg": 3_000} for _ in range(CLIENTS)]
    outcomes = _race(world, bodies)
    assert outcomes == Counter({"ok": 3, 4001: CLIENTS - 3}), outcomes
    assert world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")["free_kg"] == 1_000
    assert world.ok("GET", f"/v1/accounts/{world.ids['company_acc']}/holdings", "company")["free_kg"] == 9_000
