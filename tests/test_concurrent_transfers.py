"""Transfers side by side on PostgreSQL (performance issue, goal 2: 8 clients at least as fast as 1).

A transfer takes the writers' gate shared and locks its two accounts; it takes the journal head only at its
append (store/uow.py). These tests pin what that must keep: transfers of other accounts are not held up by an
open one, transfers sharing an account and every ordinary write wait for it, the journal has no gap and no
fork after many transfers at once (the shared invariant checker runs after each test), and an Idempotency-Key
sent twice at once still applies once. The structural tests are PostgreSQL only (SQLite serializes writers
with BEGIN IMMEDIATE); the storms run on both stores.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from world import Api

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor
from sovcarbon.services import auth, journal_admin, participants, transfers
from sovcarbon.services.auth import SYSTEM_ACTOR
from sovcarbon.services.requests import AccountIn, TransferIn
from sovcarbon.store.uow import UnitOfWork

WAIT_S = 60  # generous: a liveness bound, not a timing assertion


def _pg(api: Api) -> None:
    if api.reg.store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes every writer (BEGIN IMMEDIATE)")


def _actor(api: Api, who: str) -> Actor:
    return auth.authenticate(api.reg, api.keys[who])


def _transfer(api: Api, who: str, src: str, dst: str, kg: int, idem: str | None = None) -> dict[str, Any]:
    actor = _actor(api, who)
    req = TransferIn(from_account_id=src, to_account_id=dst, quantity_kg=kg)
    return api.reg.execute(actor, "transfer", req.model_dump(mode="json"),
                           lambda uow: transfers.transfer(api.reg, uow, actor, req), idempotency_key=idem).body


def _open_account(api: Api, participant: str) -> str:
    body = api.reg.execute(SYSTEM_ACTOR, "open_account", {"p": participant}, lambda uow: participants.open_account(
        api.reg, uow, SYSTEM_ACTOR, AccountIn(participant_id=api.ids[participant])))
    return str(body.body["id"])


@contextmanager
def _open_transfer_txn(api: Api, a: str, b: str) -> Iterator[UnitOfWork]:
    """A concurrent command's transaction, left open after locking accounts ``a`` and ``b``."""
    with api.reg.store.write(concurrent=True) as uow:
        first, second = uow.repo.account_pair(a, b)
        assert first is not None and second is not None
        yield uow


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def _waiting_backends(api: Api) -> list[str]:
    """Other backends of this database waiting on a lock, with their wait event (pg_stat_activity)."""
    with api.reg.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT wait_event FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).all()
    return [str(r[0]) for r in rows]


def _wait_until_blocked(api: Api, event: str) -> None:
    for _ in range(WAIT_S * 20):
        if event in _waiting_backends(api):
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"no backend waits on {event}: {_waiting_backends(api)}")


def test_a_transfer_of_other_accounts_is_not_held_up(world: Api) -> None:
    _pg(world)
    spare = _open_account(world, "foundation")
    _transfer(world, "proponent", world.ids["foundation_acc"], world.ids["company_acc"], 5_000)
    with _open_transfer_txn(world, world.ids["foundation_acc"], spare):
        # company -> other shares no account with the open transaction: it commits while that one is open
        # (before: every write took the journal head first and waited here until the open one ended).
        th, out = _in_thread(lambda: _transfer(world, "company", world.ids["company_acc"], world.ids["other_acc"], 7))
        th.join(WAIT_S)
        assert not th.is_alive(), "the transfer waited for an unrelated open transfer"
        assert isinstance(out[0], dict) and out[0]["quantity_kg"] == 7, out
    report = journal_admin.verify(world.reg)
    assert report["ok"], report


def test_a_transfer_sharing_an_account_waits_then_sees_the_first(world: Api) -> None:
    _pg(world)
    spare = _open_account(world, "foundation")
    free_before = world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")["free_kg"]
    with _open_transfer_txn(world, world.ids["foundation_acc"], spare) as uow:
        th, out = _in_thread(lambda: _transfer(world, "proponent", world.ids["foundation_acc"],
                                               world.ids["company_acc"], 11))
        _wait_until_blocked(world, "transactionid")  # on the foundation account's row lock
        assert th.is_alive()
        # the open one moves units of the shared account and commits first
        actor = _actor(world, "proponent")
        transfers.transfer(world.reg, uow, actor, TransferIn(from_account_id=world.ids["foundation_acc"],
                                                             to_account_id=spare, quantity_kg=13))
    th.join(WAIT_S)
    assert not th.is_alive() and isinstance(out[0], dict), out
    free_after = world.ok("GET", f"/v1/accounts/{world.ids['foundation_acc']}/holdings", "proponent")["free_kg"]
    assert free_after == free_before - 24
    report = journal_admin.verify(world.reg)
    assert report["ok"], report


