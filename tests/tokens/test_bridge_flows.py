"""Chain -> NR: transfers between eligible holders, retirement on chain becoming an NR retirement of
exact serials with a certificate, redemption back into the NR, identity sync, and compensation of a
mint the chain rejected. Real EVM (embedded, or external when configured), real stores."""

from __future__ import annotations

import time

import pytest
from token_world import TokenWorld, leaves
from world import error_code

from sovcarbon.chain import ChainRejected, make_op_id
from sovcarbon.domain.serials import format_serial
from sovcarbon.services import invariants, retirements

pytestmark = pytest.mark.chain


def active_lot(tw: TokenWorld, quantity_kg: int) -> dict[str, object]:
    lot = tw.tokenize(quantity_kg)
    tw.settle()
    return tw.lot(str(lot["id"]))


def test_transfer_between_eligible_holders_only(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    token = tw.bridge.token
    lot = active_lot(tw, 5_000_000)
    chain_lot = int(lot["chain_lot_id"])  # type: ignore[call-overload]
    token.transfer(tw.wallets["foundation"], tw.address("company"), chain_lot, 2_000_000)
    # "other" has a wallet but no intermediary serves it: the chain refuses it as a holder
    with pytest.raises(ChainRejected) as refused:
        token.transfer(tw.wallets["foundation"], tw.address("other"), chain_lot, 1)
    assert refused.value.code == 5004
    tw.settle()
    lot = tw.lot(str(lot["id"]))
    assert {h["address"]: h["balance_kg"] for h in lot["token_holders"]} == {
        tw.address("foundation").lower(): 3_000_000, tw.address("company").lower(): 2_000_000}
    # a plain token transfer changes nothing in the NR: the units stay immobilized in custody
    assert lot["immobilized_kg"] == 5_000_000


def test_retirement_on_chain_becomes_an_nr_retirement_within_seconds(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    reg, token = tw.api.reg, tw.bridge.token
    lot = active_lot(tw, 5_000_000)
    chain_lot = int(lot["chain_lot_id"])  # type: ignore[call-overload]
    token.transfer(tw.wallets["foundation"], tw.address("company"), chain_lot, 2_000_000)
    tw.bridge.start()  # the background worker, as `sovcarbon serve` runs it
    started_s = time.monotonic()
    burn = token.retire(tw.wallets["company"], chain_lot, 1_234_567, "Chao Phraya Cement PCL",
                        "domestic_compliance", 2025)
    retirement = None
    while time.monotonic() - started_s < 10:
        with reg.store.read() as uow:
            from sqlalchemy import select

            from sovcarbon.store import tables as t
            row = uow.conn.execute(select(t.retirements.c.id)).first()
            if row is not None:
                retirement = retirements.view(uow, row[0])
                break
        time.sleep(0.02)
    latency_s = time.monotonic() - started_s
    tw.bridge.stop()
    assert retirement is not None, "the NR never recorded the chain retirement"
    assert latency_s < 5.0, latency_s
    prefix = tw.ids["prefix"]
    # exact serials: the lowest of the lot, whoever held which tokens
    assert retirement["serials"] == [format_serial(prefix, 1, 1_234_567)]
    assert retirement["quantity_kg"] == 1_234_567 and retirement["purpose"] == "domestic_compliance"
    assert retirement["beneficiary"] == {"name": "Chao Phraya Cement PCL", "country": "TH"}
    assert retirement["evidence"]["chain_tx"] == burn.tx_hash and retirement["evidence"]["lot_id"] == lot["id"]
    cert = tw.api.ok("GET", f"/v1/certificates/{retirement['certificate_id']}", None)
    assert retirements.verify_certificate(cert, reg.store.public_key_hex)["valid"]
    assert cert["certificate"]["evidence"]["chain_tx"] == burn.tx_hash
    lot = tw.lot(str(lot["id"]))
    assert lot["retired_kg"] == 1_234_567 and lot["immobilized_kg"] == 5_000_000 - 1_234_567
    assert lot["chain"]["retired_kg"] == 1_234_567 and lot["chain"]["total_supply_kg"] == lot["immobilized_kg"]
    # consumed exactly once: another pass over the same blocks applies nothing
    with reg.store.write() as uow:
        from sqlalchemy import update

        from sovcarbon.store import token_tables as tt
        uow.conn.execute(update(tt.token_event_cursor).values(next_block=token.deployment.deploy_block))  # type: ignore[union-attr]
    tw.settle()
    assert tw.lot(str(lot["id"]))["retired_kg"] == 1_234_567
    assert not invariants.check(reg)


def test_redemption_releases_the_lowest_serials_to_the_holder(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    reg, token = tw.api.reg, tw.bridge.token
    lot = active_lot(tw, 2_000_000)
    chain_lot = int(lot["chain_lot_id"])  # type: ignore[call-overload]
    token.transfer(tw.wallets["foundation"], tw.address("company"), chain_lot, 500_000)
    token.retire(tw.wallets["foundation"], chain_lot, 1_000, "Foundation", "voluntary", 2025)
    token.redeem(tw.wallets["company"], chain_lot, 400_000, tw.ids["company_acc"])
    tw.settle()
    held = leaves(reg, account_id=tw.ids["company_acc"], state="held")
    assert [(b["first_kg"], b["last_kg"], b["lot_id"]) for b in held] == [(1_001, 401_000, None)]
    lot = tw.lot(str(lot["id"]))
    assert lot["redeemed_kg"] == 400_000 and lot["retired_kg"] == 1_000
    assert lot["immobilized_kg"] == 2_000_000 - 401_000 == lot["chain"]["total_supply_kg"]
    # the redeemed units are ordinary holdings again: the company can transfer them in the NR
    tw.api.ok("POST", "/v1/transfers", "company", {"from_account_id": tw.ids["company_acc"],
                                                    "to_account_id": tw.ids["other_acc"], "quantity_kg": 400_000})


def test_identity_registry_follows_the_nr(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    api, token = tw.api, tw.bridge.token
    company = tw.address("company")
    assert token.eligibility_code(company) == 0

    def patch(who: str, body: dict[str, object]) -> None:
        resp = api.client.patch(f"/v1/participants/{api.ids[who]}", json=body, headers=api.headers("admin"))
        assert resp.status_code == 200, resp.text

    patch("company", {"status": "suspended"})
    tw.settle()
    assert token.eligibility_code(company) == 5004
    patch("company", {"status": "active"})
    patch("foundation", {"kyc_status": "rejected"})
    tw.settle()
    assert token.eligibility_code(company) == 0
    assert token.eligibility_code(tw.address("foundation")) == 5004
    # the platform's suspension withdraws its licence on chain: its clients cannot move tokens
    patch("platform", {"status": "suspended"})
    tw.settle()
    assert token.eligibility_code(company) == 5005
    patch("platform", {"status": "active"})
    # a holder's new wallet is registered; the old one is struck off
    old = company
    new_wallet = tw.wallets["company"] = __import__("eth_account").Account.create()
    patch("company", {"wallet_address": new_wallet.address})
    tw.settle()
    assert token.eligibility_code(new_wallet.address) == 0 and token.eligibility_code(old) == 5004
    pending = api.get("/v1/bridge/outbox", "regulator", status="pending", limit=500)
    assert pending.status_code == 200 and pending.json()["data"] == []
    confirmed = api.get("/v1/bridge/outbox", "regulator", status="confirmed", limit=500).json()["data"]
    assert {"set_identity", "set_intermediary"} <= {r["kind"] for r in confirmed}
    assert error_code(api.get("/v1/bridge/outbox", "company")) == 1002


def test_a_mint_the_chain_rejects_is_compensated_in_the_nr(tw: TokenWorld) -> None:
    assert tw.bridge is not None
    reg, token = tw.api.reg, tw.bridge.token
    # an agent freezes the holder's address on chain (say, a court order) before the mint is sent
    token.freeze_address(make_op_id("court-order-1"), tw.address("foundation"))
    lot = tw.tokenize(1_000_000)
    tw.settle()
    lot = tw.lot(str(lot["id"]))
    assert lot["status"] == "failed" and lot["failure"].startswith("7002 CHAIN_REJECTED: 4006")
    assert lot["immobilized_kg"] == 0 and lot["chain"]["total_supply_kg"] == 0
    assert [o["status"] for o in lot["outbox"]] == ["confirmed", "failed"]
    # the units are back with the holder, free, untagged: nothing half-done
    held = leaves(reg, account_id=tw.ids["foundation_acc"], state="held")
    assert sum(b["quantity_kg"] for b in held) == 9_000_000 and all(b["lot_id"] is None for b in held)
    journal = tw.api.get("/v1/journal", "admin", after_seq=0, limit=500).json()
    assert "tokenization_compensated" in [e["kind"] for e in journal["data"]]


def test_corsia_burn_on_chain_is_the_first_transfer_with_its_adjustment(tw: TokenWorld) -> None:
    """A token burned for CORSIA follows the same Article 6 rules as an NR retirement: LoA coverage, label,
    authorized entity, and (LoA: first transfer at use) the first transfer + CA in the same NR step."""
    from a6_world import attach, grant

    api = tw.api
    loa_id = grant(api, authorized_entities=[{"name": "Company", "party": "THA", "participant_id": api.ids["company"],
                                                    "identification_number": "0105500000001", "country": "THA"}])
    attach(api, loa_id, 1_000_000)
    covered = format_serial(tw.ids["prefix"], 1, 1_000_000)
    api.ok("POST", "/v1/labels", "admin", {"serials": [covered], "label": "corsia_eligible", "reference": "att-7"})
    lot = active_lot(tw, 1_000_000)
    assert tw.bridge is not None
    token, chain_lot = tw.bridge.token, int(lot["chain_lot_id"])  # type: ignore[call-overload]
    token.transfer(tw.wallets["foundation"], tw.address("company"), chain_lot, 300_000)
    token.retire(tw.wallets["company"], chain_lot, 200_000, "Company", "corsia", 2026)
    tw.settle()
    used = format_serial(tw.ids["prefix"], 1, 200_000)
    status = api.ok("GET", f"/v1/article6/serials/{used}", None)
    assert [(f["serial"], f["event"]) for f in status["first_transfers"]] == [(used, "use")]
    loa = api.ok("GET", f"/v1/authorizations/{loa_id}", None)
    assert loa["first_transferred_kg"] == 200_000
    assert tw.lot(str(lot["id"]))["retired_kg"] == 200_000
    assert not invariants.check(api.reg)  # I6: the CA equals the first-transferred kilograms
