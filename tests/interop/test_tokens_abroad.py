"""Tokens abroad (cross-border issue item 4), end to end: Thailand's registry (in this process, SQLite or
PostgreSQL, with its bridge on the embedded EVM) and Indonesia's (a real `sovcarbon serve` process, PostgreSQL
when SOVCARBON_TEST_DATABASE_URL is set). An Indonesian company that passed KYC holds Thai tokens through the
licensed platform and retires them on chain for OIMP; the Thai bridge records the retirement (with the first
transfer at use the LoA names) and, the units being authorized for Indonesia, the same NR transaction stores a
signed notice to Indonesia's registry; the peer worker's round sends it after the commit. Indonesia down: the
notice waits and is sent when it is back, by the origin restarted meanwhile; sent twice: the same answer, one
record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from a6_world import attach, grant
from eth_account import Account
from peer_world import IDN_CONFIG, PG_URL, Node, _clean_env, _pg_database, free_port
from token_world import ChainBackend, TokenWorld, make_token_world, open_bridge
from world import TEST_NOW, Api

from sovcarbon.domain.ids import FixedClock
from sovcarbon.domain.model import Role
from sovcarbon.domain.serials import format_serial
from sovcarbon.peers import client
from sovcarbon.services import interop, invariants
from sovcarbon.services.registry import Registry

COMPANY = "PT Nusantara Energi"


@pytest.fixture(scope="module")
def contracts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contracts-abroad")


@pytest.fixture
def tw(world: Api, contracts_dir: Path) -> Iterator[TokenWorld]:
    bridge = open_bridge(world.reg, ChainBackend("embedded", None, None), contracts_dir)
    try:
        yield make_token_world(world, bridge, onboard=("foundation",))
        bridge.run_until_idle()
        assert not invariants.check(world.reg)
    finally:
        bridge.close()


@pytest.fixture
def idn(tmp_path: Path) -> Iterator[Node]:
    env = _clean_env() | {"SOVCARBON_DATA_DIR": str(tmp_path / "idn"), "SOVCARBON_CONFIG": str(IDN_CONFIG),
                          "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1", "SOVCARBON_CHECKPOINT_INTERVAL_S": "3600"}
    drop = None
    if PG_URL:
        env["SOVCARBON_DATABASE_URL"], drop = _pg_database()
    node = Node("ID", env, free_port(), demo=False, log_path=tmp_path / "id.log")
    try:
        node.start()
        for who, role in (("admin", "registry_admin"), ("approver", "registry_approver"), ("regulator", "regulator")):
            out = node.cli("admin", "create-key", "--role", role, "--name", f"idn {who}")
            assert out.returncode == 0, out.stderr
            node.keys[who] = out.stdout.strip()
        yield node
    finally:
        node.stop()
        if drop is not None:
            drop()


def link(th: Api, idn: Node) -> None:
    """Each registry registers the other (four-eyes), with its country: Thailand notifies Indonesia's registry
    of uses by Indonesian companies."""
    ident = idn.ok("GET", "/v1/peer/identity", None)
    th.ok("POST", "/v1/peers", "admin", {"id": ident["registry_id"], "base_url": idn.base, "country": ident["country"],
                                         "public_key": ident["public_key"], "party_code": ident["party_code"]})
    th.ok("POST", f"/v1/peers/{ident['registry_id']}/approval", "approver")
    mine = th.ok("GET", "/v1/peer/identity", None)
    idn.ok("POST", "/v1/peers", "admin", {"id": mine["registry_id"], "base_url": "http://127.0.0.1:9",
                                          "public_key": mine["public_key"], "party_code": mine["party_code"],
                                          "country": mine["country"]})
    idn.ok("POST", f"/v1/peers/{mine['registry_id']}/approval", "approver")


def foreign_company(tw: TokenWorld) -> str:
    """An Indonesian company at the Thai registry: KYC verified, a wallet, served by the licensed platform (its
    own act)."""
    api = tw.api
    pid: str = api.ok("POST", "/v1/participants", "admin", {"name": COMPANY, "kind": "company", "country": "ID",
                                                           "kyc_status": "verified"})["id"]
    tw.wallets["nusantara"] = Account.create()
    resp = api.client.patch(f"/v1/participants/{pid}", json={"wallet_address": tw.wallets["nusantara"].address},
                            headers=api.headers("admin"))
    assert resp.status_code == 200, resp.text
    api.key("nusantara", Role.HOLDER, pid)
    api.ok("POST", "/v1/token-holders", "nusantara", {"participant_id": pid, "intermediary_id": api.ids["platform"]})
    tw.settle()
    return pid


def sync_notices(th: Api) -> dict[str, str]:
    """One round of the peer worker (``serve`` runs it every second)."""
    driven: dict[str, str] = interop.sync(th.reg)["driven"]
    return driven


def notice_messages(th: Api, retirement_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = th.ok("GET", f"/v1/peer/messages/{retirement_id}", "regulator")["data"]
    return data


def test_a_foreign_company_retires_tokens_on_chain_and_its_registry_is_told_once(tw: TokenWorld, idn: Node) -> None:
    api = tw.api
    link(api, idn)
    pid = foreign_company(tw)
    loa_id = grant(api, reference="TGO-LOA-ABROAD-1", purposes=["oimp"], oimp=["other purposes"],
                   first_transfer_event="use_or_cancellation", authorized_parties=["IDN"],
                   authorized_entities=[{"name": COMPANY, "party": "IDN", "participant_id": pid,
                                         "identification_number": "AHU-0012345", "country": "IDN"}])
    attach(api, loa_id, 1_000_000)
    lot = tw.tokenize(1_000_000)
    tw.settle()
    lot = tw.lot(lot["id"])
    assert tw.bridge is not None
    token, chain_lot = tw.bridge.token, int(lot["chain_lot_id"])
    token.transfer(tw.wallets["foundation"], tw.address("nusantara"), chain_lot, 300_000)

    # Indonesia's registry is down when the retirement is recorded: the notice is stored with it and waits.
    idn.stop()
    burn = token.retire(tw.wallets["nusantara"], chain_lot, 200_000, COMPANY, "oimp", 2026)
    tw.settle()
    [ret] = [r for r in tw.lot(lot["id"])["retirements"] if r["chain_tx"] == burn.tx_hash]
    used = format_serial(tw.ids["prefix"], 1, 200_000)
    assert ret["serials"] == [used]
    # The origin's Article 6: the first transfer happens at this use (the LoA's event), with its CA.
    status = api.ok("GET", f"/v1/article6/serials/{used}", None)
    assert [(f["serial"], f["event"]) for f in status["first_transfers"]] == [(used, "use")]
    [stored] = notice_messages(api, ret["id"])
    assert (stored["msg_type"], stored["direction"], stored["seq"]) == ("retirement_notice", "out", 1)
    assert "notice pending" in sync_notices(api)[ret["id"]]

    # Back up, and the origin restarted meanwhile (a new registry object on the same store: the notice lives in
    # the ledger, not in memory): the next round delivers it; Indonesia records its company's use once.
    idn.start()
    restarted = Registry(api.reg.settings, clock=FixedClock(TEST_NOW))
    try:
        assert interop.sync(restarted)["driven"][ret["id"]] == "notice acknowledged"
    finally:
        restarted.store.dispose()
    assert ret["id"] not in sync_notices(api)  # nothing pending any more
    [use] = idn.ok("GET", "/v1/peer/entity-uses", "regulator")["data"]
    assert (use["id"], use["peer_id"], use["quantity_kg"], use["purpose"], use["entity_name"]) == (
        ret["id"], "TH-NR", 200_000, "oimp", COMPANY)
    [block] = use["blocks"]
    assert block["serials"] == [used] and block["vintages"] == {tw.ids["prefix"]: 2025}
    assert block["itmo"]["party"] == "THA" and block["itmo"]["registry_id"] == "THA01"
    assert block["itmo"]["authorization_id"] == "TGO-LOA-ABROAD-1"

    # The same notice again (a lost answer, a duplicate): the same stored answer, byte for byte; one record.
    acked = {m["msg_type"]: m for m in notice_messages(api, ret["id"])}
    assert set(acked) == {"retirement_notice", "notice_ack"}
    again = client.send(idn.base, acked["retirement_notice"]["jws"])
    assert again == acked["notice_ack"]["jws"]
    assert len(idn.ok("GET", "/v1/peer/entity-uses", "regulator")["data"]) == 1
    journal = idn.ok("GET", "/v1/journal", "regulator", after_seq=0, limit=500)["data"]
    assert [e["kind"] for e in journal].count("peer_entity_use") == 1
    # Indonesia's AEF: the ITMOs never entered its registry and the use is Thailand's Table 3 action (reported
    # once, AEF.md): no Table 3 row (no Acquisition without a transfer), the use by its entity in Annex A.
    year = int(use["created_at"][:4])
    rep = idn.ok("GET", f"/v1/reports/aef/{year}", "regulator")
    assert rep["tables"]["Table 3 Actions"] == []
    [annex] = [a for a in rep["annex"]["actions"] if a["registry_action"] == "entity_use_abroad"]
    assert (annex["serial"], annex["quantity_kg"], annex["table_3_row"]) == (used, 200_000, None)
    assert annex["authorization"] == "TGO-LOA-ABROAD-1" and "reported_by: THA" in annex["note"]
    idn.check()


def test_no_notice_for_units_not_authorized_for_the_company_party_or_for_a_domestic_user(
        tw: TokenWorld, idn: Node) -> None:
    api = tw.api
    link(api, idn)
    pid = foreign_company(tw)
    # An LoA for Japan only covers the units; the Indonesian company may use them (the LoA names no entity) but
    # they are not authorized for Indonesia: nothing is notified.
    loa_id = grant(api, reference="TGO-LOA-JPN-1", purposes=["oimp"], oimp=["other purposes"],
                   first_transfer_event="use_or_cancellation", authorized_parties=["JPN"], authorized_entities=[])
    attach(api, loa_id, 1_000_000)
    lot = tw.tokenize(1_000_000)
    tw.settle()
    lot = tw.lot(lot["id"])
    assert tw.bridge is not None
    token, chain_lot = tw.bridge.token, int(lot["chain_lot_id"])
    token.transfer(tw.wallets["foundation"], tw.address("nusantara"), chain_lot, 100_000)
    token.retire(tw.wallets["nusantara"], chain_lot, 100_000, COMPANY, "oimp", 2026)
    token.retire(tw.wallets["foundation"], chain_lot, 100_000, "Foundation", "oimp", 2026)
    tw.settle()
    rets = tw.lot(lot["id"])["retirements"]
    assert len(rets) == 2 and all(notice_messages(api, r["id"]) == [] for r in rets)
    assert sync_notices(api) == {}
    assert idn.ok("GET", "/v1/peer/entity-uses", "regulator")["data"] == []
    assert pid and json.dumps(rets)  # the company's retirement is recorded as any other
