"""The demo story of PRODUCT.md §3, driven through the public HTTP API like any other client.

Steps now: 1 (a Premium T-VER forest project submitted, validated, registered), 3 (issuance with a
buffer share, four-eyes), 4 (the foundation tokenizes 5,000 t through a licensed platform), 5 (the
company buys 2,000,000 tokens for tokenized THB in one DvP settlement), 6 (the foundation pledges 500,000 kg
of registry units to a bank, which releases 200,000 kg), 7 (the company retires
1,234,567 kg of them on chain and the NR records it within seconds), a
company buying credits in the NR and retiring a little there, and the Article 6 steps. Later
capabilities extend ``STEPS``. The demo keeps its holders' chain keys in the data dir (a real holder
keeps them in a wallet).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sovcarbon.domain.model import Role
from sovcarbon.services import auth
from sovcarbon.services.registry import Registry

DEMO_MARKER = "demo_loaded"


class DemoError(RuntimeError):
    pass


@dataclass
class DemoContext:
    client: httpx.Client
    keys: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    log: Callable[[str], None] = print
    wallets: dict[str, str] = field(default_factory=dict)  # holder -> private key (demo only)
    bridge: Any = None  # the registry's Bridge when this process has the chain (steps 4 and 7)

    def call(self, method: str, path: str, who: str, body: dict[str, Any] | None = None,
             expect: int | tuple[int, ...] = (200, 201)) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        if method == "POST":
            headers["Idempotency-Key"] = f"demo:{path}:{json.dumps(body, sort_keys=True)}"[:200]
        resp = self.client.request(method, path, json=body, headers=headers)
        wanted = (expect,) if isinstance(expect, int) else expect
        if resp.status_code not in wanted:
            raise DemoError(f"{method} {path} as {who} -> {resp.status_code}: {resp.text}")
        result: dict[str, Any] = resp.json()
        return result


def wait_until_up(base_url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DemoError(f"registry at {base_url} did not answer within {timeout_s} s")


def _step_parties(ctx: DemoContext) -> None:
    def participant(name: str, kind: str, country: str = "TH", **extra: Any) -> str:
        pid: str = ctx.call("POST", "/v1/participants", "admin",
                            {"name": name, "kind": kind, "country": country, "kyc_status": "verified", **extra})["id"]
        return pid

    wallet = {who: _address(key) for who, key in ctx.wallets.items()}
    ctx.ids["foundation"] = participant("Mae Fah Luang Foundation (demo)", "company",
                                        wallet_address=wallet["foundation"])
    ctx.ids["vvb"] = participant("Siam Verification Body (demo)", "vvb")
    ctx.ids["company"] = participant("Chao Phraya Cement PCL (demo)", "company", wallet_address=wallet["company"])
    ctx.ids["platform"] = participant("Siam Carbon Token Platform (demo)", "intermediary",
                                      wallet_address=wallet["platform"],
                                      license={"kind": "platform", "number": "SEC-DA-DEMO-001"})
    for who in ("foundation", "company"):
        ctx.ids[f"{who}_account"] = ctx.call("POST", "/v1/accounts", "admin",
                                             {"participant_id": ctx.ids[who], "kind": "holding"})["id"]
    ctx.ids["custody_account"] = ctx.call("POST", "/v1/accounts", "admin",
                                          {"participant_id": ctx.ids["platform"], "kind": "custody"})["id"]
    ctx.ids["bank"] = participant("Bangkok Commercial Bank PCL (demo)", "bank")  # story 6: the pledgee
    ctx.ids["bank_account"] = ctx.call("POST", "/v1/accounts", "admin",
                                       {"participant_id": ctx.ids["bank"], "kind": "holding"})["id"]
    ctx.log("participants and accounts opened")


def _step_project(ctx: DemoContext) -> None:
    project = ctx.call("POST", "/v1/projects", "proponent", {
        "name": "Doi Tung forest conservation (demo)", "standard": "PREMIUM_T-VER",
        "methodology": "T-VER-P-METH-13-01 (forestry: conservation)", "host_country": "TH",
        "proponent_id": ctx.ids["foundation"], "crediting_period": {"start": "2021-01-01", "end": "2030-12-31"},
        "location": {"type": "Polygon", "coordinates": [[[99.80, 20.33], [99.86, 20.33], [99.86, 20.39],
                                                         [99.80, 20.39], [99.80, 20.33]]]},
        "description": "Community forest conservation in Chiang Rai; canopy by satellite, plots by field survey."})
    ctx.ids["project"] = project["id"]
    ctx.call("POST", f"/v1/projects/{project['id']}/validation", "vvb", {"report": "Validation opinion: positive."})
    ctx.call("POST", f"/v1/projects/{project['id']}/registration", "admin")
    ctx.log(f"story 1: project {project['id']} registered as Premium T-VER")


def _step_issuance(ctx: DemoContext) -> None:
    iss = ctx.call("POST", "/v1/issuances", "admin", {
        "project_id": ctx.ids["project"], "vintage": 2025,
        "monitoring_period": {"start": "2025-01-01", "end": "2025-12-31"},
        "quantity_kg": 10_000_000, "buffer_kg": 1_000_000, "account_id": ctx.ids["foundation_account"],
        "verification_ref": "Verification report 2025 signed by the VVB"})
    iss = ctx.call("POST", f"/v1/issuances/{iss['id']}/approval", "approver")
    ctx.ids["issuance"] = iss["id"]
    ctx.log(f"story 3: issued 10,000 t as {iss['blocks'][0]['serial']} with 1,000 t in the buffer pool")


def _step_tokenize(ctx: DemoContext) -> None:
    """Story 4: through the licensed platform the foundation tokenizes 5,000 t; the chain mints 5,000,000.
    Each holder's own key acts: it names the platform that serves it, then requests the tokenization."""
    for who, key in (("foundation", "proponent"), ("company", "company")):
        ctx.call("POST", "/v1/token-holders", key, {"participant_id": ctx.ids[who],
                                                   "intermediary_id": ctx.ids["platform"]})
    lot = ctx.call("POST", "/v1/tokenizations", "proponent", {
        "holder_account_id": ctx.ids["foundation_account"], "quantity_kg": 5_000_000, "note": "demo tokenization"})
    ctx.ids["lot"], ctx.ids["chain_lot"] = lot["id"], str(lot["chain_lot_id"])
    lot = _wait_lot(ctx, lambda v: v["status"] != "minting")
    if lot["status"] != "active":
        raise DemoError(f"tokenization failed: {lot['failure']}")
    ctx.log(f"story 4: {lot['serials'][0]} immobilized in the platform's custody account as {lot['id']}; "
            f"chain lot {lot['chain_lot_id']} minted {lot['chain']['total_supply_kg']:,} tokens (kg) "
            f"to the foundation's wallet")


