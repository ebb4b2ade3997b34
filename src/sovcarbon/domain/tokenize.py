"""Tokenization: credits immobilized in the NR mirrored 1:1 as tokens (1 token = 1 kgCO2e), and back.

Who may tokenize, onboard and hold (checked in this order, the first that fails decides the code;
for a tokenization ``check_tokenize`` checks the rows from "an intermediary acts" on, over facts that
``services.tokenization.load_facts`` read, which checked the consent of the first row):

| rule | code |
|---|---|
| only the holder's own key (a holding role on its own account), or the intermediary presenting the holder's consent for that account within its max kg (``services.token_consents``), requests tokenization or onboarding; officers never | 1002 FORBIDDEN |
| an intermediary acts: the one named, or the one the holder is onboarded with | 5004 HOLDER_NOT_ELIGIBLE |
| the named intermediary is an intermediary | 1002 FORBIDDEN |
| the intermediary holds a licence (exchange, broker, dealer or platform) and is not suspended | 5005 INTERMEDIARY_NOT_LICENSED |
| the intermediary has an on-chain (wallet) address | 5005 |
| the holder is KYC-verified and not suspended | 5004 HOLDER_NOT_ELIGIBLE |
| the holder has a wallet address (tokens are minted to it) | 5004 |
| the holder is served by (onboarded with) the intermediary that acts | 5004 |
| the holder's account is active | 3004 ACCOUNT_NOT_ACTIVE |
| the custody account is named when the intermediary has several (or none); it exists | 1003 / 1005 |
| the custody account is a custody account of the acting intermediary | 1003 |
| the custody account is active | 3004 ACCOUNT_NOT_ACTIVE |
| the units are free in the holder's account (see ``holdings``) | 4001-4006 |

What the registry does:

| step | effect |
|---|---|
| immobilize | the picked units are carved into the intermediary's CUSTODY account, state IMMOBILIZED, tagged with a new lot id; a lot row and the outbox rows (open lot, mint) commit in the same transaction |
| mint confirmed | the lot becomes active; chain total supply = kg immobilized for the lot |
| mint rejected by the chain | the immobilization is compensated: the units go back to the holder (HELD), the lot is failed with 7002 CHAIN_REJECTED, never half-done |
| retirement on chain (burn) | the NR retires exact serials of the lot, lowest first, with the chain tx and log index as evidence |
| redemption on chain (burn) | the NR releases the lowest serials of the lot, HELD, into the holder's NR account named in the burn |
| reconciliation mismatch | the lot is frozen in the NR and on chain and 7001 SUPPLY_MISMATCH is reported; nothing is corrected |

Invariant I4 (``check_mirror``): per lot, NR immobilized + retired + redeemed = kg tokenized; NR retired
kg = the lot's retired counter; and, when the chain is read, chain total supply = NR immobilized kg,
chain retired = NR retired kg, chain redeemed = NR redeemed kg.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sovcarbon.domain.access import require_controls
from sovcarbon.domain.accounts import require_active
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Movement, Pick, SelectionFacts, carve, check_selection, pick_by_quantity
from sovcarbon.domain.invariants import LedgerSnapshot, Violation
from sovcarbon.domain.model import (
    Account,
    AccountKind,
    AccountStatus,
    Actor,
    Block,
    BlockState,
    KycStatus,
    Participant,
    ParticipantKind,
    ParticipantStatus,
)


class LotStatus:
    MINTING = "minting"
    ACTIVE = "active"
    FAILED = "failed"


LOT_FACTS_KEY = "token_lots"  # LedgerSnapshot.extra key the store loader fills


def check_intermediary(intermediary: Participant, wallet_address: str | None) -> None:
    if intermediary.kind != ParticipantKind.INTERMEDIARY:
        raise RegistryError(1002, "only an intermediary operates tokenization", participant_id=intermediary.id)
    if not intermediary.license_number or intermediary.status != ParticipantStatus.ACTIVE:
        raise RegistryError(5005, f"intermediary {intermediary.id} holds no valid licence",
                            participant_id=intermediary.id, status=str(intermediary.status))
    if not wallet_address:
        raise RegistryError(5005, f"intermediary {intermediary.id} has no on-chain address",
                            participant_id=intermediary.id)


def holder_eligible(holder: Participant) -> bool:
    """The KYC half of eligibility, as the chain's identity registry mirrors it."""
    return holder.kyc_status == KycStatus.VERIFIED and holder.status == ParticipantStatus.ACTIVE


def intermediary_licensed(intermediary: Participant) -> bool:
    return bool(intermediary.license_number) and intermediary.status == ParticipantStatus.ACTIVE


