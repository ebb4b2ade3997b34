"""Hypothesis-driven random operations against a reference model, the invariant checker after each step.

The model is deliberately simple: free kilograms per account and final kilograms per state. Every
rule applies the same command to the registry and, if the registry accepted it, to the model; every
rejection must leave the registry unchanged. After each step the two must agree and I1-I7 (as
implemented) must hold. Every act is done by the role that does it in production: a registry admin
registers, requests issuance; a registry approver approves; a VVB validates; the accounts' holder moves,
retires and cancels its units; the regulator reads. A rejection must leave every ledger table as it was.
Hypothesis draws a fresh seed each run; the seed is printed with -s and named in every failure, and
SOVCARBON_STATEFUL_SEED=<seed> replays it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from sovcarbon.config import load_settings
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import cancellations, invariants, issuance, participants, projects, queries, retirements
from sovcarbon.services import transfers as transfer_service
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import (
    AccountIn,
    CancellationIn,
    IssuanceIn,
    ParticipantIn,
    ProjectIn,
    RetirementIn,
    TransferIn,
    ValidationIn,
)
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

SEED = int(os.environ.get("SOVCARBON_STATEFUL_SEED") or secrets.randbits(32))
print(f"state machine seed {SEED} (replay: SOVCARBON_STATEFUL_SEED={SEED})")
ADMIN = Actor("key_hyp_admin", Role.REGISTRY_ADMIN, None, "admin")
APPROVER = Actor("key_hyp_approver", Role.REGISTRY_APPROVER, None, "approver")
REGULATOR = Actor("key_hyp_regulator", Role.REGULATOR, None, "regulator")
WATCHED = (t.blocks, t.transactions, t.retirements, t.cancellations, t.issuances, t.journal, t.idempotency,
           tt.token_outbox)
VVB = Actor("key_hyp_vvb", Role.VVB, None, "vvb")
ACCOUNTS = 3
quantities = st.one_of(st.integers(1, 3000), st.sampled_from([1, 999, 1000, 1001, 5000, 20_000]))


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.reg = Registry(load_settings(data_dir=self.tmp.name,
                                          database_url=f"sqlite:///{Path(self.tmp.name) / 'r.sqlite'}"))
        participants.bootstrap(self.reg)
        self.accounts: list[str] = []
        self.free_kg: dict[str, int] = {}
        self.final_kg = {"retired": 0, "cancelled": 0}
        self.issued_kg = 0
        self.vintage = 2021

    def run(self, fn: Any, body: Any = None, actor: Actor = ADMIN) -> dict[str, Any] | None:
        before = self.rows()
        try:
            return self.reg.execute(actor, "op", body.model_dump(mode="json") if body else {}, fn).body
        except RegistryError:
            assert self.rows() == before, f"a rejected command wrote (SOVCARBON_STATEFUL_SEED={SEED})"
            return None

    def rows(self) -> list[Any]:
        with self.reg.store.read() as uow:
            counts = [uow.conn.execute(select(func.count()).select_from(tb)).scalar_one() for tb in WATCHED]
            return [*counts, int(queries.journal_head(self.reg, uow)["seq"])]

    def head(self) -> int:
        with self.reg.store.read() as uow:
            return int(queries.journal_head(self.reg, uow)["seq"])

    @initialize()
    def setup(self) -> None:
        reg = self.reg
        par = self.run(lambda uow: participants.create_participant(reg, uow, ADMIN, ParticipantIn(
            name="p", kind="company", country="TH", kyc_status="verified")))
        assert par is not None
        # Units move only by their holder's act (domain.access): the accounts' owner acts with a holder key.
        self.holder = Actor("key_hyp_holder", Role.HOLDER, par["id"], "holder")
        for _ in range(ACCOUNTS):
            acc = self.run(lambda uow: participants.open_account(reg, uow, ADMIN, AccountIn(
                participant_id=par["id"])))
            assert acc is not None
            self.accounts.append(acc["id"])
            self.free_kg[acc["id"]] = 0
        prj = self.run(lambda uow: projects.submit(reg, uow, ADMIN, ProjectIn(
            name="p", standard="T-VER", methodology="m", host_country="TH", proponent_id=par["id"],
            crediting_period={"start": "2021-01-01", "end": "2099-12-31"},
            location={"type": "Point", "coordinates": [100, 13]})))
        assert prj is not None
        assert self.run(lambda uow: projects.validate(reg, uow, VVB, prj["id"], ValidationIn()), actor=VVB)
        assert self.run(lambda uow: projects.register(reg, uow, ADMIN, prj["id"]))
        self.project_id = prj["id"]

    @rule(tonnes=st.integers(1, 30), to=st.integers(0, ACCOUNTS - 1))
    def issue(self, tonnes: int, to: int) -> None:
        reg, acc = self.reg, self.accounts[to]
        body = IssuanceIn(project_id=self.project_id, vintage=self.vintage, account_id=acc, quantity_kg=tonnes * 1000,
                          monitoring_period={"start": f"{self.vintage}-01-01", "end": f"{self.vintage}-12-31"})
        self.vintage += 1
        iss = self.run(lambda uow: issuance.request(reg, uow, ADMIN, body), body)
        assert iss is not None
        assert self.run(lambda uow: issuance.approve(reg, uow, APPROVER, iss["id"]), actor=APPROVER) is not None
        self.free_kg[acc] += tonnes * 1000
        self.issued_kg += tonnes * 1000

    @rule(src=st.integers(0, ACCOUNTS - 1), dst=st.integers(0, ACCOUNTS - 1), qty=quantities)
    def transfer(self, src: int, dst: int, qty: int) -> None:
        a, b, reg = self.accounts[src], self.accounts[dst], self.reg
        body = TransferIn(from_account_id=a, to_account_id=b, quantity_kg=qty)
        done = self.run(lambda uow: transfer_service.transfer(reg, uow, self.holder, body), body, self.holder)
        ok = a != b and qty <= self.free_kg[a]
        assert (done is not None) == ok, (a, b, qty, self.free_kg)
        if ok:
            self.free_kg[a] -= qty
            self.free_kg[b] += qty

    @rule(src=st.integers(0, ACCOUNTS - 1), qty=quantities, purpose=st.sampled_from(["voluntary", "corsia"]))
    def retire(self, src: int, qty: int, purpose: str) -> None:
        a, reg = self.accounts[src], self.reg
        body = RetirementIn(account_id=a, quantity_kg=qty, beneficiary={"name": "b", "country": "TH"},
                            purpose=purpose, claim_year=2025)
        done = self.run(lambda uow: retirements.retire(reg, uow, self.holder, body), body, self.holder)
        ok = qty <= self.free_kg[a] and purpose == "voluntary"  # standard T-VER never serves CORSIA
        assert (done is not None) == ok
        if ok:
            self.free_kg[a] -= qty
            self.final_kg["retired"] += qty

    @rule(src=st.integers(0, ACCOUNTS - 1), qty=quantities)
    def cancel(self, src: int, qty: int) -> None:
        a, reg = self.accounts[src], self.reg
        body = CancellationIn(account_id=a, quantity_kg=qty, reason="r")
        req = self.run(lambda uow: cancellations.request(reg, uow, self.holder, body), body, self.holder)
        assert (req is not None) == (qty <= self.free_kg[a])
        if req is not None:
            assert self.run(lambda uow: cancellations.approve(reg, uow, APPROVER, req["id"]),
                            actor=APPROVER) is not None
            self.free_kg[a] -= qty
            self.final_kg["cancelled"] += qty

    @invariant()
    def agrees_with_model_and_invariants_hold(self) -> None:
        if not self.accounts:
            return
        with self.reg.store.read() as uow:
            for acc, free in self.free_kg.items():
                assert queries.holdings(uow, REGULATOR, acc)["free_kg"] == free, f"SOVCARBON_STATEFUL_SEED={SEED}"
            supply = queries.supply(uow, None, None)
            violations = invariants.check_uow(uow)
        assert supply["issued_kg"] == self.issued_kg and supply["balanced"]
        assert supply["by_state_kg"]["retired"] == self.final_kg["retired"]
        assert supply["by_state_kg"]["cancelled"] == self.final_kg["cancelled"]
        assert not violations, violations

    def teardown(self) -> None:
        self.reg.store.dispose()
        self.tmp.cleanup()


TestRegistryMachine = seed(SEED)(RegistryMachine).TestCase
TestRegistryMachine.settings = settings(max_examples=15, stateful_step_count=25, deadline=None, database=None,
                                        suppress_health_check=list(HealthCheck))