def _step_trade_and_retire(ctx: DemoContext) -> None:
    ctx.call("POST", "/v1/transfers", "proponent", {
        "from_account_id": ctx.ids["foundation_account"], "to_account_id": ctx.ids["company_account"],
        "quantity_kg": 2_500_000, "note": "demo sale"})
    ret = ctx.call("POST", "/v1/retirements", "company", {
        "account_id": ctx.ids["company_account"], "quantity_kg": 10_000,
        "beneficiary": {"name": "Chao Phraya Cement PCL", "country": "TH"}, "purpose": "voluntary",
        "claim_year": 2025, "note": "demo voluntary claim in the registry"})
    ctx.ids["retirement"] = ret["id"]
    ctx.log(f"company bought 2,500 t in the registry and retired 10,000 kg there: certificate {ret['certificate_id']}")


DVP_QUANTITY_KG = 2_000_000
DVP_PRICE_SATANG_PER_T = 35_000  # 350 THB per tonne: 2,000 t = 700,000 THB = 70,000,000 satang


def _step_dvp_settlement(ctx: DemoContext) -> None:
    """Story 5: the platform (a licensed intermediary) orders a DvP over HTTP: the foundation sells
    2,000,000 kg to the company at 350 THB/t. The escrow takes the foundation's tokens and the company's
    tokenized THB (minted by its bank, the cash issuer) and settles both legs in one transaction; the
    bridge records the settlement in the registry with its chain evidence."""
    if ctx.bridge is None or ctx.bridge.settlement is None or ctx.bridge.cash_issuer is None:
        ctx.log("story 5 skipped: no settlement contracts in this process (run `make run` for the whole story)")
        return
    import uuid
    from datetime import UTC, datetime

    from eth_account import Account

    from sovcarbon.domain.op_ids import op_id

    token, escrow, cash = ctx.bridge.token, ctx.bridge.settlement.escrow, ctx.bridge.settlement.cash
    foundation, company = Account.from_key(ctx.wallets["foundation"]), Account.from_key(ctx.wallets["company"])
    platform = Account.from_key(ctx.wallets["platform"])
    token.fund_gas(platform.address)  # the platform signs its own escrow calls
    started_s = time.monotonic()
    chain_now_s = int(token.w3.eth.get_block("latest")["timestamp"])
    deadline_s = max(chain_now_s, int(time.time())) + 3600
    order = ctx.call("POST", "/v1/dvp-orders", "platform", {
        "seller_id": ctx.ids["foundation"], "buyer_id": ctx.ids["company"], "lot_id": ctx.ids["lot"],
        "quantity_kg": DVP_QUANTITY_KG, "price_satang_per_t": DVP_PRICE_SATANG_PER_T,
        "deadline_at": datetime.fromtimestamp(deadline_s, UTC).isoformat()})
    ctx.ids["dvp_order"] = order["id"]
    dvp_id = bytes.fromhex(order["chain_dvp_id"][2:])
    escrow.create(platform, dvp_id, foundation.address, company.address, order["chain_lot_id"],
                  order["quantity_kg"], order["total_satang"], order["deadline_s"])
    token.pledge(foundation, order["chain_lot_id"], order["quantity_kg"], escrow.address)  # delivery leg
    escrow.fund_delivery(foundation, dvp_id)
    deposit_op_id = op_id(f"demo-deposit-{uuid.uuid4().hex}")  # bytes32, once (domain.op_ids)
    cash.mint(ctx.bridge.cash_issuer, deposit_op_id, company.address,
              order["total_satang"])  # the company's bank tokenizes its deposit
    cash.lock(company, order["total_satang"], escrow.address)  # payment leg
    escrow.fund_payment(company, dvp_id)
    settled = escrow.settle(platform, dvp_id)  # both legs in one transaction
    deadline = time.monotonic() + 60
    while True:
        seen = ctx.call("GET", f"/v1/dvp-orders/{order['id']}", "regulator")
        if seen["status"] == "settled":
            break
        if time.monotonic() > deadline:
            raise DemoError(f"DvP {order['id']} not recorded as settled within 60 s: {seen['status']}")
        time.sleep(0.02)
    thb = order["total_satang"] // 100
    ctx.log(f"story 5: DvP {order['id']}: the company paid {thb:,} THB in tokenized THB and received "
            f"{DVP_QUANTITY_KG:,} tokens (kg) in one settlement (tx {settled.tx_hash[:12]}..); the registry "
            f"recorded it {time.monotonic() - started_s:.1f} s after the order, evidence "
            f"{seen['evidence']['tx_hash'][:12]}..#{seen['evidence']['log_index']}")


