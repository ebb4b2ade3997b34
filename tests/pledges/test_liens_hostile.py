"""Hostile requests against /v1/liens* over the real app (issue #12, pledges hardening): no key, wrong roles and
wrong parties, malformed bodies and quantities, unknown liens, idempotency keys reused with another body, and
clients racing on the same lien. Every refusal is a clear 4xx code and changes nothing: the blocks, the liens,
the journal head, the token outbox and the idempotency rows are compared before and after. The races end with
Σ live liens <= balance per account and every lien's kg adding up (the shared checker runs after each test too).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from world import Api, error_code

from sovcarbon.domain.model import Role
from sovcarbon.services import invariants
from sovcarbon.store import lien_tables as lt
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

CLIENTS = 8


@pytest.fixture
def banks(world: Api) -> Api:
    """Two banks (each a participant of kind bank with a bank-role key and a holding account)."""
    for name in ("bank", "bank2"):
        par = world.ok("POST", "/v1/participants", "admin",
                       {"name": f"{name} plc", "kind": "bank", "country": "TH", "kyc_status": "verified"})
        world.ids[name] = par["id"]
        world.ids[f"{name}_acc"] = world.ok("POST", "/v1/accounts", "admin",
                                            {"participant_id": par["id"], "kind": "holding"})["id"]
        world.key(name, Role.BANK, par["id"])
    return world


def _ledger(api: Api) -> tuple[Any, ...]:
    """Everything a refused lien request must leave as it was."""
    with api.reg.store.read() as uow:
        c = uow.conn

        def rows(table: Any) -> list[tuple[Any, ...]]:
            return sorted((tuple(r) for r in c.execute(select(table))), key=repr)

        return (rows(t.blocks), rows(lt.liens), rows(t.journal_head), rows(tt.token_outbox), rows(t.idempotency))


def _unchanged(api: Api, before: tuple[Any, ...], resp: Any, code: int) -> None:
    assert resp.status_code < 500, resp.text
    assert error_code(resp) == code, resp.text
    after = _ledger(api)
    for name, b, a in zip(("blocks", "liens", "journal head", "token outbox", "idempotency"), before, after,
                          strict=True):
        assert a == b, f"a refused request ({code}) changed {name}"


def _lien(api: Api, kg: int, *, accept: bool = True, default: bool = False) -> str:
    resp = api.post("/v1/liens", "proponent", {"account_id": api.ids["foundation_acc"], "pledgee_id": api.ids["bank"],
                                               "quantity_kg": kg})
    assert resp.status_code == 201, resp.text
    lien_id: str = resp.json()["id"]
    if accept:
        api.ok("POST", f"/v1/liens/{lien_id}/accept", "bank")
    if default:
        api.ok("POST", f"/v1/liens/{lien_id}/default", "bank")
    return lien_id


def _free(api: Api, account: str = "foundation_acc") -> int:
    free: int = api.ok("GET", f"/v1/accounts/{api.ids[account]}/holdings", "admin")["free_kg"]
    return free


def test_no_key_and_a_bad_key_are_401(banks: Api) -> None:
    w = banks
    lien = _lien(w, 1_000)
    before = _ledger(w)
    for path, body in (("/v1/liens", {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"],
                                      "quantity_kg": 1}),
                       (f"/v1/liens/{lien}/release", {"quantity_kg": 1}), (f"/v1/liens/{lien}/default", None),
                       (f"/v1/liens/{lien}/enforce", None), (f"/v1/liens/{lien}/accept", None)):
        resp = w.client.post(path, json=body)
        assert resp.status_code == 401, (path, resp.text)
        resp = w.client.post(path, json=body, headers={"Authorization": "Bearer sk_not_a_key"})
        assert resp.status_code == 401, (path, resp.text)
    assert w.client.get("/v1/liens").status_code == 401
    assert w.client.get(f"/v1/liens/{lien}").status_code == 401
    assert _ledger(w) == before


def test_wrong_parties_and_roles_are_1002_and_change_nothing(banks: Api) -> None:
    w = banks
    w.key("bank2_holder", Role.HOLDER, w.ids["bank2"])
    requested = _lien(w, 10_000, accept=False)
    active = _lien(w, 20_000)
    defaulted = _lien(w, 30_000, default=True)
    before = _ledger(w)
    cases: list[tuple[str, str, Any]] = [
        # another bank: not the pledgee of these liens
        (f"/v1/liens/{requested}/accept", "bank2", None),
        (f"/v1/liens/{active}/release", "bank2", {"quantity_kg": 1}),
        (f"/v1/liens/{active}/default", "bank2", None),
        (f"/v1/liens/{defaulted}/enforce", "bank2", {"quantity_kg": 1}),
        (f"/v1/liens/{defaulted}/enforce", "bank2", {"quantity_kg": 1, "to_account_id": w.ids["bank2_acc"]}),
        # the pledgor: it may only request and withdraw
        (f"/v1/liens/{requested}/accept", "proponent", None),
        (f"/v1/liens/{active}/release", "proponent", None),
        (f"/v1/liens/{active}/release", "proponent", {"quantity_kg": 1}),
        (f"/v1/liens/{active}/default", "proponent", None),
        (f"/v1/liens/{defaulted}/enforce", "proponent", None),
        (f"/v1/liens/{defaulted}/enforce", "proponent", {"quantity_kg": 1}),
        # officers never act on a holding, nor on a lien
        ("/v1/liens", "admin", {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"],
                                "quantity_kg": 1}),
        (f"/v1/liens/{requested}/accept", "admin", None),
        (f"/v1/liens/{requested}/withdraw", "admin", None),
        (f"/v1/liens/{active}/release", "admin", {"quantity_kg": 1}),
        (f"/v1/liens/{active}/default", "approver", None),
        (f"/v1/liens/{defaulted}/enforce", "admin", {"quantity_kg": 1}),
        (f"/v1/liens/{defaulted}/enforce", "regulator", None),
        # the pledgee's bank key withdrawing the holder's request; another holder withdrawing it
        (f"/v1/liens/{requested}/withdraw", "bank", None),
        (f"/v1/liens/{requested}/withdraw", "company", None),
        # the pledgee enforcing into an account that is not its own
        (f"/v1/liens/{defaulted}/enforce", "bank", {"quantity_kg": 1, "to_account_id": w.ids["bank2_acc"]}),
        # a bank's holder-role key pledging the foundation's account; a bank pledging on the holder's behalf
        ("/v1/liens", "bank2_holder", {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"],
                                       "quantity_kg": 1}),
        ("/v1/liens", "bank", {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"],
                               "quantity_kg": 1}),
    ]
    for path, who, body in cases:
        _unchanged(w, before, w.post(path, who, body), 1002)
    # the lien of another party is not even visible
    assert error_code(w.get(f"/v1/liens/{active}", "bank2")) == 1005
    assert error_code(w.get(f"/v1/liens/{active}", "company")) == 1005
    assert w.ok("GET", "/v1/liens", "bank2")["data"] == []


def test_malformed_bodies_and_quantities_are_clear_and_change_nothing(banks: Api) -> None:
    w = banks
    active = _lien(w, 50_000)
    defaulted = _lien(w, 60_000, default=True)
    acc, bank = w.ids["foundation_acc"], w.ids["bank"]
    before = _ledger(w)
    huge = 2**70  # beyond any BIGINT column
    request_cases: list[tuple[Any, int]] = [
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 0}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": -5}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 1.5}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 1000.0}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": "1000"}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": True}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": None}, 2003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": huge}, 4001),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 2**63}, 4001),
        ({"account_id": acc, "pledgee_id": bank}, 1003),
        ({"account_id": acc, "quantity_kg": 1}, 1003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 1, "extra": 1}, 1003),
        ({"account_id": acc, "pledgee_id": bank, "quantity_kg": 1, "note": "x" * 2001}, 1003),
        ({"account_id": "not an id", "pledgee_id": bank, "quantity_kg": 1}, 1003),
        ({"account_id": acc, "pledgee_id": ["par_x"], "quantity_kg": 1}, 1003),
        ({"account_id": "acc_doesnotexist", "pledgee_id": bank, "quantity_kg": 1}, 1005),
        ({"account_id": acc, "pledgee_id": "par_doesnotexist", "quantity_kg": 1}, 1005),
        ({"account_id": acc, "pledgee_id": w.ids["company"], "quantity_kg": 1}, 5004),
        ({"account_id": acc, "pledgee_id": w.ids["foundation"], "quantity_kg": 1}, 5004),
        ([1, 2, 3], 1003),
        ("quantity", 1003),
        (None, 1003),
    ]
    for body, code in request_cases:
        _unchanged(w, before, w.post("/v1/liens", "proponent", body), code)
    resp = w.client.post("/v1/liens", content=b"{not json", headers={**w.headers("proponent"),
                                                                       "Content-Type": "application/json"})
    _unchanged(w, before, resp, 1003)
    step_cases: list[tuple[str, Any, int]] = [
        (f"/v1/liens/{active}/release", {"quantity_kg": 0}, 2003),
        (f"/v1/liens/{active}/release", {"quantity_kg": -1}, 2003),
        (f"/v1/liens/{active}/release", {"quantity_kg": 0.5}, 2003),
        (f"/v1/liens/{active}/release", {"quantity_kg": "all"}, 2003),
        (f"/v1/liens/{active}/release", {"quantity_kg": huge}, 4001),
        (f"/v1/liens/{active}/release", {"quantity_kg": 50_001}, 4001),
        (f"/v1/liens/{active}/release", {"quantity_kg": 1, "to_account_id": w.ids["bank_acc"]}, 1003),
        (f"/v1/liens/{active}/release", [1], 1003),
        (f"/v1/liens/{active}/enforce", {"quantity_kg": 1}, 1008),  # no default notified
        (f"/v1/liens/{defaulted}/enforce", {"quantity_kg": 60_001}, 4001),  # over-enforcement
        (f"/v1/liens/{defaulted}/enforce", {"quantity_kg": huge}, 4001),
        (f"/v1/liens/{defaulted}/enforce", {"quantity_kg": -60_000}, 2003),
        (f"/v1/liens/{defaulted}/enforce", {"quantity_kg": 1, "to_account_id": "acc_doesnotexist"}, 1005),
        (f"/v1/liens/{defaulted}/enforce", {"quantity_kg": 1, "to_account_id": 7}, 1003),
        (f"/v1/liens/{defaulted}/default", None, 1008),  # already defaulted
        (f"/v1/liens/{active}/accept", None, 1008),  # already active
        (f"/v1/liens/{active}/withdraw", None, 1008),  # too late
        ("/v1/liens/plg_doesnotexist/accept", None, 1005),
        ("/v1/liens/plg_doesnotexist/release", {"quantity_kg": 1}, 1005),
        ("/v1/liens/plg_doesnotexist/default", None, 1005),
        ("/v1/liens/plg_doesnotexist/enforce", None, 1005),
        ("/v1/liens/plg_doesnotexist/withdraw", None, 1005),
        ("/v1/liens/NOT-AN-ID/release", {"quantity_kg": 1}, 1003),
        ("/v1/liens/" + "p" * 300 + "/release", {"quantity_kg": 1}, 1003),
    ]
    for path, body, code in step_cases:
        who = "proponent" if path.endswith("/withdraw") else "bank"
        _unchanged(w, before, w.post(path, who, body), code)
    assert error_code(w.get("/v1/liens/plg_doesnotexist", "bank")) == 1005
    assert error_code(w.get("/v1/liens", "bank", side="both")) == 1003
    assert error_code(w.get("/v1/liens", "bank", status="x" * 13)) == 1003


def test_same_idempotency_key_with_another_body_is_1004(banks: Api) -> None:
    w = banks
    body = {"account_id": w.ids["foundation_acc"], "pledgee_id": w.ids["bank"], "quantity_kg": 4_000}
    first = w.post("/v1/liens", "proponent", body, idem="pledge-a")
    assert first.status_code == 201, first.text
    before = _ledger(w)
    _unchanged(w, before, w.post("/v1/liens", "proponent", {**body, "quantity_kg": 4_001}, idem="pledge-a"), 1004)
    _unchanged(w, before, w.post("/v1/liens", "proponent", {**body, "note": "other"}, idem="pledge-a"), 1004)
    lien = first.json()["id"]
    w.ok("POST", f"/v1/liens/{lien}/accept", "bank")
    resp = w.post(f"/v1/liens/{lien}/release", "bank", {"quantity_kg": 1_000}, idem="rel-1")
    assert resp.status_code == 200, resp.text
    again = w.post(f"/v1/liens/{lien}/release", "bank", {"quantity_kg": 1_000}, idem="rel-1")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == resp.json()
    before = _ledger(w)
    _unchanged(w, before, w.post(f"/v1/liens/{lien}/release", "bank", {"quantity_kg": 999}, idem="rel-1"), 1004)
    _unchanged(w, before, w.post(f"/v1/liens/{lien}/release", "bank", None, idem="rel-1"), 1004)
    # the same key on another lien's step is another body too
    other = _lien(w, 2_000)
    _unchanged(w, _ledger(w), w.post(f"/v1/liens/{other}/release", "bank", {"quantity_kg": 1_000}, idem="rel-1"),
               1004)
    assert w.ok("GET", f"/v1/liens/{lien}", "bank")["remaining_kg"] == 3_000  # released once, not twice


def _race(calls: list[Callable[[], Any]]) -> Counter[int | str]:
    outcomes: Counter[int | str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(calls))

    def client(call: Callable[[], Any]) -> None:
        barrier.wait()
        resp = call()
        result: int | str = "ok" if resp.status_code in (200, 201) else error_code(resp)
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in calls]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sum(outcomes.values()) == len(calls), outcomes
    return outcomes


def _sums(api: Api) -> None:
    """Σ live liens <= the account's balance, every lien's kg add up, and the units are where the liens say."""
    liens = api.ok("GET", "/v1/liens", "regulator")["data"]
    held = api.ok("GET", f"/v1/accounts/{api.ids['foundation_acc']}/holdings", "admin")
    live = sum(x["remaining_kg"] for x in liens if x["status"] in ("active", "defaulted"))
    assert live == held["totals_kg"].get("pledged", 0) <= held["totals_kg"].get("pledged", 0) + held["free_kg"]
    for x in liens:
        assert x["released_kg"] + x["enforced_kg"] + x["remaining_kg"] == x["pledged_kg"], x
        assert x["remaining_kg"] >= 0 and min(x["released_kg"], x["enforced_kg"]) >= 0, x
    enforced = sum(x["enforced_kg"] for x in liens)
    assert api.ok("GET", f"/v1/accounts/{api.ids['bank_acc']}/holdings", "admin")["free_kg"] == enforced
    assert invariants.check(api.reg) == []


def test_racing_accepts_of_one_lien_accept_it_once(banks: Api) -> None:
    w = banks
    lien = _lien(w, 100_000, accept=False)
    free = _free(w)
    out = _race([lambda: w.post(f"/v1/liens/{lien}/accept", "bank") for _ in range(CLIENTS)])
    assert out == Counter({"ok": 1, 1008: CLIENTS - 1}), out
    assert _free(w) == free - 100_000
    _sums(w)


def test_racing_accepts_of_liens_beyond_the_balance_never_overpledge(banks: Api) -> None:
    w = banks
    free = _free(w)
    share = free // 3 + 1  # any three of them exceed the balance: at most two are accepted
    liens = [_lien(w, share, accept=False) for _ in range(CLIENTS)]
    out = _race([lambda lid=lid: w.post(f"/v1/liens/{lid}/accept", "bank") for lid in liens])  # type: ignore[misc]
    assert out == Counter({"ok": 2, 4001: CLIENTS - 2}), out
    assert _free(w) == free - 2 * share
    _sums(w)


def test_racing_partial_releases_and_enforcements_never_exceed_the_lien(banks: Api) -> None:
    w = banks
    lien = _lien(w, 10_000, default=True)
    calls: list[Callable[[], Any]] = []
    for i in range(CLIENTS):
        step = "release" if i % 2 else "enforce"
        calls.append(lambda step=step: w.post(f"/v1/liens/{lien}/{step}", "bank",  # type: ignore[misc]
                                              {"quantity_kg": 3_000}))
    out = _race(calls)
    assert out == Counter({"ok": 3, 4001: CLIENTS - 3}), out
    got = w.ok("GET", f"/v1/liens/{lien}", "bank")
    assert got["released_kg"] + got["enforced_kg"] == 9_000 and got["remaining_kg"] == 1_000
    _sums(w)


def test_racing_release_all_enforce_all_and_a_holder_transfer(banks: Api) -> None:
    """The pledgee releasing all, enforcing all, and the holder moving its whole balance, at once: the lien ends
    in one final state, and the holder's transfer moves only units that were free when it ran."""
    w = banks
    free = _free(w)
    lien = _lien(w, free // 2, default=True)
    acc, to = w.ids["foundation_acc"], w.ids["company_acc"]
    calls: list[Callable[[], Any]] = []
    for i in range(CLIENTS):
        if i % 3 == 0:
            calls.append(lambda: w.post(f"/v1/liens/{lien}/release", "bank"))
        elif i % 3 == 1:
            calls.append(lambda: w.post(f"/v1/liens/{lien}/enforce", "bank"))
        else:
            calls.append(lambda: w.post("/v1/transfers", "proponent", {"from_account_id": acc, "to_account_id": to,
                                                                       "quantity_kg": free - free // 2}))
    out = _race(calls)
    got = w.ok("GET", f"/v1/liens/{lien}", "bank")
    assert got["status"] in ("released", "enforced") and got["remaining_kg"] == 0, got
    steps = out["ok"]
    transfers = _free(w, "company_acc") // (free - free // 2)
    assert steps - transfers == 1, (out, got)  # exactly one of the lien steps won
    # the losers: a lien step after the lien is final (1008); a transfer while the lien still holds the units
    # it would need (4003) or after they went to the bank (4001)
    assert set(out) <= {"ok", 1008, 4001, 4003}, out
    _sums(w)


def test_a_suspended_account_is_not_pledged_by_an_acceptance(banks: Api) -> None:
    """The holder asked while its account was active; an officer suspends the account; the bank's acceptance
    would lock units of a suspended account: 3004, nothing written. Reactivated, the acceptance goes through."""
    w = banks
    lien = _lien(w, 5_000, accept=False)
    w.ok("POST", f"/v1/accounts/{w.ids['foundation_acc']}/status", "admin", {"status": "suspended"})
    before = _ledger(w)
    _unchanged(w, before, w.post(f"/v1/liens/{lien}/accept", "bank"), 3004)
    w.ok("POST", f"/v1/accounts/{w.ids['foundation_acc']}/status", "admin", {"status": "active"})
    assert w.ok("POST", f"/v1/liens/{lien}/accept", "bank")["status"] == "active"
