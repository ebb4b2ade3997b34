"""A seeded random workload over the service layer, used by the in-process simulation (invariants after
every step) and by the crash simulation (a worker process killed at random moments)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor, Role
from sovcarbon.services import cancellations, freezes, issuance, participants, projects, retirements, transfers
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import (
    AccountIn,
    AccountStatusIn,
    CancellationIn,
    FreezeIn,
    IssuanceIn,
    ParticipantIn,
    ProjectIn,
    RetirementIn,
    TransferIn,
    ValidationIn,
)

# Each act by the role that does it in production (no system actor): officers, the VVB, each account's holder.
ADMIN = Actor(key_id="key_sim_admin", role=Role.REGISTRY_ADMIN, participant_id=None, name="sim admin")
APPROVER = Actor(key_id="key_sim_approver", role=Role.REGISTRY_APPROVER, participant_id=None, name="sim approver")
VVB = Actor(key_id="key_sim_vvb", role=Role.VVB, participant_id="par_sim_vvb", name="sim vvb")


@dataclass
class Simulator:
    reg: Registry
    seed: int
    accounts: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    prefixes: list[tuple[str, int]] = field(default_factory=list)
    pending_cancellations: list[str] = field(default_factory=list)
    owners: dict[str, Actor] = field(default_factory=dict)  # account id -> its holder's actor
    next_vintage: int = 2021
    outcomes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def run(self, name: str, fn: Any, request: Any = None, key: str | None = None,
            actor: Actor = ADMIN) -> dict[str, Any] | None:
        body = request.model_dump(mode="json") if request is not None else {"op": name}
        try:
            result = self.reg.execute(actor, name, body, fn, idempotency_key=key)
        except RegistryError as err:
            self.outcomes[f"{name}:{err.code}"] = self.outcomes.get(f"{name}:{err.code}", 0) + 1
            return None
        self.outcomes[name] = self.outcomes.get(name, 0) + 1
        return result.body

    def setup(self) -> None:
        """Participants, accounts and one registered project (idempotent across restarts by keys)."""
        reg = self.reg
        for i in range(4):
            p = ParticipantIn(name=f"sim participant {i}", kind="company", country="TH", kyc_status="verified")
            par = self.run("participant", lambda uow, p=p: participants.create_participant(reg, uow, ADMIN, p),
                           p, key=f"sim-par-{i}")
            assert par is not None
            a = AccountIn(participant_id=par["id"], kind="holding")
            acc = self.run("account", lambda uow, a=a: participants.open_account(reg, uow, ADMIN, a), a,
                           key=f"sim-acc-{i}")
            assert acc is not None
            self.accounts.append(acc["id"])
            # Units move only by their holder's act (domain.access): each account's owner acts with a holder key.
            self.owners[acc["id"]] = Actor(key_id=f"key_sim_holder_{i}", role=Role.HOLDER, participant_id=par["id"],
                                           name=f"sim holder {i}")
        for j, standard in enumerate(("PREMIUM_T-VER", "VCS")):
            body = ProjectIn(name=f"sim project {j}", standard=standard, methodology="M", host_country="TH",
                             proponent_id=par["id"], crediting_period={"start": "2021-01-01", "end": "2099-12-31"},
                             location={"type": "Point", "coordinates": [100.0, 13.0]})
            prj = self.run("project", lambda uow, b=body: projects.submit(reg, uow, ADMIN, b), body,
                           key=f"sim-prj-{j}")
            assert prj is not None
            self.run("validate", lambda uow, pid=prj["id"]: projects.validate(reg, uow, VVB, pid, ValidationIn()),
                     key=f"sim-val-{j}")
            self.run("register", lambda uow, pid=prj["id"]: projects.register(reg, uow, ADMIN, pid),
                     key=f"sim-reg-{j}")
            self.projects.append(prj["id"])

    def step(self) -> str:
        r = self.rng.random()
        reg = self.reg
        if r < 0.08 or not self.prefixes:
            vintage = self.next_vintage
            self.next_vintage += 1
            body = IssuanceIn(project_id=self.rng.choice(self.projects), vintage=vintage,
                              monitoring_period={"start": f"{vintage}-01-01", "end": f"{vintage}-12-31"},
                              quantity_kg=self.rng.randint(1, 50) * 1000, buffer_kg=self.rng.choice([0, 1000]),
                              account_id=self.rng.choice(self.accounts))
            iss = self.run("issue", lambda uow: issuance.request(reg, uow, ADMIN, body), body)
            if iss is not None:
                done = self.run("approve", lambda uow: issuance.approve(reg, uow, APPROVER, iss["id"]))
                if done is not None:
                    self.prefixes.append((done["serial_prefix"], done["quantity_kg"]))
            return "issue"
        src, dst = self.rng.sample(self.accounts, 2)
        holder = self.owners[src]
        selection: dict[str, Any]
        if self.rng.random() < 0.5:
            selection = {"quantity_kg": self.rng.choice([1, 7, 500, 1000, 1000, 12_345, 40_000, -3])}
        else:
            prefix, qty = self.rng.choice(self.prefixes)
            first = self.rng.randint(1, qty)
            last = min(qty + self.rng.choice([0, 5]), first + self.rng.randint(0, 3000))
            selection = {"serials": [f"{prefix}-{first:012d}-{last:012d}"]}
        kind = self.rng.random()
        try:
            if kind < 0.55:
                tb = TransferIn(from_account_id=src, to_account_id=dst, **selection)
                self.run("transfer", lambda uow: transfers.transfer(reg, uow, holder, tb), tb, actor=holder)
                return "transfer"
            if kind < 0.75:
                rb = RetirementIn(account_id=src, beneficiary={"name": "sim", "country": "TH"},
                                  purpose=self.rng.choice(["voluntary", "domestic_compliance", "corsia"]),
                                  claim_year=2025, **selection)
                self.run("retire", lambda uow: retirements.retire(reg, uow, holder, rb), rb, actor=holder)
                return "retire"
            if kind < 0.85:
                cb = CancellationIn(account_id=src, reason="sim", **selection)
                req = self.run("cancel_request", lambda uow: cancellations.request(reg, uow, holder, cb), cb,
                               actor=holder)
                if req is not None:
                    self.pending_cancellations.append(req["id"])
                if self.pending_cancellations and self.rng.random() < 0.7:
                    cid = self.pending_cancellations.pop(0)
                    self.run("cancel_approve", lambda uow: cancellations.approve(reg, uow, APPROVER, cid))
                return "cancel"
            if kind < 0.93 and "serials" in selection:
                fb = FreezeIn(serials=selection["serials"], reason="sim", frozen=self.rng.random() < 0.6)
                self.run("freeze", lambda uow: freezes.set_frozen(reg, uow, ADMIN, fb), fb)
                return "freeze"
            status = "suspended" if self.rng.random() < 0.25 else "active"
            sb = AccountStatusIn(status=status)
            self.run("status", lambda uow: participants.set_account_status(reg, uow, ADMIN, dst, sb), sb)
            return "status"
        except ValueError:
            # A pydantic model refused the generated body, as the API would with 1003.
            self.outcomes["invalid_body"] = self.outcomes.get("invalid_body", 0) + 1
            return "invalid"


def resume(sim: Simulator) -> None:
    """Reload what the workload needs from the ledger after a restart."""
    from sqlalchemy import select

    from sovcarbon.store import tables as t

    with sim.reg.store.read() as uow:
        sim.prefixes = [(r[0], int(r[1])) for r in uow.conn.execute(
            select(t.issuances.c.serial_prefix, t.issuances.c.quantity_kg).where(t.issuances.c.status == "issued"))]
        vintages = list(uow.conn.execute(select(t.issuances.c.vintage)).scalars())
    sim.next_vintage = max(vintages, default=2020) + 1