def _step_token_retirement(ctx: DemoContext) -> None:
    """Story 7: the company retires 1,234,567 kg of its 2,000,000 tokens on chain (bought in story 5; a plain
    token transfer when this process has no settlement contracts); the NR records the retirement against
    exact serials within seconds."""
    if ctx.bridge is None:
        ctx.log("story 7 skipped: the chain is owned by another process (run `make run` for the whole story)")
        return
    from eth_account import Account

    token, chain_lot = ctx.bridge.token, int(ctx.ids["chain_lot"])
    foundation, company = Account.from_key(ctx.wallets["foundation"]), Account.from_key(ctx.wallets["company"])
    if "dvp_order" not in ctx.ids:
        token.transfer(foundation, company.address, chain_lot, DVP_QUANTITY_KG)
    burn = token.retire(company, chain_lot, 1_234_567, "Chao Phraya Cement PCL", "domestic_compliance", 2025)
    mined_s = time.monotonic()
    lot = _wait_lot(ctx, lambda v: v["retired_kg"] >= 1_234_567)
    latency_s = time.monotonic() - mined_s
    ret = next(r for r in lot["retirements"] if r["chain_tx"] == burn.tx_hash)
    ctx.ids["chain_retirement"] = ret["id"]
    ctx.log(f"story 7: company retired 1,234,567 kg on chain (tx {burn.tx_hash[:12]}..); the NR recorded "
            f"{ret['id']} for {', '.join(ret['serials'])} {latency_s * 1000:.0f} ms later; "
            f"certificate {ret['certificate_id']}")


