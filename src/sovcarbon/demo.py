"""The demo story of PRODUCT.md §3, driven through the public HTTP API like any other client.

Steps now: 1 (a Premium T-VER forest project submitted, validated, registered), 3 (issuance with a
buffer share, four-eyes), and a company buying credits and retiring some for a compliance claim.
Later capabilities extend ``STEPS``.
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

    ctx.ids["foundation"] = participant("Mae Fah Luang Foundation (demo)", "company")
    ctx.ids["vvb"] = participant("Siam Verification Body (demo)", "vvb")
    ctx.ids["company"] = participant("Chao Phraya Cement PCL (demo)", "company")
    for who in ("foundation", "company"):
        ctx.ids[f"{who}_account"] = ctx.call("POST", "/v1/accounts", "admin",
                                             {"participant_id": ctx.ids[who], "kind": "holding"})["id"]
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


def _step_trade_and_retire(ctx: DemoContext) -> None:
    ctx.call("POST", "/v1/transfers", "proponent", {
        "from_account_id": ctx.ids["foundation_account"], "to_account_id": ctx.ids["company_account"],
        "quantity_kg": 2_500_000, "note": "demo sale"})
    ret = ctx.call("POST", "/v1/retirements", "company", {
        "account_id": ctx.ids["company_account"], "quantity_kg": 1_234_567,
        "beneficiary": {"name": "Chao Phraya Cement PCL", "country": "TH"}, "purpose": "domestic_compliance",
        "claim_year": 2025, "note": "demo compliance claim"})
    ctx.ids["retirement"] = ret["id"]
    ctx.log(f"company bought 2,500 t and retired 1,234,567 kg: certificate {ret['certificate_id']}")


STEPS: list[Callable[[DemoContext], None]] = [_step_parties, _step_project, _step_issuance, _step_trade_and_retire]


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
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        ctx = DemoContext(client=client, keys=keys, log=log)
        _step_parties(ctx)
        for who, role in (("proponent", Role.PROPONENT), ("vvb", Role.VVB), ("company", Role.HOLDER)):
            participant = {"proponent": "foundation", "vvb": "vvb", "company": "company"}[who]
            if who not in keys:
                keys[who] = auth.create_key(reg, role, ctx.ids[participant], f"demo {who}")[1]
        keys_path.write_text(json.dumps(keys, indent=2))
        for step in STEPS[1:]:
            step(ctx)
    with reg.store.write() as uow:
        uow.repo.set_setting(DEMO_MARKER, json.dumps(ctx.ids))
        uow.append("demo_loaded", {"ids": ctx.ids})
    return {"keys": keys, "ids": ctx.ids}
