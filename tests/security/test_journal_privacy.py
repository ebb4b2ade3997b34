"""Privacy of the public journal (security issue item 9): anyone verifies the whole hash chain from the
public parts alone; no participant's name, KYC status, licence, wallet, account id or holding appears in
them; the regulator and registry officers see the private parts, which match their chained hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from world import Api

from sovcarbon.domain import journal as jr


def _all(world: Api, who: str | None) -> tuple[list[dict[str, Any]], str]:
    """Every entry of GET /v1/journal as ``who`` sees it, and the raw response text."""
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    after = 0
    while True:
        resp = world.get("/v1/journal", who, after_seq=after, limit=1000)
        assert resp.status_code == 200, resp.text
        texts.append(resp.text)
        page = resp.json()
        out += page["data"]
        if not page["next_cursor"]:
            return out, "".join(texts)
        after = out[-1]["seq"]


def _activity(world: Api) -> dict[str, str]:
    secret = {"name": "Zyxwvut Private Holdings Ltd", "wallet": "0x" + "ab" * 20, "licence": "LIC-SECRET-4711"}
    pid = world.ok("POST", "/v1/participants", "admin", {
        "name": secret["name"], "kind": "intermediary", "country": "TH", "kyc_status": "verified",
        "wallet_address": secret["wallet"], "license": {"kind": "broker", "number": secret["licence"]}})["id"]
    acc = world.ok("POST", "/v1/accounts", "admin", {"participant_id": pid, "kind": "holding"})["id"]
    world.ok("POST", "/v1/transfers", "proponent", {"from_account_id": world.ids["foundation_acc"],
                                                    "to_account_id": world.ids["company_acc"],
                                                    "quantity_kg": 2_000_000})
    world.ok("POST", "/v1/retirements", "company", {
        "account_id": world.ids["company_acc"], "quantity_kg": 500_000,
        "beneficiary": {"name": "Siam Cement", "country": "TH"}, "purpose": "voluntary", "claim_year": 2026})
    return {**secret, "participant_id": pid, "account_id": acc}


def test_the_whole_chain_verifies_from_the_public_output_alone(world: Api) -> None:
    _activity(world)
    entries, _ = _all(world, None)
    head = world.ok("GET", "/v1/journal/head", None)
    prev = jr.GENESIS_HASH
    for e in entries:
        assert "private" not in e
        # The chained bytes are rebuilt from the public fields: nothing hidden is needed.
        rebuilt = jr.canonical_json({"at": e["created_at"], "kind": e["kind"], "private_hash": e["private_hash"],
                                     "public": e["public"], "seq": e["seq"]})
        assert rebuilt == e["entry"].encode()
        assert e["prev_hash"] == prev and jr.chain_hash(prev, rebuilt) == e["hash"]
        prev = e["hash"]
    assert (entries[-1]["seq"], prev) == (head["seq"], head["hash"])


def test_no_private_field_appears_in_the_public_journal(world: Api) -> None:
    secret = _activity(world)
    _, public_text = _all(world, None)
    for value in (secret["name"], secret["wallet"], secret["wallet"].lower(), secret["licence"],
                  secret["account_id"], world.ids["foundation_acc"], world.ids["company_acc"], "Company", "Foundation",
                  "kyc_status", "wallet_address"):
        assert value not in public_text, value
    # A holder's key is not a regulator's: still the public parts only.
    holder_entries, holder_text = _all(world, "company")
    assert secret["name"] not in holder_text and all("private" not in e for e in holder_entries)


def test_public_parts_carry_supply_effects_and_pseudonymous_accounts(world: Api) -> None:
    _activity(world)
    entries, _ = _all(world, None)
    by_state: dict[str, int] = {}
    accounts: set[str] = set()
    for e in entries:
        for project_id, _vintage, state, delta_kg in e["public"]["supply"]:
            if project_id == world.ids["project"]:
                by_state[state] = by_state.get(state, 0) + delta_kg
        accounts |= set(e["public"]["accounts"])
    supply = world.ok("GET", f"/v1/supply?project_id={world.ids['project']}", None)
    assert {s: kg for s, kg in by_state.items() if kg} == {s: kg for s, kg in supply["by_state_kg"].items() if kg}
    assert accounts and all(a.startswith("acct_") for a in accounts)
    retirement = next(e for e in entries if e["kind"] == "retirement")
    details = retirement["public"]["details"]
    assert details["quantity_kg"] == 500_000 and details["beneficiary"] == {"name": "Siam Cement", "country": "TH"}
    assert details["account_id"].startswith("acct_")


def test_regulator_and_officers_see_the_private_parts(world: Api) -> None:
    secret = _activity(world)
    for who in ("regulator", "admin"):
        entries, text = _all(world, who)
        assert secret["name"] in text
        for e in entries:
            private = jr.canonical_json(e["private"])
            assert hashlib.sha256(private).hexdigest() == e["private_hash"]
        created = next(e for e in entries if e["kind"] == "participant_created"
                       and secret["participant_id"] in json.dumps(e["private"]["rows"]))
        image = created["private"]["rows"]["participants"][secret["participant_id"]]
        assert image["name"] == secret["name"] and image["wallet_address"] == secret["wallet"]
