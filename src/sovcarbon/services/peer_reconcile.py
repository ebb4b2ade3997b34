"""I7 single home across two registries: a reconciliation with one peer, and the answer to a peer's query.

The shared prefixes are those either side's records name (a registry restored from an old backup has lost its
own record of a transfer; the peer's answer brings the prefix back). Compared, in order: (1) totals per shared
serial prefix (kg at home here + kg at home there, against the issued kg); (2) blocks: every kg range at home in
both registries (not ``exported`` on either side) is a
double count: it is frozen here (4006 on any later movement) and reported as 8004; (3) the message audit
trail: the hashes of every message of every transfer between the two registries must be the same on both
sides. The run and its report are stored (``peer_reconciliations``) and journaled.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from sovcarbon.domain import peer_protocol as pp
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import Pick, carve
from sovcarbon.domain.ids import new_id
from sovcarbon.domain.model import FINAL_STATES, BlockState
from sovcarbon.domain.serials import format_serial, parse_serial
from sovcarbon.peers import client, jws
from sovcarbon.services import interop
from sovcarbon.services.movements import record
from sovcarbon.services.registry import Registry
from sovcarbon.store import peer_tables as pt
from sovcarbon.store.uow import UnitOfWork


def shared_prefixes(uow: UnitOfWork, peer_id: str) -> list[str]:
    found: set[str] = set()
    c = pt.peer_transfers.c
    for (serials,) in uow.conn.execute(select(c.serials).where(c.peer_id == peer_id)):
        found.update(parse_serial(s).prefix for s in json.loads(serials))
    m = pt.peer_mirrors.c
    found.update(r[0] for r in uow.conn.execute(select(m.serial_prefix).where(m.peer_id == peer_id)))
    return sorted(found)


def home_ranges(uow: UnitOfWork, prefixes: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Per prefix, the kg ranges whose home is this registry (every leaf not ``exported``)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for prefix in prefixes:
        issuance = uow.repo.issuance_by_prefix(prefix)
        if issuance is None:
            out[prefix] = []
            continue
        leaves = uow.repo.blocks.leaves_overlapping(prefix, 1, int(issuance["quantity_kg"]))
        out[prefix] = [(b.first_kg, b.last_kg) for b in leaves if b.state != BlockState.EXPORTED]
    return out


def message_hashes(uow: UnitOfWork, peer_id: str) -> dict[str, list[str]]:
    c, m = pt.peer_transfers.c, pt.peer_messages.c
    out: dict[str, list[str]] = {}
    for (transfer_id,) in uow.conn.execute(select(c.id).where(c.peer_id == peer_id)):
        out[transfer_id] = sorted(r[0] for r in uow.conn.execute(
            select(m.hash).where(m.transfer_id == transfer_id)))
    return out


def holdings_answer(reg: Registry, token: Any) -> str:
    with reg.store.read() as uow:
        peer_row, payload = interop.verified(uow, token)
        asked = [str(p)[:40] for p in payload["body"].get("prefixes", [])][:1000]
        # The prefixes shared with the asker by this side's records too: a registry restored from a backup
        # taken before a transfer no longer knows it shared that prefix, and would not ask about it.
        prefixes = sorted(set(asked) | set(shared_prefixes(uow, peer_row["id"])))[:2000]
        answer = {"v": pp.PROTOCOL_VERSION, "type": "holdings", "from": interop.my_id(reg), "to": peer_row["id"],
                  "nonce": payload["body"].get("nonce"), "home": home_ranges(uow, prefixes),
                  "messages": message_hashes(uow, peer_row["id"]), "sent_at": uow.now}
        return jws.sign(reg.store.signer, interop.my_id(reg), answer)


def _freeze(uow: UnitOfWork, conflicts: list[tuple[str, int, int]], report_id: str) -> int:
    picks: list[Pick] = []
    for prefix, first, last in conflicts:
        for leaf in uow.repo.blocks.leaves_overlapping(prefix, first, last):
            if leaf.state in FINAL_STATES or leaf.state == BlockState.EXPORTED or leaf.frozen:
                continue
            picks.append(Pick(leaf, max(leaf.first_kg, first), min(leaf.last_kg, last)))
    if not picks:
        return 0
    txn_id = new_id("txn")
    movement = carve(picks, txn_id, lambda: new_id("blk"), frozen=True)
    record(uow, movement, txn_id, "freeze", "registry", None, None,
           {"reason": f"8004 UNIT_LIVE_ELSEWHERE: found live in a peer registry (reconciliation {report_id})"})
    return movement.quantity_kg


def reconcile(reg: Registry, peer_id: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        peer_row = interop.active_peer(uow, peer_id)
        keys = interop.peer_keys_now(uow, peer_row)
        prefixes = shared_prefixes(uow, peer_id)
        nonce = new_id("msg")
        token = jws.sign(reg.store.signer, interop.my_id(reg), pp.envelope(
            pp.MessageType.STATUS, nonce, 1, pp.GENESIS_PREV_HASH, interop.my_id(reg), peer_id, uow.now,
            {"nonce": nonce, "prefixes": prefixes}))
    answer = jws.verify_any(client.post(f"{peer_row['base_url']}/v1/peer/holdings", token, peer_row["tls_ca"]),
                            keys)
    if answer.get("nonce") != nonce:
        raise RegistryError(8002, "the holdings answer does not answer this query")
    theirs = {str(p)[:40]: [(int(a), int(b)) for a, b in rs]
              for p, rs in list(dict(answer.get("home", {})).items())[:2000]}
    prefixes = sorted(set(prefixes) | set(theirs))  # those the peer shares with us by its records too
    report_id = new_id("rep")
    with reg.store.write() as uow:
        mine = home_ranges(uow, prefixes)
        totals = []
        for prefix in prefixes:
            issuance = uow.repo.issuance_by_prefix(prefix)
            here = sum(b - a + 1 for a, b in mine.get(prefix, []))
            there = sum(b - a + 1 for a, b in theirs.get(prefix, []))
            totals.append({"serial_prefix": prefix, "home_here_kg": here, "home_there_kg": there,
                           "issued_kg": None if issuance is None else int(issuance["quantity_kg"])})
        conflicts = pp.live_in_both(mine, theirs)
        my_hashes = message_hashes(uow, peer_id)
        their_hashes = {str(k): sorted(v) for k, v in dict(answer.get("messages", {})).items()}
        trail = [{"transfer_id": k, "here": len(my_hashes.get(k, [])), "there": len(their_hashes.get(k, []))}
                 for k in sorted(set(my_hashes) | set(their_hashes)) if my_hashes.get(k) != their_hashes.get(k)]
        frozen_kg = _freeze(uow, conflicts, report_id)
        report = {"id": report_id, "peer_id": peer_id, "ok": not conflicts, "totals": totals,
                  "live_in_both": [{"serial": format_serial(p, a, b), "code": 8004} for p, a, b in conflicts],
                  "frozen_kg": frozen_kg, "message_trail_differences": trail}
        uow.repo.insert(pt.peer_reconciliations, id=report_id, peer_id=peer_id, ok=int(not conflicts),
                        report=json.dumps(report), created_at=uow.now)
        uow.append("peer_reconciliation", {"actor": "registry", **report})
    return report


def leaves_view(reg: Registry, prefix: str) -> dict[str, Any]:
    with reg.store.read() as uow:
        issuance = uow.repo.issuance_by_prefix(prefix)
        if issuance is None or issuance["status"] != "issued":
            raise RegistryError(1005, "no issuance has this serial prefix here", serial_prefix=prefix)
        leaves = uow.repo.blocks.leaves_overlapping(prefix, 1, int(issuance["quantity_kg"]))
        mirrored = uow.conn.execute(select(pt.peer_mirrors.c.peer_id).where(
            pt.peer_mirrors.c.serial_prefix == prefix)).scalar()
        return {"serial_prefix": prefix, "issued_kg": int(issuance["quantity_kg"]), "mirror_of": mirrored,
                "leaves": [[b.first_kg, b.last_kg, str(b.state), b.frozen] for b in leaves]}
