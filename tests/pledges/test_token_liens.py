"""Tokens pledged on chain (CarbonToken pledge / release_pledge / enforce_pledge): the chain enforces 7004, the
bridge's consumer applies Pledged / Released / Enforced once each into ``liens`` rows with asset ``tokens`` and
the chain evidence; a pledge to a wallet that is no bank participant is recorded with a flag. The bridge fixture
runs the shared checker (LIEN included) with the chain attached at the end of every test."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import select
from token_world import TokenWorld, give_wallet, make_token_world
from world import Api, error_code, journal_seq, rejected

from sovcarbon.bridge import Bridge
from sovcarbon.chain import ChainRejected
from sovcarbon.domain.model import Role
from sovcarbon.store import token_tables as tt

pytestmark = pytest.mark.chain


@pytest.fixture
def tw(world: Api, bridge: Bridge) -> TokenWorld:
    tw = make_token_world(world, bridge)
    bank = world.ok("POST", "/v1/participants", "admin",
                    {"name": "Bangkok Bank", "kind": "bank", "country": "TH", "kyc_status": "verified"})
    world.ids["bank"] = bank["id"]
    world.key("bank", Role.BANK, bank["id"])
    tw.wallets["bank"] = give_wallet(world, "bank")
    # the bank's identity on chain (served by the platform): enforcement moves the tokens to it
    world.ok("POST", "/v1/token-holders", "bank", {"participant_id": bank["id"],
                                                   "intermediary_id": world.ids["platform"]})
    tw.settle()
    return tw


def _lot(tw: TokenWorld, kg: int) -> int:
    lot = tw.tokenize(kg)
    tw.settle()
    return int(tw.lot(str(lot["id"]))["chain_lot_id"])


def _token_liens(tw: TokenWorld, who: str = "admin") -> list[dict[str, Any]]:
    return [x for x in tw.api.ok("GET", "/v1/liens", who)["data"] if x["asset"] == "tokens"]


def test_pledge_release_default_enforce_on_chain_mirrored_once(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token, api = tw.bridge.token, tw.api
    chain_lot = _lot(tw, 1_000_000)
    holder, bank = tw.wallets["foundation"], tw.wallets["bank"]
    token.pledge(holder, chain_lot, 300_000, bank.address)
    tw.settle()
    [lien] = _token_liens(tw, "bank")
    assert (lien["status"], lien["remaining_kg"], lien["pledgee_id"], lien["pledgor_id"], lien["flag"]) == (
        "active", 300_000, api.ids["bank"], api.ids["foundation"], None)
    assert lien["holding"] == f"{holder.address.lower()}:{chain_lot}" and lien["evidence"]["tx_hash"]
    assert api.ok("GET", "/v1/supply", None)["pledged_tokens_kg"] == 300_000
    # the chain refuses a transfer into pledged tokens: 7004
    with pytest.raises(ChainRejected) as refused:
        token.transfer(holder, tw.address("company"), chain_lot, 700_001)
    assert refused.value.code == 7004
    # the pledgee releases part on chain
    token.release_pledge(bank, holder.address, chain_lot, 100_000)
    tw.settle()
    lien = api.ok("GET", f"/v1/liens/{lien['id']}", "proponent")
    assert (lien["status"], lien["released_kg"], lien["remaining_kg"]) == ("active", 100_000, 200_000)
    # release and enforcement of tokens happen on chain, not here; a default notice is the registry's record
    before = journal_seq(api)
    rejected(api, api.post(f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 1}), 1008, before)
    rejected(api, api.post(f"/v1/liens/{lien['id']}/default", "proponent"), 1002, before)
    assert api.ok("POST", f"/v1/liens/{lien['id']}/default", "bank")["status"] == "defaulted"
    token.enforce_pledge(bank, holder.address, chain_lot, 200_000)
    tw.settle()
    lien = api.ok("GET", f"/v1/liens/{lien['id']}", "bank")
    assert (lien["status"], lien["enforced_kg"], lien["remaining_kg"]) == ("enforced", 200_000, 0)
    assert [h["step"] for h in lien["history"]] == ["pledged_on_chain", "Released", "default_notified", "Enforced"]
    with tw.api.reg.store.read() as uow:
        c = tt.token_balances.c
        balances = dict(uow.conn.execute(select(c.address, c.balance_kg).where(c.chain_lot_id == chain_lot)).all())
        names = [r[0] for r in uow.conn.execute(select(tt.token_events.c.name)
                                               .where(tt.token_events.c.chain_lot_id == chain_lot))]
    assert balances[bank.address.lower()] == 200_000 and balances[holder.address.lower()] == 800_000
    assert sorted(n for n in names if n in ("Pledged", "Released", "Enforced")) == ["Enforced", "Pledged", "Released"]
    # consuming again applies nothing twice
    tw.settle()
    assert api.ok("GET", f"/v1/liens/{lien['id']}", "bank")["enforced_kg"] == 200_000
    assert token.pledged_total(holder.address, chain_lot) == 0


def test_a_pledge_to_a_wallet_of_no_bank_is_recorded_and_flagged(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    chain_lot = _lot(tw, 500_000)
    token.pledge(tw.wallets["foundation"], chain_lot, 10_000, tw.address("company"))  # a company, not a bank
    token.pledge(tw.wallets["foundation"], chain_lot, 20_000, Account.create().address)  # nobody's wallet
    tw.settle()
    liens = sorted(_token_liens(tw), key=lambda x: x["pledged_kg"])
    assert [x["pledged_kg"] for x in liens] == [10_000, 20_000]
    assert "not an active, KYC-verified bank" in liens[0]["flag"] and liens[0]["pledgee_id"] == tw.ids["company"]
    assert "no participant" in liens[1]["flag"] and liens[1]["pledgee_id"] is None
    # the company's key sees the lien it was named pledgee of; a third party does not
    assert error_code(tw.api.get(f"/v1/liens/{liens[1]['id']}", "company")) == 1005


def test_enforcement_through_a_sale_on_chain_is_mirrored(tw: TokenWorld) -> None:
    """``deliver_pledge``: the pledgee hands pledged tokens to a buyer; the registry records it as enforced kg
    with the receiver, the buyer's balance mirrors the transfer, the rest of the lien stays live."""
    assert tw.bridge is not None
    token = tw.bridge.token
    chain_lot = _lot(tw, 400_000)
    holder, bank = tw.wallets["foundation"], tw.wallets["bank"]
    token.pledge(holder, chain_lot, 100_000, bank.address)
    token.wait_receipt(token.submit("deliver_pledge", [holder.address, chain_lot, 60_000, tw.address("company")],
                                    bank))
    tw.settle()
    [lien] = _token_liens(tw, "bank")
    assert (lien["status"], lien["enforced_kg"], lien["remaining_kg"]) == ("defaulted", 60_000, 40_000)
    step = lien["history"][-1]
    assert step["step"] == "PledgeDelivered" and step["receiver"] == tw.address("company").lower()
    assert tw.api.ok("GET", "/v1/supply", None)["pledged_tokens_kg"] == 40_000