def _wait_lot(ctx: DemoContext, done: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        lot = ctx.call("GET", f"/v1/lots/{ctx.ids['lot']}", "platform")
        if done(lot):
            return lot
        if time.monotonic() > deadline:
            raise DemoError(f"lot {ctx.ids['lot']} did not progress within {timeout_s:.0f} s: {lot['status']}")
        time.sleep(0.02)


def _address(private_key: str) -> str:
    from eth_account import Account

    address: str = Account.from_key(private_key).address
    return address


def demo_wallets(path: Path) -> dict[str, str]:
    """Chain keys of the demo's holders and platform; created once, kept in the data dir (demo only)."""
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    import secrets

    wallets = {who: "0x" + secrets.token_hex(32) for who in ("foundation", "company", "platform")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wallets, indent=2))
    path.chmod(0o600)
    return wallets


STEPS: list[Callable[[DemoContext], None]] = [_step_parties, _step_project, _step_issuance, _step_tokenize,
                                              _step_dvp_settlement, _step_token_retirement,
                                              _step_trade_and_retire]


def _step_article6_export(ctx: DemoContext) -> None:
    """Story 8 (this registry's side): LoA granted with four-eyes, 1,000 t exported to Indonesia, CA at
    first transfer. The buyer's retirement there reaches this registry with the peer protocol, later."""
    import base64

    letter = (b"Letter of Authorization (demo). The Kingdom of Thailand authorizes up to 1,500 tCO2e of "
              b"mitigation outcomes of the Doi Tung forest project, vintages 2021-2030, as ITMOs for NDC use "
              b"by the Republic of Indonesia and for CORSIA.")
    loa = ctx.call("POST", "/v1/authorizations", "admin", {
        "reference": "TGO-LOA-DEMO-001", "authorization_date": "2025-06-30",
        "cooperative_approach_id": "CA0007", "max_quantity_kg": 1_500_000,
        "sectors": ["Forestry and land use"], "activity_types": ["Reforestation"],
        "mitigation_type": "Emission reductions",
        "purposes": ["ndc", "oimp"], "oimp": ["CORSIA"], "first_transfer_event": "use_or_cancellation",
        "authorized_parties": ["IDN"],
        "authorized_entities": [{"name": "PT Nusantara Hijau (demo)", "party": "IDN",
                                 "identification_number": "AHU-0098765", "country": "IDN"}],
        "timeframe": {"start": "2021-01-01", "end": "2030-12-31"},
        "terms": "Corresponding adjustment by indicative multi-year trajectory; no further transfer outside IDN.",
        "document": {"name": "LoA-TGO-DEMO-001.txt", "media_type": "text/plain",
                     "content_base64": base64.b64encode(letter).decode()}})
    loa = ctx.call("POST", f"/v1/authorizations/{loa['id']}/approval", "approver")
    ctx.ids["loa"] = loa["id"]
    ctx.call("POST", f"/v1/authorizations/{loa['id']}/units", "admin",
             {"account_id": ctx.ids["foundation_account"], "quantity_kg": 1_000_000})
    exp = ctx.call("POST", "/v1/exports", "proponent", {
        "account_id": ctx.ids["foundation_account"], "authorization_id": loa["id"], "quantity_kg": 1_000_000,
        "purpose": "ndc", "note": "demo ITMO sale",
        "destination": {"party": "IDN", "registry_id": "IDN01", "account_id": "SRN-DEMO-0001",
                        "entity": "PT Nusantara Hijau (demo)"}})
    ctx.ids["export"] = exp["id"]
    ca = exp["corresponding_adjustments"][0]
    ctx.log(f"story 8: LoA {loa['id']} granted (four-eyes); 1,000 t exported to IDN01 as ITMOs "
            f"{exp['blocks'][0]['itmo_first_id']}..; CA {ca['quantity_kg']:,} kg for vintage {ca['vintage']}")


