"""Pledged units leave the holder's account by no other path either (issue #12, item 4): an Article 6 export, a
tokenization and a transfer to a peer registry of pledged units are refused with 4003 (by serials, and by a
quantity that fits only by counting the pledged kg), nothing is written, and once the bank releases the lien the
same units move. The shared checker (LIEN among the invariants) runs after each test."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from a6_world import attach, export_body, grant, serial
from token_world import make_token_world
from world import Api, journal_seq, rejected

from sovcarbon.domain.model import Role

PEER = "ID-NR"


@pytest.fixture
def pledged(world: Api) -> Api:
    """A bank; 1,000,000 kg of the foundation's units under an LoA; a lien on all but 1,000 kg of its 9,000,000 kg
    accepted (the lowest serials: the LoA's units are all pledged)."""
    w = world
    bank = w.ok("POST", "/v1/participants", "admin",
                {"name": "Bank", "kind": "bank", "country": "TH", "kyc_status": "verified"})
    w.ids["bank"] = bank["id"]
    w.ok("POST", "/v1/accounts", "admin", {"participant_id": bank["id"], "kind": "holding"})
    w.key("bank", Role.BANK, bank["id"])
    w.ids["loa"] = grant(w)
    attach(w, w.ids["loa"], 1_000_000)
    lien = w.ok("POST", "/v1/liens", "proponent", {"account_id": w.ids["foundation_acc"], "pledgee_id": bank["id"],
                                                   "quantity_kg": 9_000_000 - 1_000})
    lien = w.ok("POST", f"/v1/liens/{lien['id']}/accept", "bank")
    assert lien["pledged_serials"][0]["first_kg"] == 1
    w.ids["lien"] = lien["id"]
    return w


def _release(w: Api, kg: int) -> None:
    w.ok("POST", f"/v1/liens/{w.ids['lien']}/release", "bank", {"quantity_kg": kg})


def test_pledge_then_export(pledged: Api) -> None:
    w = pledged
    loa = w.ids["loa"]
    before = journal_seq(w)
    rejected(w, w.post("/v1/exports", "proponent", export_body(w, loa, serials=[serial(w, 1, 1_000)])), 4003, before)
    # by quantity: the LoA's units are all pledged; 2,000 kg fit only with pledged kg (1,000 kg are free)
    rejected(w, w.post("/v1/exports", "proponent", export_body(w, loa, quantity_kg=2_000)), 4003, before)
    rejected(w, w.post("/v1/exports", "proponent", export_body(w, loa, quantity_kg=9_000_001)), 4001, before)
    _release(w, 1_000)  # lowest serials first: 1..1,000 are held again
    exp = w.ok("POST", "/v1/exports", "proponent", export_body(w, loa, quantity_kg=1_000))
    assert exp["serials"] == [serial(w, 1, 1_000)]


def test_pledge_then_tokenize(pledged: Api) -> None:
    w = pledged
    make_token_world(w, None, onboard=("foundation",))
    acc = w.ids["foundation_acc"]
    before = journal_seq(w)
    rejected(w, w.post("/v1/tokenizations", "proponent", {"holder_account_id": acc,
                                                          "serials": [serial(w, 5_001, 6_000)]}), 4003, before)
    rejected(w, w.post("/v1/tokenizations", "proponent", {"holder_account_id": acc, "quantity_kg": 1_001}),
             4003, before)
    rejected(w, w.post("/v1/tokenizations", "proponent", {"holder_account_id": acc, "quantity_kg": 9_000_001}),
             4001, before)
    lot = w.ok("POST", "/v1/tokenizations", "proponent", {"holder_account_id": acc, "quantity_kg": 1_000})
    assert lot["quantity_kg"] == 1_000  # the free kg still tokenize


def test_pledge_then_peer_transfer(pledged: Api) -> None:
    w = pledged
    w.ok("POST", "/v1/peers", "admin", {"id": PEER, "base_url": "http://127.0.0.1:9", "party_code": "IDN",
                                        "public_key": secrets.token_hex(32)})
    w.ok("POST", f"/v1/peers/{PEER}/approval", "approver")
    body: dict[str, Any] = {"peer_id": PEER, "account_id": w.ids["foundation_acc"], "destination_account_id": "acc_x",
                            "entity": "PT Nusantara Energi", "authorization_id": w.ids["loa"]}
    before = journal_seq(w)
    rejected(w, w.post("/v1/peer-transfers", "proponent", {**body, "serials": [serial(w, 1, 1_000)]}), 4003, before)
    rejected(w, w.post("/v1/peer-transfers", "proponent", {**body, "quantity_kg": 2_000}), 4003, before)
