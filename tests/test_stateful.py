"""Hypothesis-driven random operations against a reference model, the invariant checker after each step.

The model is deliberately simple: free kilograms per account and final kilograms per state. Every
rule applies the same command to the registry and, if the registry accepted it, to the model; every
rejection must leave the registry unchanged. After each step the two must agree and I1-I7 (as
implemented) must hold. Every act is done by the role that does it in production: a registry admin
registers, requests issuance; a registry approver approves; a VVB validates; the accounts' holder moves,
retires and cancels its units; the regulator reads. A rejection must leave every ledger table as it was.
Article 6 runs beside them on a fourth account of Premium units: LoAs (four-eyes: the requester's own
approval is 3003), units attached (off a tonne boundary: 6006), NDC exports (an unauthorized Party is
refused) and CORSIA use, each only within the covered kilograms; I6 and the journal replay after each step.
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
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select

from sovcarbon.config import load_settings
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import (
    article6,
    article6_attach,
    article6_export,
    article6_serials,
    cancellations,
    invariants,
    issuance,
    ledger_audit,
    participants,
    projects,
    queries,
    retirements,
)
from sovcarbon.services import transfers as transfer_service
from sovcarbon.services.article6_requests import AttachIn, AuthorizationIn, ExportIn, LabelIn
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
from sovcarbon.store import article6_tables as a6
from sovcarbon.store import tables as t
from sovcarbon.store import token_tables as tt

SEED = int(os.environ.get("SOVCARBON_STATEFUL_SEED") or secrets.randbits(32))
print(f"state machine seed {SEED} (replay: SOVCARBON_STATEFUL_SEED={SEED})")
ADMIN = Actor("key_hyp_admin", Role.REGISTRY_ADMIN, None, "admin")
APPROVER = Actor("key_hyp_approver", Role.REGISTRY_APPROVER, None, "approver")
REGULATOR = Actor("key_hyp_regulator", Role.REGULATOR, None, "regulator")
WATCHED = (t.blocks, t.transactions, t.retirements, t.cancellations, t.issuances, t.journal, t.idempotency,
           tt.token_outbox, a6.a6_authorization_versions, a6.a6_coverage, a6.a6_first_transfers, a6.a6_adjustments,
           a6.a6_actions, a6.a6_exports, a6.a6_labels)
VVB = Actor("key_hyp_vvb", Role.VVB, None, "vvb")
ACCOUNTS = 3
quantities = st.one_of(st.integers(1, 3000), st.sampled_from([1, 999, 1000, 1001, 5000, 20_000]))
# Article 6 moves whole tonnes (6006): mostly whole tonnes, sometimes kilograms off a tonne boundary.
whole_tonnes = st.integers(1, 20).map(lambda t: t * 1000)
a6_quantities = st.one_of(whole_tonnes, whole_tonnes, whole_tonnes, st.sampled_from([1, 999, 1001, 2500]))


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
        self.loas: list[str] = []
        self.a6_account: str | None = None
        self.covered_kg = 0  # free kilograms of the Article 6 account under an LoA
        self.last_code: int | None = None

    def run(self, fn: Any, body: Any = None, actor: Actor = ADMIN) -> dict[str, Any] | None:
        before = self.rows()
        try:
            return self.reg.execute(actor, "op", body.model_dump(mode="json") if body else {}, fn).body
        except RegistryError as err:
            self.last_code = err.code
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
        # Article 6: an exportable (Premium T-VER) project whose units go to a fourth account of the same holder,
        # kept apart from the three accounts the rules above move units between (T-VER never leaves the country).
        self.participant_id = par["id"]
        prem = self.run(lambda uow: projects.submit(reg, uow, ADMIN, ProjectIn(
            name="premium", standard="PREMIUM_T-VER", methodology="m", host_country="TH", proponent_id=par["id"],
            crediting_period={"start": "2021-01-01", "end": "2099-12-31"},
            location={"type": "Point", "coordinates": [100, 13]})))
        assert prem is not None
        assert self.run(lambda uow: projects.validate(reg, uow, VVB, prem["id"], ValidationIn()), actor=VVB)
        assert self.run(lambda uow: projects.register(reg, uow, ADMIN, prem["id"]))
        self.premium_id = prem["id"]
        acc = self.run(lambda uow: participants.open_account(reg, uow, ADMIN, AccountIn(participant_id=par["id"])))
        assert acc is not None
        self.a6_account = acc["id"]
        self.free_kg[self.a6_account] = 0

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

    # --- Article 6 ---------------------------------------------------------------------------------------------
    @precondition(lambda self: self.a6_account is not None)
    @rule(tonnes=st.integers(1, 30))
    def issue_premium(self, tonnes: int) -> None:
        """Premium units to the Article 6 account, labelled CORSIA-eligible by an admin (host attestation)."""
        reg, acc = self.reg, self.a6_account
        body = IssuanceIn(project_id=self.premium_id, vintage=self.vintage, account_id=acc, quantity_kg=tonnes * 1000,
                          monitoring_period={"start": f"{self.vintage}-01-01", "end": f"{self.vintage}-12-31"})
        self.vintage += 1
        iss = self.run(lambda uow: issuance.request(reg, uow, ADMIN, body), body)
        assert iss is not None
        done = self.run(lambda uow: issuance.approve(reg, uow, APPROVER, iss["id"]), actor=APPROVER)
        assert done is not None
        label = LabelIn(serials=[f"{done['serial_prefix']}-{1:012d}-{tonnes * 1000:012d}"], label="corsia_eligible",
                        reference="sim attestation")
        assert self.run(lambda uow: article6_serials.set_label(reg, uow, ADMIN, label), label) is not None
        self.free_kg[acc] += tonnes * 1000
        self.issued_kg += tonnes * 1000

    @precondition(lambda self: len(self.loas) < 3)
    @rule(max_tonnes=st.integers(1, 100), self_approval=st.booleans())
    def grant_loa(self, max_tonnes: int, self_approval: bool) -> None:
        """An admin requests an LoA; four-eyes: its own approval is refused, an approver's is accepted."""
        from a6_world import loa_body

        reg = self.reg
        body = AuthorizationIn.model_validate(loa_body(
            reference=f"HYP-{len(self.loas)}", max_quantity_kg=max_tonnes * 1000,
            timeframe={"start": "2021-01-01", "end": "2099-12-31"},  # each issuance here has its own vintage
            authorized_entities=[{"name": "p", "party": "THA", "participant_id": self.participant_id,
                                  "identification_number": "0105500000001", "country": "THA"},
                                 {"name": "PT Nusantara Energi", "party": "IDN",
                                  "identification_number": "AHU-0012345", "country": "IDN"}]))
        loa = self.run(lambda uow: article6.request_grant(reg, uow, ADMIN, body), body)
        assert loa is not None
        if self_approval:
            assert self.run(lambda uow: article6.approve(reg, uow, ADMIN, loa["id"])) is None
            assert self.last_code == 3003, f"SOVCARBON_STATEFUL_SEED={SEED}"
        assert self.run(lambda uow: article6.approve(reg, uow, APPROVER, loa["id"]), actor=APPROVER) is not None
        self.loas.append(loa["id"])

    @precondition(lambda self: bool(self.loas) and self.free_kg[self.a6_account] > self.covered_kg)
    @rule(which=st.integers(0, 5), qty=a6_quantities)
    def attach(self, which: int, qty: int) -> None:
        reg, loa_id = self.reg, self.loas[which % len(self.loas)]
        body = AttachIn(account_id=self.a6_account, quantity_kg=qty)
        done = self.run(lambda uow: article6_attach.attach(reg, uow, ADMIN, loa_id, body), body)
        if qty % 1000:  # off a tonne boundary: 6006 (4001 first when the account has not that many free kg)
            short = qty > self.free_kg[self.a6_account] - self.covered_kg
            assert done is None and self.last_code in ((4001, 6006) if short else (6006,)), (
                qty, self.last_code, f"SOVCARBON_STATEFUL_SEED={SEED}")
        if done is not None:
            assert qty <= self.free_kg[self.a6_account] - self.covered_kg
            self.covered_kg += qty

    @precondition(lambda self: self.covered_kg > 0)
    @rule(which=st.integers(0, 5), qty=a6_quantities, party=st.sampled_from(["IDN", "IDN", "SGP"]))
    def export(self, which: int, qty: int, party: str) -> None:
        reg, loa_id, acc = self.reg, self.loas[which % len(self.loas)], self.a6_account
        body = ExportIn(account_id=acc, authorization_id=loa_id, purpose="ndc", quantity_kg=qty,
                        destination={"party": party, "registry_id": f"{party}01", "account_id": "B-1",
                                     "entity": "PT Nusantara Energi"})
        done = self.run(lambda uow: article6_export.export(reg, uow, self.holder, body), body, self.holder)
        if qty % 1000 or party == "SGP" or qty > self.covered_kg:
            assert done is None, (qty, party, self.covered_kg, f"SOVCARBON_STATEFUL_SEED={SEED}")
        if done is not None:
            assert done["quantity_kg"] == qty
            self.free_kg[acc] -= qty
            self.covered_kg -= qty

    @precondition(lambda self: self.covered_kg > 0)
    @rule(qty=a6_quantities, purpose=st.sampled_from(["corsia", "corsia", "voluntary"]))
    def use_for_corsia(self, qty: int, purpose: str) -> None:
        """The holder (an entity the LoAs name) uses covered units for CORSIA: the first transfer at use."""
        reg, acc = self.reg, self.a6_account
        body = RetirementIn(account_id=acc, quantity_kg=qty, beneficiary={"name": "b", "country": "TH"},
                            purpose=purpose, claim_year=2026)
        done = self.run(lambda uow: retirements.retire(reg, uow, self.holder, body), body, self.holder)
        if qty > self.free_kg[acc] or (purpose == "corsia" and (qty % 1000 or qty > self.covered_kg)):
            assert done is None, (qty, purpose, self.covered_kg, f"SOVCARBON_STATEFUL_SEED={SEED}")
        if done is not None:
            self.free_kg[acc] -= qty
            self.final_kg["retired"] += qty
            # lowest free serials first: which of them were covered is the registry's to say
            with self.reg.store.read() as uow:
                covered_left = sum(int(r) for r in uow.conn.execute(select(func.coalesce(func.sum(
                    a6.a6_coverage.c.quantity_kg), 0)).where(a6.a6_coverage.c.released_at.is_(None))).scalars())
            self.covered_kg = min(self.covered_kg, covered_left)

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
        replayed = ledger_audit.replay(self.reg)  # the journal is the authority: it replays to the tables
        assert replayed.ok, (replayed.message, f"SOVCARBON_STATEFUL_SEED={SEED}")

    def teardown(self) -> None:
        self.reg.store.dispose()
        self.tmp.cleanup()


TestRegistryMachine = seed(SEED)(RegistryMachine).TestCase
TestRegistryMachine.settings = settings(max_examples=15, stateful_step_count=25, deadline=None, database=None,
                                        suppress_health_check=list(HealthCheck))