def check_holder(holder: Participant, wallet_address: str | None, served_by: str | None,
                 intermediary_id: str | None) -> None:
    """``served_by`` is the intermediary that onboarded the holder (None: not onboarded)."""
    if not holder_eligible(holder):
        raise RegistryError(5004, f"holder {holder.id} is not KYC-verified and active",
                            participant_id=holder.id, kyc_status=str(holder.kyc_status), status=str(holder.status))
    if not wallet_address:
        raise RegistryError(5004, f"holder {holder.id} has no wallet address", participant_id=holder.id)
    if intermediary_id is not None and served_by != intermediary_id:
        raise RegistryError(5004, f"holder {holder.id} is not served by intermediary {intermediary_id}",
                            participant_id=holder.id, served_by=served_by)


def check_custody(custody: Account, intermediary_id: str) -> None:
    if custody.kind != AccountKind.CUSTODY or custody.participant_id != intermediary_id:
        raise RegistryError(1003, f"account {custody.id} is not a custody account of the intermediary",
                            account_id=custody.id)
    if custody.status != AccountStatus.ACTIVE:
        raise RegistryError(3004, f"custody account {custody.id} is {custody.status}", account_id=custody.id)


@dataclass(frozen=True)
class TokenizeFacts:
    """What a tokenization is checked against (``services.tokenization.load_facts``): read before any rule
    below the access row runs; the access row (the holder's key, or a consent) was checked while reading."""

    actor: Actor
    holder_account: Account
    holder: Participant
    by_consent: bool  # an intermediary acts under the holder's consent (checked by the loader)
    intermediary: Participant | None  # the one named, or the one serving the holder; None: not onboarded
    intermediary_wallet: str | None
    holder_wallet: str | None
    served_by: str | None  # the intermediary the holder is onboarded with
    custody_account_id: str | None  # the one named, or the intermediary's only custody account
    custody: Account | None  # None: not named and not exactly one, or not found
    custody_accounts: int  # how many custody accounts the intermediary has (read when none is named)
    units: SelectionFacts


@dataclass(frozen=True)
class TokenizePlan:
    holder: Participant
    holder_account: Account
    intermediary: Participant
    holder_wallet: str
    custody: Account
    picks: tuple[Pick, ...]


def check_tokenize(facts: TokenizeFacts) -> TokenizePlan:
    """The rules of the table above, in its order (from the access row's own-key half on)."""
    holder, account = facts.holder, facts.holder_account
    if not facts.by_consent:
        require_controls(facts.actor, account, "tokenize")
    intermediary = facts.intermediary
    if intermediary is None:
        raise RegistryError(5004, f"holder {holder.id} is not onboarded with an intermediary", participant_id=holder.id)
    check_intermediary(intermediary, facts.intermediary_wallet)
    check_holder(holder, facts.holder_wallet, facts.served_by, intermediary.id)
    assert facts.holder_wallet is not None
    require_active(account, "holder")
    custody = facts.custody
    if custody is None:
        if facts.custody_account_id is not None:
            raise RegistryError(1005, f"account {facts.custody_account_id} not found", id=facts.custody_account_id)
        raise RegistryError(1003, "name custody_account_id: the intermediary has "
                                  f"{facts.custody_accounts} custody accounts", intermediary_id=intermediary.id)
    check_custody(custody, intermediary.id)
    return TokenizePlan(holder, account, intermediary, facts.holder_wallet, custody,
                        tuple(check_selection(facts.units)))


def plan_immobilization(picks: list[Pick], txn_id: str, new_id: Callable[[], str], custody_account_id: str,
                        lot_id: str) -> Movement:
    movement = carve(picks, txn_id, new_id, state=BlockState.IMMOBILIZED, account_id=custody_account_id,
                     lot_id=lot_id)
    assert all(b.state == BlockState.IMMOBILIZED and b.lot_id == lot_id for b in movement.moved)
    return movement


def pick_from_lot(leaves: Iterable[Block], quantity_kg: int, lot_id: str) -> list[Pick]:
    """Exact serials of a lot for a burn of ``quantity_kg``: the lowest serials first."""
    if quantity_kg <= 0:
        raise RegistryError(2003, "a burn must be a positive number of kg", quantity_kg=quantity_kg)
    picks = pick_by_quantity(leaves, quantity_kg)
    got_kg = sum(p.quantity_kg for p in picks)
    if got_kg < quantity_kg:
        raise RegistryError(4001, f"lot {lot_id} has {got_kg} kg immobilized, the chain burned {quantity_kg} kg",
                            lot_id=lot_id, requested_kg=quantity_kg, available_kg=got_kg)
    return picks


