"""Pledges with lien ids: one model for units held in the registry and for tokens on chain (pure rules).

A lien is requested by the holder, accepted by the pledgee (a bank) and then active; only the pledgee
releases it (partly or fully), notifies a default and then enforces it (to itself, or through a DvP sale).

```
requested --accept (pledgee)--> active --release all (pledgee)--> released
    |                             |  ^ release part (pledgee): stays active, smaller
    | withdraw (holder)           |  default notified (pledgee)
    v                             v
 withdrawn                    defaulted --enforce all (pledgee)--> enforced
                                  |  enforce part: stays defaulted, smaller
                                  +--release all (pledgee)--> released
```

| rule | code |
|---|---|
| a quantity is a positive integer kg | 2003 |
| only the holder requests or withdraws; only the pledgee accepts, releases, notifies a default, enforces | 1002 |
| a lien is accepted only while requested, enforced only after a default was notified, final states are final | 1008 |
| Σ active liens of a holding <= its balance: a new or accepted lien beyond the free balance is refused | 4001 |
| release or enforcement of more than the lien's remaining kg | 4001 |
| the holder moves (transfers, retires, tokenizes, exports) only its free balance: registry units | 4003 |
| the same for tokens on chain (the carbon token's pledges) | 7004 |
| a forced move (court order, enforcement by an officer) takes the free balance first, then liens | - |

Invariant LIEN (``check_liens``): for every holding, Σ kg of its live liens (active or defaulted) <= its
balance; a lien's remaining kg is never negative and released + enforced + remaining = pledged.
``check_lien_snapshot`` (the shared checker's LIEN check) adds, for registry units: the pledged leaf blocks
carrying a lien's id hold exactly its remaining kg while it is live (none once it is final), and no pledged
block carries the id of no lien.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.invariants import LedgerSnapshot, Violation

REQUESTED, ACTIVE, DEFAULTED, RELEASED, ENFORCED, WITHDRAWN = (
    "requested", "active", "defaulted", "released", "enforced", "withdrawn")
LIVE = frozenset({ACTIVE, DEFAULTED})  # the kg of these liens are not free
FINAL = frozenset({RELEASED, ENFORCED, WITHDRAWN})
UNITS, TOKENS = "units", "tokens"  # what is pledged: registry units (an account) or tokens (a wallet, a lot)
LOCKED_CODE = {UNITS: 4003, TOKENS: 7004}
# snapshot keys (services/pledges.load_snapshot): lien rows, pledged kg per lien id, balance per holding
LIENS_KEY, LIEN_BLOCKS_KEY, LIEN_BALANCES_KEY = "liens", "lien_blocks", "lien_balances"


@dataclass(frozen=True)
class Lien:
    id: str
    asset: str  # UNITS or TOKENS
    holding: str  # the account id (units) or "<wallet>:<chain lot>" (tokens)
    pledgor_id: str
    pledgee_id: str
    pledged_kg: int
    released_kg: int = 0
    enforced_kg: int = 0
    status: str = REQUESTED

    @property
    def remaining_kg(self) -> int:
        return self.pledged_kg - self.released_kg - self.enforced_kg


def _positive(quantity_kg: Any) -> int:
    if isinstance(quantity_kg, bool) or not isinstance(quantity_kg, int) or quantity_kg <= 0:
        raise RegistryError(2003, "quantity_kg must be a positive integer of kg")
    return quantity_kg


def _only(actor_id: str, who: str, role: str, lien: Lien) -> None:
    if actor_id != who:
        raise RegistryError(1002, f"only the {role} of lien {lien.id} may do this")


def _state(lien: Lien, allowed: Iterable[str], action: str) -> None:
    if lien.status not in allowed:
        raise RegistryError(1008, f"lien {lien.id} is {lien.status}: cannot {action}")


def pledged_kg(liens: Iterable[Lien], holding: str) -> int:
    """Σ remaining kg of the live liens on ``holding``."""
    return sum(lien.remaining_kg for lien in liens if lien.holding == holding and lien.status in LIVE)


def free_kg(balance_kg: int, liens: Iterable[Lien], holding: str) -> int:
    return balance_kg - pledged_kg(liens, holding)


def request(lien_id: str, asset: str, holding: str, pledgor_id: str, pledgee_id: str, quantity_kg: int,
            balance_kg: int, liens: Iterable[Lien]) -> Lien:
    """The holder asks for a lien on its own holding; the kg must be free now (they are reserved only on
    acceptance, which checks again)."""
    if asset not in LOCKED_CODE:
        raise RegistryError(2003, f"asset must be {UNITS!r} or {TOKENS!r}")
    if pledgor_id == pledgee_id:
        raise RegistryError(3005, "a holder cannot pledge to itself")
    kg = _positive(quantity_kg)
    free = free_kg(balance_kg, liens, holding)
    if kg > free:
        raise RegistryError(4001, f"{kg} kg requested, {free} kg free ({balance_kg} kg held)")
    return Lien(lien_id, asset, holding, pledgor_id, pledgee_id, kg)


def accept(lien: Lien, actor_id: str, balance_kg: int, liens: Iterable[Lien]) -> Lien:
    _only(actor_id, lien.pledgee_id, "pledgee", lien)
    _state(lien, {REQUESTED}, "accept")
    free = free_kg(balance_kg, [x for x in liens if x.id != lien.id], lien.holding)
    if lien.pledged_kg > free:
        raise RegistryError(4001, f"lien {lien.id}: {lien.pledged_kg} kg, only {free} kg free now")
    return replace(lien, status=ACTIVE)


def withdraw(lien: Lien, actor_id: str) -> Lien:
    _only(actor_id, lien.pledgor_id, "pledgor", lien)
    _state(lien, {REQUESTED}, "withdraw")
    return replace(lien, status=WITHDRAWN)


def release(lien: Lien, actor_id: str, quantity_kg: int | None = None) -> Lien:
    """Partial (``quantity_kg``) or full (None) release, by the pledgee only (the pledgor asking is 1002)."""
    _only(actor_id, lien.pledgee_id, "pledgee", lien)
    _state(lien, LIVE, "release")
    kg = lien.remaining_kg if quantity_kg is None else _positive(quantity_kg)
    if kg > lien.remaining_kg:
        raise RegistryError(4001, f"lien {lien.id} holds {lien.remaining_kg} kg, {kg} kg to release")
    done = replace(lien, released_kg=lien.released_kg + kg)
    return replace(done, status=RELEASED) if done.remaining_kg == 0 else done


def notify_default(lien: Lien, actor_id: str) -> Lien:
    _only(actor_id, lien.pledgee_id, "pledgee", lien)
    _state(lien, {ACTIVE}, "notify a default")
    return replace(lien, status=DEFAULTED)


def enforce(lien: Lien, actor_id: str, quantity_kg: int | None = None) -> Lien:
    """After a notified default the pledgee takes (part of) the lien: the caller moves ``enforced`` kg."""
    _only(actor_id, lien.pledgee_id, "pledgee", lien)
    _state(lien, {DEFAULTED}, "enforce (a default must be notified first)")
    kg = lien.remaining_kg if quantity_kg is None else _positive(quantity_kg)
    if kg > lien.remaining_kg:
        raise RegistryError(4001, f"lien {lien.id} holds {lien.remaining_kg} kg: over-enforcement of {kg} kg")
    done = replace(lien, enforced_kg=lien.enforced_kg + kg)
    return replace(done, status=ENFORCED) if done.remaining_kg == 0 else done


def check_holder_move(asset: str, holding: str, quantity_kg: int, balance_kg: int, liens: Iterable[Lien]) -> None:
    """A holder's own move (transfer, retirement, tokenization, export) uses free kg only: 4003 / 7004."""
    liens = list(liens)
    free = free_kg(balance_kg, liens, holding)
    if quantity_kg > free:
        raise RegistryError(LOCKED_CODE[asset], f"{quantity_kg} kg to move, {free} kg free: "
                                                f"{pledged_kg(liens, holding)} kg pledged move only by release "
                                                "or enforcement")


