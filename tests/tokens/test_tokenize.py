"""Tokenize: who may (5004/5005/1002), what may be tokenized (4001/4004), and that the mint mirrors the
immobilized kilograms exactly (real EVM, real store)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from token_world import TokenWorld, leaves, make_token_world
from world import Api, error_code, journal_seq, rejected

from sovcarbon.domain.model import Role
from sovcarbon.store import token_tables as tt

pytestmark = pytest.mark.chain


def outbox_rows(api: Api) -> int:
    with api.reg.store.read() as uow:
        return int(uow.conn.execute(select(func.count()).select_from(tt.token_outbox)).scalar_one())


def test_mint_mirrors_the_immobilized_kg(tw: TokenWorld) -> None:
    reg = tw.api.reg
    lot = tw.tokenize(5_000_000)
    assert lot["status"] == "minting" and lot["quantity_kg"] == 5_000_000 and lot["immobilized_kg"] == 5_000_000
    # the NR change is committed before anything is sent: units already immobilized in custody
    custody = leaves(reg, account_id=tw.ids["custody_acc"], state="immobilized")
    assert sum(b["quantity_kg"] for b in custody) == 5_000_000
    assert all(b["lot_id"] == lot["id"] for b in custody)
    assert custody[0]["first_kg"] == 1, "lowest serials first"
    assert tw.bridge is not None
    assert tw.bridge.token.total_supply(lot["chain_lot_id"]) == 0
    tw.settle()
    lot = tw.lot(lot["id"])
    assert lot["status"] == "active" and lot["mint_block"] is not None
    assert lot["chain"]["total_supply_kg"] == 5_000_000 == lot["immobilized_kg"]
    assert tw.bridge.token.balance_of(tw.address("foundation"), lot["chain_lot_id"]) == 5_000_000
    assert lot["token_holders"] == [{"address": tw.address("foundation").lower(), "balance_kg": 5_000_000}]
    assert [o["status"] for o in lot["outbox"]] == ["confirmed", "confirmed"]
    # the holder's free balance lost exactly what was immobilized
    held = leaves(reg, account_id=tw.ids["foundation_acc"], state="held")
    assert sum(b["quantity_kg"] for b in held) == 9_000_000 - 5_000_000
    # a second tokenization by serials gets its own lot and chain lot id
    serial = f"{tw.ids['prefix']}-000006000001-000006001000"
    lot2 = tw.api.ok("POST", "/v1/tokenizations", "proponent",
                     {"holder_account_id": tw.ids["foundation_acc"], "serials": [serial]})
    tw.settle()
    assert lot2["serials"] == [serial] and lot2["chain_lot_id"] == lot["chain_lot_id"] + 1
    assert tw.bridge.token.total_supply(lot2["chain_lot_id"]) == 1_000


def test_who_may_tokenize(world: Api) -> None:
    """Every refusal names its code and writes nothing: no journal entry, no block, no outbox row."""
    api = world
    make_token_world(api, None, onboard=("foundation",))
    body = {"holder_account_id": api.ids["foundation_acc"], "quantity_kg": 1_000}
    before, rows = journal_seq(api), outbox_rows(api)
    # only the holder's own request tokenizes: not the intermediary, not an officer, not another holder
    for who in ("platform", "admin", "company"):
        rejected(api, api.post("/v1/tokenizations", who, body), 1002, before)
    # the company has a wallet but was not onboarded (not served by this platform)
    rejected(api, api.post("/v1/tokenizations", "company", {**body, "holder_account_id": api.ids["company_acc"]}),
             5004, before)
    rejected(api, api.post("/v1/tokenizations", "company", {**body, "holder_account_id": api.ids["company_acc"],
                                                             "intermediary_id": api.ids["platform"]}), 5004, before)
    # more than the holder's free balance
    rejected(api, api.post("/v1/tokenizations", "proponent", {**body, "quantity_kg": 9_000_001}), 4001, before)
    # retired units are final: never tokenized
    ret = api.ok("POST", "/v1/retirements", "proponent", {
        "account_id": api.ids["foundation_acc"], "quantity_kg": 1_000, "beneficiary": {"name": "F", "country": "TH"},
        "purpose": "voluntary", "claim_year": 2025})
    before = journal_seq(api)
    rejected(api, api.post("/v1/tokenizations", "proponent", {"holder_account_id": api.ids["foundation_acc"],
                                                               "serials": ret["serials"]}), 4004, before)
    # KYC withdrawn -> the holder is no longer eligible
    resp = api.client.patch(f"/v1/participants/{api.ids['foundation']}", json={"kyc_status": "pending"},
                            headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    before, rows = journal_seq(api), outbox_rows(api)
    rejected(api, api.post("/v1/tokenizations", "proponent", body), 5004, before)
    assert outbox_rows(api) == rows


def test_unlicensed_intermediary_and_holders_without_wallets(world: Api) -> None:
    api = world
    make_token_world(api, None, onboard=(), licensed=False)
    before = journal_seq(api)
    # an unlicensed platform can neither serve holders nor receive their tokenizations
    onboarding = {"participant_id": api.ids["foundation"], "intermediary_id": api.ids["platform"]}
    rejected(api, api.post("/v1/token-holders", "proponent", onboarding), 5005, before)
    rejected(api, api.post("/v1/tokenizations", "proponent",
                           {"holder_account_id": api.ids["foundation_acc"], "quantity_kg": 1_000,
                            "intermediary_id": api.ids["platform"]}), 5005, before)
    # onboarding is the holder's own act: neither the platform nor an officer onboards a holder
    for who in ("platform", "admin", "company"):
        rejected(api, api.post("/v1/token-holders", who, onboarding), 1002, before)
    # a licence granted later makes it an eligible platform (and the chain's identity registry follows)
    resp = api.client.patch(f"/v1/participants/{api.ids['platform']}",
                            json={"license": {"kind": "platform", "number": "SEC-1"}}, headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    api.ok("POST", "/v1/token-holders", "proponent", onboarding)
    # a holder with no wallet address cannot be onboarded: tokens would have nowhere to go
    nowallet = api.ok("POST", "/v1/participants", "admin", {"name": "No wallet", "kind": "company", "country": "TH",
                                                            "kyc_status": "verified"})["id"]
    api.key("nowallet", Role.HOLDER, nowallet)
    before = journal_seq(api)
    resp = api.post("/v1/token-holders", "nowallet", {"participant_id": nowallet,
                                                      "intermediary_id": api.ids["platform"]})
    assert error_code(resp) == 5004 and journal_seq(api) == before
    with api.reg.store.read() as uow:
        kinds = list(uow.conn.execute(select(tt.token_outbox.c.kind).order_by(tt.token_outbox.c.seq)).scalars())
    assert kinds[-2:] == ["set_intermediary", "set_identity"], kinds