def plan_release(picks: list[Pick], txn_id: str, new_id: Callable[[], str], holder_account_id: str) -> Movement:
    """Redemption (or the compensation of a failed mint): units back to a holder, free and untagged."""
    return carve(picks, txn_id, new_id, state=BlockState.HELD, account_id=holder_account_id, lot_id=None)


# ----------------------------------------------------------------------------------------- I4
@dataclass(frozen=True)
class ChainLotFigures:
    total_supply_kg: int
    retired_kg: int
    redeemed_kg: int
    frozen: bool = False
    pending_retired_kg: int = 0  # locked by retire requests the chain has not settled
    pending_redeemed_kg: int = 0  # locked by redeem requests the chain has not settled


@dataclass(frozen=True)
class LotFacts:
    """One lot as the NR records it, plus the chain's figures when a chain was read."""

    lot_id: str
    chain_lot_id: int
    status: str
    quantity_kg: int  # kg immobilized at tokenization
    immobilized_kg: int  # NR leaves of the lot still immobilized
    retired_kg: int  # NR leaves of the lot retired
    retired_counter_kg: int  # the lot row's retired counter (one per applied burn)
    redeemed_kg: int  # the lot row's redeemed counter
    chain: ChainLotFigures | None = None
    in_flight: bool = False  # a mint not yet confirmed at the block the chain was read at
    # burn requests the NR has decided but whose settlement on chain it has not yet consumed
    accepted_retire_kg: int = 0  # applied in the NR (retired), still locked on chain
    accepted_redeem_kg: int = 0  # applied in the NR (released), still locked on chain
    refused_kg: int = 0  # refused by the NR (units still immobilized), still locked on chain


def lot_mismatches(f: LotFacts) -> list[str]:
    """Every way the NR and (when read) the chain disagree about a lot; empty when they agree."""
    out: list[str] = []
    if f.retired_kg != f.retired_counter_kg:
        out.append(f"NR retired leaves {f.retired_kg} kg, lot counter {f.retired_counter_kg} kg")
    if f.status == LotStatus.FAILED:
        if f.immobilized_kg or f.retired_kg or f.redeemed_kg:
            out.append(f"failed lot still holds {f.immobilized_kg} kg immobilized, {f.retired_kg} kg retired")
    elif f.immobilized_kg + f.retired_kg + f.redeemed_kg != f.quantity_kg:
        out.append(f"NR immobilized {f.immobilized_kg} + retired {f.retired_kg} + redeemed {f.redeemed_kg} kg "
                   f"!= tokenized {f.quantity_kg} kg")
    if f.chain is None or f.in_flight:
        return out
    # Two-step burns: a request locks tokens on chain; the NR applies or refuses it, then the chain settles.
    # Until the settlement is consumed, refused kg are immobilized in the NR but locked on chain, and
    # accepted kg are retired/redeemed in the NR but locked on chain.
    nr_supply_kg = 0 if f.status == LotStatus.FAILED else f.immobilized_kg
    chain_supply_kg = f.chain.total_supply_kg + f.refused_kg
    if chain_supply_kg != nr_supply_kg:
        out.append(f"chain supply {f.chain.total_supply_kg} kg (+ {f.refused_kg} kg refused, locked) "
                   f"!= NR immobilized {nr_supply_kg} kg")
    if f.chain.retired_kg + f.accepted_retire_kg != f.retired_kg:
        out.append(f"chain retired {f.chain.retired_kg} kg (+ {f.accepted_retire_kg} kg accepted, locked) "
                   f"!= NR retired {f.retired_kg} kg")
    if f.chain.redeemed_kg + f.accepted_redeem_kg != f.redeemed_kg:
        out.append(f"chain redeemed {f.chain.redeemed_kg} kg (+ {f.accepted_redeem_kg} kg accepted, locked) "
                   f"!= NR redeemed {f.redeemed_kg} kg")
    chain_pending_kg = f.chain.pending_retired_kg + f.chain.pending_redeemed_kg
    nr_pending_kg = f.accepted_retire_kg + f.accepted_redeem_kg + f.refused_kg
    if chain_pending_kg != nr_pending_kg:
        out.append(f"chain holds {chain_pending_kg} kg in burn requests, the NR knows of {nr_pending_kg} kg")
    return out


def check_mirror(snapshot: LedgerSnapshot) -> list[Violation]:
    facts: list[LotFacts] = snapshot.extra.get(LOT_FACTS_KEY, [])
    return [Violation("I4", f"lot {f.lot_id} (chain lot {f.chain_lot_id}): {m}")
            for f in facts for m in lot_mismatches(f)]

