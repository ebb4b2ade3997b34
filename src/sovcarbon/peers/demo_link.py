"""``sovcarbon peers link-demo``: make the demo's export arrive in a second registry (docs/interop.md).

Run with the second registry's settings while both serve: keys for this registry's officers (kept in its
data dir, demo only), the demo buyer's participant and account here, the two registries registered as
peers of each other (admin requests, approver approves, on both sides), then the demo proponent delivers
its export over the peer protocol. Every step is skipped when already done, so it can run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from sovcarbon.domain.model import Role
from sovcarbon.services import auth
from sovcarbon.services.registry import Registry

BUYER = "PT Nusantara Hijau (demo)"


class LinkError(RuntimeError):
    pass


def _call(client: httpx.Client, method: str, url: str, key: str | None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = client.request(method, url, json=body, headers=headers)
    if resp.status_code not in (200, 201):
        raise LinkError(f"{method} {url} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json()


def run_link_demo(reg: Registry, origin_url: str, origin_keys: dict[str, str], url: str,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    keys_path = reg.settings.data_dir / "demo-keys.json"
    keys: dict[str, str] = json.loads(keys_path.read_text()) if keys_path.exists() else {}
    for who, role in (("admin", Role.REGISTRY_ADMIN), ("approver", Role.REGISTRY_APPROVER),
                      ("regulator", Role.REGULATOR)):
        if who not in keys:
            keys[who] = auth.create_key(reg, role, None, f"demo {who} ({reg.profile.country})")[1]
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        participants = _call(client, "GET", f"{url}/v1/participants", keys["admin"])["data"]
        buyer = next((p for p in participants if p["name"] == BUYER), None)
        if buyer is None:
            buyer = _call(client, "POST", f"{url}/v1/participants", keys["admin"],
                          {"name": BUYER, "kind": "company", "country": reg.profile.country,
                           "kyc_status": "verified"})
        accounts = [a for a in _call(client, "GET", f"{url}/v1/accounts", keys["admin"])["data"]
                    if a["participant_id"] == buyer["id"] and a["kind"] == "holding"]
        account = accounts[0] if accounts else _call(client, "POST", f"{url}/v1/accounts", keys["admin"],
                                                     {"participant_id": buyer["id"], "kind": "holding"})
        if "buyer" not in keys:
            keys["buyer"] = auth.create_key(reg, Role.HOLDER, buyer["id"], "demo buyer")[1]
        keys_path.parent.mkdir(parents=True, exist_ok=True)
        keys_path.write_text(json.dumps(keys, indent=2))
        keys_path.chmod(0o600)
        log(f"{BUYER}: account {account['id']} in {reg.profile.registry_name}")
        sides = ((url, keys, origin_url), (origin_url, origin_keys, url))
        for base, side_keys, other in sides:
            ident = _call(client, "GET", f"{other}/v1/peer/identity", None)
            known = {p["id"]: p for p in _call(client, "GET", f"{base}/v1/peers", side_keys["admin"])["data"]}
            if ident["registry_id"] not in known:
                _call(client, "POST", f"{base}/v1/peers", side_keys["admin"],
                      {"id": ident["registry_id"], "base_url": other, "public_key": ident["public_key"],
                       "party_code": ident["party_code"], "country": ident["country"]})
            if known.get(ident["registry_id"], {}).get("status") != "active":
                _call(client, "POST", f"{base}/v1/peers/{ident['registry_id']}/approval", side_keys["approver"])
            log(f"{base} knows peer {ident['registry_id']} ({ident['party_code']}, key {ident['public_key'][:16]}..)")
        me = _call(client, "GET", f"{url}/v1/peer/identity", None)
        exports = _call(client, "GET", f"{origin_url}/v1/exports", origin_keys["proponent"])["data"]
        if not exports:
            raise LinkError("the origin registry has no export to deliver (load its demo first)")
        export = exports[0]
        done = [t for t in _call(client, "GET", f"{url}/v1/peer-transfers", keys["regulator"])["data"]
                if t["state"] == "completed" and t["quantity_kg"] == export["quantity_kg"]]
        if done:
            transfer = done[0]
        else:
            transfer = _call(client, "POST", f"{origin_url}/v1/peer-deliveries", origin_keys["proponent"],
                             {"export_id": export["id"], "peer_id": me["registry_id"],
                              "destination_account_id": account["id"]})
        log(f"export {export['id']} ({export['quantity_kg']:,} kg): transfer {transfer['id']} {transfer['state']}")
    return {"transfer": {k: transfer[k] for k in ("id", "state", "quantity_kg", "serials")},
            "account_id": account["id"], "keys": keys}