def _step_aef_report(ctx: DemoContext) -> None:
    """Story 9: the AEF for the year, generated from the ledger."""
    year = int(time.strftime("%Y", time.gmtime()))
    rep = ctx.call("GET", f"/v1/reports/aef/{year}", "regulator")
    tables = rep["tables"]
    types = sorted({a["Action type"] for a in tables["Table 3 Actions"]})
    ctx.log(f"story 9: AEF {rep['file_name']} ({rep['annex']['submission']['status']}): "
            f"{len(tables['Table 2 Authorizations'])} authorization(s), actions {', '.join(types)}; "
            f"xlsx at /v1/reports/aef/{year}?format=xlsx")


def _step_pledge(ctx: DemoContext) -> None:
    """Story 6: the foundation pledges 500,000 kg of its registry units to its bank as collateral (lien id);
    the bank accepts (the units become pledged: nothing moves them but the bank), then releases 200,000 kg."""
    lien = ctx.call("POST", "/v1/liens", "proponent", {
        "account_id": ctx.ids["foundation_account"], "pledgee_id": ctx.ids["bank"], "quantity_kg": 500_000,
        "note": "demo: collateral for a working-capital loan"})
    ctx.ids["lien"] = lien["id"]
    ctx.call("POST", f"/v1/liens/{lien['id']}/accept", "bank")
    lien = ctx.call("POST", f"/v1/liens/{lien['id']}/release", "bank", {"quantity_kg": 200_000})
    ctx.log(f"story 6: the foundation pledged 500,000 kg to its bank as lien {lien['id']}; the bank released "
            f"200,000 kg: {lien['remaining_kg']:,} kg stay pledged ({lien['status']})")


STEPS += [_step_pledge, _step_article6_export, _step_aef_report]


def demo_keys(reg: Registry, keys_path: Path) -> dict[str, str]:
    """Keys for the demo's people; created once, kept (plaintext, demo only) in the data dir."""
    if keys_path.exists():
        stored: dict[str, str] = json.loads(keys_path.read_text())
        return stored
    keys: dict[str, str] = {}
    for who, role in (("admin", Role.REGISTRY_ADMIN), ("approver", Role.REGISTRY_APPROVER),
                      ("regulator", Role.REGULATOR)):
        keys[who] = auth.create_key(reg, role, None, f"demo {who}")[1]
    keys_path.parent.mkdir(parents=True, exist_ok=True)
    keys_path.write_text(json.dumps(keys, indent=2))
    keys_path.chmod(0o600)
    return keys


def run_demo(reg: Registry, base_url: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Load the story once into the registry at ``base_url``; return the keys and ids."""
    keys_path = reg.settings.data_dir / "demo-keys.json"
    with reg.store.read() as uow:
        loaded = uow.repo.setting(DEMO_MARKER)
    keys = demo_keys(reg, keys_path)
    if loaded:
        ids: dict[str, str] = json.loads(loaded)
        log("demo already loaded")
        return {"keys": keys, "ids": ids}
    wait_until_up(base_url)
    from sovcarbon.bridge import attached

    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        ctx = DemoContext(client=client, keys=keys, log=log, bridge=attached(reg),
                          wallets=demo_wallets(reg.settings.data_dir / "demo-wallets.json"))
        _step_parties(ctx)
        for who, role in (("proponent", Role.PROPONENT), ("vvb", Role.VVB), ("company", Role.HOLDER),
                          ("platform", Role.INTERMEDIARY), ("bank", Role.BANK)):
            participant = {"proponent": "foundation", "vvb": "vvb", "company": "company", "platform": "platform",
                           "bank": "bank"}[who]
            if who not in keys:
                keys[who] = auth.create_key(reg, role, ctx.ids[participant], f"demo {who}")[1]
        keys_path.write_text(json.dumps(keys, indent=2))
        for step in STEPS[1:]:
            step(ctx)
    with reg.store.write() as uow:
        uow.repo.set_setting(DEMO_MARKER, json.dumps(ctx.ids))
        uow.append("demo_loaded", {"ids": ctx.ids})
    return {"keys": keys, "ids": ctx.ids}