def forced_move(quantity_kg: int, balance_kg: int, liens: Iterable[Lien], holding: str) -> list[tuple[str, int]]:
    """A forced move (court order, officer) takes the free balance first, then the live liens, newest first.
    Returns the (lien id, kg) taken from liens (the caller reduces them); 4001 beyond the balance."""
    if quantity_kg > balance_kg:
        raise RegistryError(4001, f"{quantity_kg} kg to move, {balance_kg} kg held")
    live = [lien for lien in liens if lien.holding == holding and lien.status in LIVE]
    need = quantity_kg - max(0, balance_kg - sum(lien.remaining_kg for lien in live))
    taken: list[tuple[str, int]] = []
    for lien in reversed(live):
        if need <= 0:
            break
        kg = min(need, lien.remaining_kg)
        taken.append((lien.id, kg))
        need -= kg
    return taken


def check_liens(liens: Iterable[Lien], balances_kg: Mapping[str, int]) -> list[Violation]:
    """Invariant LIEN: Σ live liens <= balance per holding; every lien's kg add up and none is negative."""
    liens = list(liens)
    out: list[Violation] = []
    for lien in liens:
        if min(lien.released_kg, lien.enforced_kg, lien.remaining_kg) < 0 or lien.pledged_kg <= 0:
            out.append(Violation("LIEN", f"lien {lien.id}: pledged {lien.pledged_kg}, released {lien.released_kg}, "
                                         f"enforced {lien.enforced_kg} kg do not add up"))
        if lien.status in FINAL - {WITHDRAWN} and lien.remaining_kg != 0:
            out.append(Violation("LIEN", f"lien {lien.id} is {lien.status} but holds {lien.remaining_kg} kg"))
    for holding in sorted({lien.holding for lien in liens}):
        pledged = pledged_kg(liens, holding)
        held = balances_kg.get(holding, 0)
        if pledged > held:
            out.append(Violation("LIEN", f"holding {holding}: {pledged} kg under live liens, {held} kg held"))
    return out


