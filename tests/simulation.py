"""A seeded random workload over the service layer, used by the in-process simulation (invariants after
every step) and by the crash simulation (a worker process killed at random moments)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Actor, BlockState, Role
from sovcarbon.services import (
    cancellations,
    freezes,
    issuance,
    participants,
    pledges,
    projects,
    retirements,
    transfers,
)
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
    bank: Actor | None = None  # the pledgee of the pledge operations (a bank participant's bank-role key)

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
        if r < 0.20:
            return self.pledge_step()
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

    # --- pledges: requests by holders, acceptance / release / default / enforcement by the bank, with wrong
    # roles and over-quantities among them; the liens acted on are read from the ledger (survives restarts)
    def _bank(self) -> Actor:
        if self.bank is None:
            reg = self.reg
            p = ParticipantIn(name="sim bank", kind="bank", country="TH", kyc_status="verified")
            par = self.run("participant", lambda uow: participants.create_participant(reg, uow, ADMIN, p), p,
                           key="sim-bank-par")
            assert par is not None
            a = AccountIn(participant_id=par["id"], kind="holding")
            self.run("account", lambda uow: participants.open_account(reg, uow, ADMIN, a), a, key="sim-bank-acc")
            self.bank = Actor(key_id="key_sim_bank", role=Role.BANK, participant_id=par["id"], name="sim bank")
        return self.bank

    def _liens(self, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
        with self.reg.store.read() as uow:
            return [x for x in pledges.list_liens(uow, ADMIN) if x["status"] in statuses and x["asset"] == "units"]

    def _free_kg(self, account_id: str) -> int:
        """The account's free held kg; 0 while it is not active (it pledges nothing then: 3004)."""
        with self.reg.store.read() as uow:
            if uow.repo.account(account_id).status != "active":
                return 0
            return sum(b.quantity_kg for b in uow.repo.blocks.free_leaves(account_id, BlockState.HELD))

    def pledge_step(self) -> str:
        """Mostly valid pledge operations (about one draw in six is wrong: another party acting, a quantity
        beyond the lien or the free balance, zero, a pledgee that is no bank), so that requests, acceptances,
        partial and full releases, defaults and enforcements succeed in every run. The lien acted on is chosen
        so that the life cycle advances: requested liens are accepted (or withdrawn), active ones released in
        part or in whole or defaulted, defaulted ones enforced in part or in whole (or released)."""
        bank, rng = self._bank(), self.rng
        assert bank.participant_id is not None
        wrong = rng.random() < 0.1  # the other party (or another holder) tries the act: 1002
        live = self._liens(("requested", "active", "defaulted"))
        if not live or rng.random() < 0.3:
            frees = {a: self._free_kg(a) for a in self.accounts}
            acc = rng.choice([a for a in self.accounts if frees[a] > 0] or self.accounts)
            free = frees[acc]
            holder = self.owners[rng.choice([a for a in self.accounts if a != acc])] if wrong else self.owners[acc]
            # mostly at most a quarter of the free kg (later acceptances still find them free, and transfers and
            # retirements keep units to move); one in ten 2003 / 4001
            qty = rng.choice([0, free + 1, free + 5_000]) if rng.random() < 0.1 else rng.randint(1, max(1, free // 4))
            pledgee = self.owners[self.accounts[0]].participant_id if rng.random() < 0.03 else bank.participant_id
            assert pledgee is not None
            body = pledges.LienIn(account_id=acc, pledgee_id=pledgee, quantity_kg=qty)
            self.run("lien_request", lambda uow: pledges.request(uow, holder, body), body, actor=holder)
            return "lien_request"
        locked = [x for x in live if x["status"] != "requested"]
        lien = rng.choice(locked if locked and rng.random() < 0.6 else live)  # accepted liens advance too
        pledgor = next(o for o in self.owners.values() if o.participant_id == lien["pledgor_id"])
        who = pledgor if wrong else bank
        remaining = int(lien["remaining_kg"])
        if rng.random() < 0.1:
            amount: int | None = rng.choice([0, remaining + 1])  # 2003 / 4001 (over-release, over-enforcement)
        else:
            amount = rng.choice([None, rng.randint(1, remaining), max(1, remaining // 2)])
        lid, status, op = lien["id"], lien["status"], rng.random()
        # a request whose kg are no longer free (moved since) is withdrawn by its holder, not retried forever
        stale = status == "requested" and int(lien["pledged_kg"]) > self._free_kg(str(lien["account_id"]))
        if status == "requested" and op < 0.85 and not stale:
            self.run("lien_accept", lambda uow: pledges.accept(uow, who, lid), actor=who)
            return "lien_accept"
        if status == "requested":
            who = bank if wrong else pledgor
            self.run("lien_withdraw", lambda uow: pledges.withdraw(uow, who, lid), actor=who)
            return "lien_withdraw"
        if (status == "active" and op < 0.55) or (status == "defaulted" and op < 0.15):
            rb = pledges.LienQuantityIn(quantity_kg=amount)
            self.run("lien_release", lambda uow: pledges.release(uow, who, lid, rb), rb, actor=who)
            return "lien_release"
        if status == "active":
            self.run("lien_default", lambda uow: pledges.notify_default(uow, who, lid), actor=who)
            return "lien_default"
        eb = pledges.LienEnforceIn(quantity_kg=amount)
        self.run("lien_enforce", lambda uow: pledges.enforce(uow, who, lid, eb), eb, actor=who)
        return "lien_enforce"


def resume(sim: Simulator) -> None:
    """Reload what the workload needs from the ledger after a restart."""
    from sqlalchemy import select

    from sovcarbon.store import tables as t

    with sim.reg.store.read() as uow:
        sim.prefixes = [(r[0], int(r[1])) for r in uow.conn.execute(
            select(t.issuances.c.serial_prefix, t.issuances.c.quantity_kg).where(t.issuances.c.status == "issued"))]
        vintages = list(uow.conn.execute(select(t.issuances.c.vintage)).scalars())
    sim.next_vintage = max(vintages, default=2020) + 1


# --- Article 6 and tokens: the same seeded walk over the HTTP API, with an embedded chain and its bridge -----------

TONNE_KG = 1000
PARTIES = ("IDN", "JPN", "SGP")  # SGP is never authorized: exports there are refused (6004)


@dataclass
class Article6TokenSimulator:
    """A seeded random walk of Article 6 and token operations, each by the role that does it in production:
    a registry admin requests LoAs, attaches units and labels them; a registry approver approves them (the
    admin trying its own approval is refused: four-eyes); the foundation (its proponent key) and the company
    (its holder key) move, export, retire for CORSIA/OIMP and tokenize their own units; token holders transfer
    and retire on the chain with their own wallets, and the bridge brings those acts into the NR. Quantities
    and serial ranges are drawn both on and off tonne boundaries (rule 6006 refuses the latter on attach).
    Every refused request must answer the error envelope and leave the journal head where it was."""

    api: Any  # world.Api
    bridge: Any  # sovcarbon.bridge.Bridge
    seed: int
    wallets: dict[str, Any] = field(default_factory=dict)
    loas: list[str] = field(default_factory=list)
    lots: list[int] = field(default_factory=list)  # chain lot ids of minted lots
    covered: list[tuple[str, str]] = field(default_factory=list)  # (holder, LoA) pairs with units attached
    handed: list[str] = field(default_factory=list)  # covered serials the company received
    covered_serials: list[tuple[str, str]] = field(default_factory=list)  # (LoA, serial) attached to the foundation
    outcomes: dict[str, int] = field(default_factory=dict)
    dvp: Any = None  # DvpSimulator: DvP orders and escrow steps among the chain steps when set

    verbose: bool = False  # print each refusal (SOVCARBON_SIM_VERBOSE=1 with a replayed seed)
    KEYS = {"foundation": "proponent", "company": "company"}

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def head(self) -> int:
        seq: int = self.api.ok("GET", "/v1/journal/head", None)["seq"]
        return seq

    def post(self, name: str, path: str, who: str, body: Any = None) -> dict[str, Any] | None:
        """One request; a refusal must be the error envelope and must change nothing."""
        before = self.head()
        resp = self.api.post(path, who, body)
        if resp.status_code in (200, 201):
            self.count(name)
            data: dict[str, Any] = resp.json()
            return data
        assert 400 <= resp.status_code < 500, (f"SOVCARBON_SIM_SEED={self.seed}", name, resp.status_code, resp.text)
        err = resp.json()
        assert set(err) == {"error"} and set(err["error"]) == {"code", "name", "message", "details"}, err
        assert self.head() == before, (f"SOVCARBON_SIM_SEED={self.seed}", name, "a refused request wrote", err)
        self.count(f"{name}:{err['error']['code']}")
        if self.verbose:
            print(name, who, body, "->", err["error"]["code"], err["error"]["message"])
        return None

    def setup(self) -> None:
        from token_world import make_token_world

        from sovcarbon.domain.serials import format_serial

        tw = make_token_world(self.api, self.bridge)
        self.wallets = tw.wallets
        # Every issued unit is eligible for CORSIA (the host's attestation): use for CORSIA then turns on the LoA.
        issued = format_serial(self.api.ids["prefix"], 1, 9_000_000)
        assert self.post("label", "/v1/labels", "admin", {"serials": [issued], "label": "corsia_eligible",
                                                           "reference": "sim attestation"}) is not None

    def holder(self) -> str:
        return "foundation" if self.rng.random() < 0.6 else "company"  # the company holds only what it was given

    def quantity(self) -> int:
        """Mostly whole tonnes, sometimes a few kilograms off a tonne."""
        tonnes = self.rng.randint(1, 400) * TONNE_KG
        return tonnes + self.rng.choice([0, 0, 0, 1, -1, 500]) if tonnes > TONNE_KG else tonnes

    def serials(self) -> list[str]:
        from sovcarbon.domain.serials import format_serial

        first = self.rng.randint(0, 8_000) * TONNE_KG + 1 + self.rng.choice([0, 0, 0, 1, 499])
        last = first - 1 + self.rng.randint(1, 200) * TONNE_KG + self.rng.choice([0, 0, 0, -1])
        return [format_serial(self.api.ids["prefix"], first, max(first, last))]

    def selection(self, small: bool = False) -> dict[str, Any]:
        if small and self.rng.random() < 0.8:
            return {"quantity_kg": self.rng.randint(1, 30) * TONNE_KG}
        return {"quantity_kg": self.quantity()} if self.rng.random() < 0.6 else {"serials": self.serials()}

    def step(self) -> str:
        if self.dvp is not None and self.lots and self.rng.random() < 0.3:
            return str(self.dvp.step())
        ids, r = self.api.ids, self.rng.random()
        if r < 0.05 or not self.loas:
            entities = [{"name": "Company", "party": "THA", "participant_id": ids["company"],
                         "identification_number": "0105500000001", "country": "THA"},
                        {"name": "PT Nusantara Energi", "party": "IDN", "identification_number": "AHU-0012345",
                         "country": "IDN"}]
            from a6_world import loa_body

            body = loa_body(reference=f"SIM-LOA-{len(self.loas)}-{self.rng.randrange(10**6)}",
                            max_quantity_kg=self.rng.choice([300, 5_000, 20_000]) * TONNE_KG,
                            authorized_entities=entities)
            loa = self.post("loa_request", "/v1/authorizations", "admin", body)
            if loa is not None:
                if self.rng.random() < 0.2:  # the requester approving its own request: four-eyes refuses
                    assert self.post("loa_self_approval", f"/v1/authorizations/{loa['id']}/approval", "admin") is None
                if self.post("loa_approval", f"/v1/authorizations/{loa['id']}/approval", "approver") is not None:
                    self.loas.append(loa["id"])
            return "loa"
        loa_id = self.rng.choice(self.loas)
        who = self.holder() if r >= 0.28 or self.rng.random() < 0.3 else "foundation"
        if 0.40 <= r < 0.64 and self.covered and self.rng.random() < 0.75:
            who, loa_id = self.rng.choice(self.covered)  # mostly use or export units an LoA covers
        acc = ids[f"{who}_acc"]
        if r < 0.28:
            done = self.post("attach", f"/v1/authorizations/{loa_id}/units", "admin",
                             {"account_id": acc, **self.selection()})
            if done is not None:
                self.covered.append((who, loa_id))
                if who == "foundation":
                    self.covered_serials += [(loa_id, u["serial"]) for u in done["units"]]
            return "attach"
        if r < 0.40:
            other = "company" if who == "foundation" else "foundation"
            if self.covered_serials and self.rng.random() < 0.5:  # covered units handed to the company (an entity)
                return self.hand_over()
            moved = self.post("transfer", "/v1/transfers", self.KEYS[who],
                              {"from_account_id": acc, "to_account_id": ids[f"{other}_acc"], **self.selection()})
            if moved is not None:  # covered units may have moved with it (a guess: wrong ones are refusals)
                self.covered += [(other, loa) for holder, loa in self.covered if holder == who]
                self.covered = sorted(set(self.covered))
            return "transfer"
        if r < 0.52:
            party = self.rng.choice(PARTIES) if self.rng.random() < 0.4 else "IDN"
            entity = "PT Nusantara Energi" if party == "IDN" and self.rng.random() < 0.8 else "Someone Else"
            body = {"account_id": acc, "authorization_id": loa_id, "purpose": self.rng.choice(["ndc", "ndc", "oimp"]),
                    "destination": {"party": party, "registry_id": f"{party}01", "account_id": "B-001",
                                    "entity": entity}, **self.selection(small=True)}
            self.post("export", "/v1/exports", self.KEYS[who], body)
            return "export"
        if r < 0.64:
            selection = self.selection(small=True)
            if who == "company" and self.handed and self.rng.random() < 0.6:  # the covered units it was given
                selection = {"serials": [self.rng.choice(self.handed)]}
            body = {"account_id": acc, "purpose": self.rng.choice(["corsia", "corsia", "oimp", "voluntary"]),
                    "claim_year": 2026, "beneficiary": {"name": "Thai Sky Airways", "country": "TH"}, **selection}
            self.post("retire_" + body["purpose"], "/v1/retirements", self.KEYS[who], body)
            return "retire"
        if r < 0.76 or not self.lots:
            body = {"holder_account_id": acc, "quantity_kg": self.quantity()}
            if self.post("tokenize", "/v1/tokenizations", self.KEYS[who], body) is not None:
                self.bridge.run_until_idle()
                self.refresh_lots()
            return "tokenize"
        return self.chain_step(who)

    def hand_over(self) -> str:
        """The foundation transfers whole tonnes of units it had attached to an LoA to the company, which the
        LoA names as an authorized entity: the company can then use them for CORSIA (the first transfer)."""
        from sovcarbon.domain.serials import format_serial, parse_serial

        loa_id, text = self.rng.choice(self.covered_serials)
        rng = parse_serial(text)
        tonnes = rng.quantity_kg // TONNE_KG
        first = rng.first_kg + self.rng.randrange(tonnes) * TONNE_KG
        last = min(rng.last_kg, first - 1 + self.rng.randint(1, 20) * TONNE_KG)
        body = {"from_account_id": self.api.ids["foundation_acc"], "to_account_id": self.api.ids["company_acc"],
                "serials": [format_serial(rng.prefix, first, last)]}
        if self.post("transfer", "/v1/transfers", self.KEYS["foundation"], body) is not None:
            self.covered = sorted({*self.covered, ("company", loa_id)})
            self.handed.append(body["serials"][0])
        return "transfer"

    def refresh_lots(self) -> None:
        lots = self.api.ok("GET", "/v1/lots", "admin")["data"]
        self.lots = sorted(int(lot["chain_lot_id"]) for lot in lots if lot.get("chain_lot_id") is not None)

    def chain_step(self, who: str) -> str:
        from sovcarbon.chain import ChainRejected

        token, lot = self.bridge.token, self.rng.choice(self.lots)
        balances = {w: int(token.balance_of(self.wallets[w].address, lot)) for w in ("foundation", "company")}
        if self.rng.random() < 0.85 and any(balances.values()):  # mostly a holder that has tokens of the lot
            who = self.rng.choice([w for w, kg in balances.items() if kg])
        wallet, balance = self.wallets[who], balances[who]
        amount = self.rng.choice([1, TONNE_KG, min(50 * TONNE_KG, max(balance, 1)), max(balance, 1), balance + 1])
        try:
            if self.rng.random() < 0.2:
                return self.chain_pledge_step(who, lot, amount)
            if self.rng.random() < 0.4:
                other = "company" if who == "foundation" else "foundation"
                token.transfer(wallet, self.wallets[other].address, lot, amount)
                self.count("chain_transfer")
                return "chain_transfer"
            purpose = self.rng.choice(["voluntary", "corsia", "domestic_compliance"])
            token.retire(wallet, lot, amount, "Sim Beneficiary", purpose, 2026)
            self.count(f"chain_retire_{purpose}")
            return "chain_retire"
        except ChainRejected as refused:
            self.count(f"chain:{refused.code}")
            return "chain_refused"
        finally:
            self.bridge.run_until_idle()

    def chain_pledge_step(self, who: str, lot: int, amount: int) -> str:
        """A holder pledges its tokens on chain to the other holder's wallet (no bank: the registry records the
        lien with a flag), which releases or enforces part of it; the chain refuses what breaks 7004 and the
        bridge mirrors the rest as liens (LIEN in the checker after every step)."""
        token = self.bridge.token
        other = "company" if who == "foundation" else "foundation"
        holder, pledgee = self.wallets[who], self.wallets[other]
        pledged = int(token.pledged(holder.address, lot, pledgee.address))
        op = self.rng.random()
        if op < 0.5 or not pledged:
            token.pledge(holder, lot, amount, pledgee.address)
            self.count("chain_pledge")
            return "chain_pledge"
        kg = self.rng.choice([1, max(1, pledged // 2), pledged, pledged + 1])
        if op < 0.8:
            token.release_pledge(pledgee, holder.address, lot, kg)
            self.count("chain_pledge_release")
            return "chain_pledge_release"
        token.enforce_pledge(pledgee, holder.address, lot, kg)
        self.count("chain_pledge_enforce")
        return "chain_pledge_enforce"


# --- DvP settlement: orders and escrow steps, each by its real role -------------------------------------------
DVP_PRICE_SATANG_PER_T = 25_000


@dataclass
class DvpSimulator:
    """DvP at random inside the Article 6 + token walk: the platform (a licensed intermediary) orders over HTTP
    and creates the DvP on the escrow with its own key; the seller pledges its tokens to the escrow and funds
    the delivery leg, the buyer's bank (the cash issuer) mints tokenized THB, the buyer locks it and funds the
    payment leg (or funds and settles in one transaction); anyone settles or, once the chain's clock passed
    the deadline, expires; a party or the operator cancels; a holder takes back what it pledged or locked
    beyond its funded legs. Wrong roles, out-of-order steps, too many kg, a fraction of a satang and past
    deadlines are among the draws; a refusal changes nothing (the registry's journal head, or the chain
    reverts). The escrow's consumer is attached to the bridge: the shared checker's ESCROW conservation runs
    after every step, and ``check`` compares each DvP's chain state with the registry's order."""

    sim: Article6TokenSimulator
    issuer: Any = None  # the buyer's bank: mints tokenized THB
    platform: Any = None  # the platform's wallet (signs create / cancel)
    escrow: Any = None
    cash: Any = None
    orders: list[dict[str, Any]] = field(default_factory=list)  # orders created on the escrow

    def setup(self) -> None:
        from eth_account import Account
        from token_world import give_wallet

        from sovcarbon.bridge.settlement_events import SettlementConsumer
        from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain

        sim = self.sim
        self.platform = give_wallet(sim.api, "platform")  # the registry pushes its licence to the chain
        sim.bridge.run_until_idle()
        token = sim.bridge.token
        token.fund_gas(self.platform.address)
        self.issuer = Account.create()
        self.cash = CashTokenChain(token)
        self.cash.deploy_cash(self.issuer)
        self.escrow = DvpEscrowChain(token)
        self.escrow.deploy_escrow(self.issuer, self.cash.address)
        sim.bridge.attach_settlement(SettlementConsumer(sim.api.reg, self.escrow, self.cash, token.block_number()))

    def chain_now(self) -> int:
        return int(self.sim.bridge.token.w3.eth.get_block("latest")["timestamp"])

    def step(self) -> str:
        from sovcarbon.chain import ChainRejected

        sim = self.sim
        open_orders = [o for o in self.orders if self.escrow.state(o["dvp_id"]).status == 1]
        try:
            if not open_orders or sim.rng.random() < 0.3:
                return self.order()
            return self.advance(sim.rng.choice(open_orders))
        except ChainRejected as refused:
            sim.count(f"dvp_chain:{refused.code}")
            return "dvp_refused"

    def order(self) -> str:
        from datetime import UTC, datetime

        sim = self.sim
        if not sim.lots:
            return "dvp_none"
        token, lot = sim.bridge.token, sim.rng.choice(sim.lots)
        balances = {w: int(token.free_balance_of(sim.wallets[w].address, lot)) for w in ("foundation", "company")}
        seller = max(balances, key=lambda w: balances[w]) if sim.rng.random() < 0.85 else sim.holder()
        buyer = "company" if seller == "foundation" else "foundation"
        kg = sim.rng.choice([TONNE_KG, 5 * TONNE_KG, max(balances[seller], 1), balances[seller] + 1, 1])
        price = DVP_PRICE_SATANG_PER_T if sim.rng.random() < 0.9 else DVP_PRICE_SATANG_PER_T + 1  # 1003 at 1 kg
        deadline_s = self.chain_now() + sim.rng.choice([300, 3600, 3600, -10])
        who = "platform" if sim.rng.random() < 0.9 else sim.KEYS[seller]  # a holder cannot order (1002)
        lots = sim.api.ok("GET", "/v1/lots", "admin")["data"]
        lot_id = next(x["id"] for x in lots if x.get("chain_lot_id") == lot)
        body = {"seller_id": sim.api.ids[seller], "buyer_id": sim.api.ids[buyer], "lot_id": lot_id,
                "quantity_kg": kg, "price_satang_per_t": price,
                "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()}
        order = sim.post("dvp_order", "/v1/dvp-orders", who, body)
        if order is None:
            return "dvp_order"
        dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
        self.escrow.create(self.platform, dvp_id, sim.wallets[seller].address, sim.wallets[buyer].address,
                           order["chain_lot_id"], order["quantity_kg"], order["total_satang"], order["deadline_s"])
        sim.count("dvp_create")
        self.orders.append({**order, "dvp_id": dvp_id, "seller": seller, "buyer": buyer})
        return "dvp_create"

    def advance(self, o: dict[str, Any]) -> str:
        from sovcarbon.chain import make_op_id
        from sovcarbon.chain.settlement import set_next_block_timestamp

        sim, token, escrow = self.sim, self.sim.bridge.token, self.escrow
        seller, buyer = sim.wallets[o["seller"]], sim.wallets[o["buyer"]]
        state = escrow.state(o["dvp_id"])
        r = sim.rng.random()
        if r < 0.3 and not state.delivery_funded:
            token.pledge(seller, o["chain_lot_id"], o["quantity_kg"], escrow.address)
            sim.count("dvp_pledge")
            escrow.fund_delivery(seller if sim.rng.random() < 0.9 else buyer, o["dvp_id"])  # 1002 for the buyer
            sim.count("dvp_fund_delivery")
            return "dvp_fund_delivery"
        if r < 0.6 and not state.payment_funded:
            self.cash.mint(self.issuer, make_op_id(f"sim-cash-{o['id']}-{sim.rng.randrange(10**9)}"),
                           buyer.address, o["total_satang"])
            self.cash.lock(buyer, o["total_satang"], escrow.address)
            if state.delivery_funded and sim.rng.random() < 0.5:
                escrow.fund_payment_and_settle(buyer, o["dvp_id"])
                sim.count("dvp_fund_and_settle")
                return "dvp_fund_and_settle"
            escrow.fund_payment(buyer, o["dvp_id"])
            sim.count("dvp_fund_payment")
            return "dvp_fund_payment"
        if r < 0.75:
            escrow.settle(sim.rng.choice([self.platform, seller, buyer]), o["dvp_id"])  # 1008 unless both funded
            sim.count("dvp_settle")
            return "dvp_settle"
        if r < 0.85:
            escrow.cancel(sim.rng.choice([self.platform, seller, buyer, self.issuer]), o["dvp_id"])  # issuer: 1002
            sim.count("dvp_cancel")
            return "dvp_cancel"
        if r < 0.95:
            if sim.rng.random() < 0.5 and state.deadline > self.chain_now():  # the chain's clock reaches it
                set_next_block_timestamp(token, state.deadline)
            escrow.expire(self.platform, o["dvp_id"])  # 1008 before the deadline
            sim.count("dvp_expire")
            return "dvp_expire"
        for wallet in (seller, buyer):  # whatever is pledged / locked beyond funded legs goes back
            escrow.withdraw_unassigned(wallet, o["chain_lot_id"])
        sim.count("dvp_withdraw")
        return "dvp_withdraw"

    def check(self) -> list[str]:
        """Each DvP's state on chain against the registry's order (call when the bridge is caught up)."""
        names = {1: "open", 2: "settled", 3: "cancelled", 4: "expired"}
        with self.sim.api.reg.store.read() as uow:
            from sovcarbon.services import settlement

            recorded = {o["id"]: o for o in settlement.all_orders(uow)}
        problems = []
        for o in self.orders:
            chain = self.escrow.state(o["dvp_id"])
            nr = recorded[o["id"]]
            if names[chain.status] != nr["status"] or (chain.status == 1 and (
                    chain.delivery_funded != nr["delivery_funded"] or chain.payment_funded != nr["payment_funded"])):
                problems.append(f"{o['id']}: chain {names[chain.status]} {chain} vs registry {nr['status']} "
                                f"delivery={nr['delivery_funded']} payment={nr['payment_funded']}")
        return problems