def test_an_ordinary_write_waits_for_open_transfers(world: Api) -> None:
    _pg(world)
    with _open_transfer_txn(world, world.ids["foundation_acc"], world.ids["company_acc"]) as uow:
        th, out = _in_thread(lambda: _open_account(world, "other"))
        _wait_until_blocked(world, "advisory")  # the writers' gate, exclusive
        assert th.is_alive() and out == []
        # the waiting write must not hold the journal head: the open transfer appends (takes the head) and
        # commits; had the ordinary write locked the head before the gate, this would deadlock
        actor = _actor(world, "proponent")
        body = transfers.transfer(world.reg, uow, actor, TransferIn(from_account_id=world.ids["foundation_acc"],
                                                                    to_account_id=world.ids["company_acc"],
                                                                    quantity_kg=17))
    th.join(WAIT_S)
    assert not th.is_alive() and isinstance(out[0], str), out
    assert journal_admin.verify(world.reg)["head_seq"] == body["journal_seq"] + 1  # the account opened after it


def test_a_concurrent_command_may_not_move_blocks_of_accounts_it_did_not_lock(world: Api) -> None:
    _pg(world)
    actor = _actor(world, "proponent")
    req = TransferIn(from_account_id=world.ids["foundation_acc"], to_account_id=world.ids["company_acc"],
                     quantity_kg=3)
    seq = journal_admin.verify(world.reg)["entries"]
    with pytest.raises(AssertionError, match="did not lock"), world.reg.store.write(concurrent=True) as uow:
        uow.repo.locked_accounts.discard(world.ids["company_acc"])
        real = uow.repo.account_pair

        def pair_without_lock(a: str, b: str) -> Any:
            got = real(a, b)
            uow.repo.locked_accounts.discard(b)
            return got

        uow.repo.account_pair = pair_without_lock  # type: ignore[method-assign]
        transfers.transfer(world.reg, uow, actor, req)
    assert journal_admin.verify(world.reg)["entries"] == seq  # rolled back, nothing journaled


def test_a_storm_of_transfers_keeps_the_chain_and_the_balances(world: Api) -> None:
    """8 clients, 6 accounts of 3 holders, transfers both ways: shared and disjoint accounts at once."""
    holders = {"proponent": [world.ids["foundation_acc"], _open_account(world, "foundation")],
               "company": [world.ids["company_acc"], _open_account(world, "company")],
               "other": [world.ids["other_acc"], _open_account(world, "other")]}
    for accs in holders.values():
        for acc in accs:
            if acc != world.ids["foundation_acc"]:
                _transfer(world, "proponent", world.ids["foundation_acc"], acc, 100_000)
    every = [acc for accs in holders.values() for acc in accs]
    total = sum(world.ok("GET", f"/v1/accounts/{a}/holdings", "admin")["free_kg"] for a in every)
    seq_before = journal_admin.verify(world.reg)["entries"]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client(i: int) -> None:
        rnd = random.Random(i)
        barrier.wait()
        for _ in range(12):
            who = rnd.choice(list(holders))
            src = rnd.choice(holders[who])
            dst = rnd.choice([a for a in every if a != src])
            try:
                _transfer(world, who, src, dst, rnd.randint(1, 500))
                result = "ok"
            except RegistryError as err:
                result = str(err.code)
            with lock:
                outcomes[result] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert outcomes["ok"] == 96, outcomes
    report = journal_admin.verify(world.reg)
    assert report["ok"] and report["entries"] == seq_before + 96, report
    assert sum(world.ok("GET", f"/v1/accounts/{a}/holdings", "admin")["free_kg"] for a in every) == total


def test_one_idempotency_key_sent_eight_times_at_once_applies_once(world: Api) -> None:
    src, dst = world.ids["foundation_acc"], world.ids["company_acc"]
    seq_before = journal_admin.verify(world.reg)["entries"]
    bodies: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client() -> None:
        barrier.wait()
        body = _transfer(world, "proponent", src, dst, 321, idem="same-order")
        with lock:
            bodies.append(body)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert len(bodies) == 8 and all(b == bodies[0] for b in bodies), bodies
    assert journal_admin.verify(world.reg)["entries"] == seq_before + 1
    assert world.ok("GET", f"/v1/accounts/{dst}/holdings", "company")["free_kg"] == 321