def lien_from_row(r: Mapping[Any, Any]) -> Lien:
    """A ``liens`` row as a Lien (a party the registry cannot name is its wallet: ``wallet:0x...``)."""
    pledgor = r["pledgor_id"] or f"wallet:{r['holder_address']}"
    pledgee = r["pledgee_id"] or f"wallet:{r['pledgee_address']}"
    return Lien(id=r["id"], asset=r["asset"], holding=r["holding"], pledgor_id=pledgor, pledgee_id=pledgee,
                pledged_kg=int(r["pledged_kg"]), released_kg=int(r["released_kg"]),
                enforced_kg=int(r["enforced_kg"]), status=r["status"])


def check_lien_snapshot(snapshot: LedgerSnapshot) -> list[Violation]:
    """LIEN in the shared checker: ``check_liens`` over every lien and holding balance, and for registry units
    every pledged leaf belongs to a live lien whose remaining kg its pledged leaves carry exactly."""
    liens = [lien_from_row(r) for r in snapshot.extra.get(LIENS_KEY, [])]
    out = check_liens(liens, snapshot.extra.get(LIEN_BALANCES_KEY, {}))
    pledged: dict[str | None, int] = dict(snapshot.extra.get(LIEN_BLOCKS_KEY, {}))
    for lien in liens:
        if lien.asset != UNITS:
            continue
        carried = pledged.pop(lien.id, 0)
        expected = lien.remaining_kg if lien.status in LIVE else 0
        if carried != expected:
            out.append(Violation("LIEN", f"lien {lien.id} ({lien.status}) holds {expected} kg but {carried} kg of "
                                         "pledged units carry its id"))
    for lien_id, kg in sorted(pledged.items(), key=lambda kv: str(kv[0])):
        out.append(Violation("LIEN", f"{kg} kg of pledged units carry lien id {lien_id}, which is no lien"))
    return out
