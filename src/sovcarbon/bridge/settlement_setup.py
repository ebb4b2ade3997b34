"""Deploy or attach the settlement contracts (cash token, DvP escrow) beside the carbon token, as ``serve`` does.

- the cash issuer's key (mints and burns THB satang; deploys the cash token): ``SOVCARBON_CASH_ISSUER_KEY_FILE``
  (config ``cash_issuer_key_file``, outside the data dir; demo and tests: ``cash_issuer_key.hex`` in it);
- the deployment (addresses, first block): ``<data dir>/settlement-deployment-<chain id>.json``;
- the NR's record of it (a registry never silently switches escrow): setting ``settlement_contracts`` and the
  journal entry ``settlement_contracts_attached``.

A recorded deployment is attached without the issuer's key (the runtime code of both contracts is checked
against our source); a new one needs it. Without a recorded deployment and without an issuer key configured,
the registry runs without settlement (``None``): the bridge serves tokens only. The escrow is deployed by the
bridge key (it has no owner: nobody administers it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.chain import BytecodeMismatch, ChainUnavailable, load_or_create_key
from sovcarbon.chain.settlement import CashTokenChain, DvpEscrowChain

Bridge = Any  # bridge.runtime.Bridge (which imports this module: no import back)
ALLOW_IN_DATA_DIR_ENV = "SOVCARBON_ALLOW_KEY_IN_DATA_DIR"  # as bridge.runtime

SETTLEMENT_SETTING = "settlement_contracts"  # "<chain id>:<cash address>:<escrow address>"
ISSUER_KEY_FILE_ENV = "SOVCARBON_CASH_ISSUER_KEY_FILE"
DEMO_ISSUER_KEY_FILE = "cash_issuer_key.hex"


@dataclass(frozen=True)
class SettlementDeployment:
    chain_id: int
    cash_address: str
    escrow_address: str
    issuer_address: str
    deploy_block: int


def deployment_file(data_dir: Path, chain_id: int) -> Path:
    return data_dir / f"settlement-deployment-{chain_id}.json"


def read_deployment(path: Path) -> SettlementDeployment | None:
    if not path.exists():
        return None
    return SettlementDeployment(**json.loads(path.read_text(encoding="utf-8")))


def issuer_key(bridge: Bridge, data_dir: Path) -> LocalAccount | None:
    """The cash issuer's key: ``cash_issuer_key_file`` (validated by config.py; outside the data dir unless
    the demo allows keys there), else, for the demo and tests only, generated once in the data dir."""
    allowed = os.environ.get(ALLOW_IN_DATA_DIR_ENV) == "1" or bridge.reg.settings.allow_key_in_data_dir
    configured = bridge.reg.settings.cash_issuer_key_file
    if configured is not None:
        if configured.resolve().is_relative_to(data_dir.resolve()) and not allowed:
            raise ChainUnavailable(f"the cash issuer key {configured} is inside the data directory {data_dir}: "
                                   f"set {ISSUER_KEY_FILE_ENV} to a key file outside it")
        return load_or_create_key(configured)
    return load_or_create_key(data_dir / DEMO_ISSUER_KEY_FILE) if allowed else None


def open_settlement(bridge: Bridge, data_dir: Path, *, cache_dir: Path | None = None,
                    issuer: LocalAccount | None = None) -> SettlementConsumer | None:
    """Load the recorded settlement contracts or deploy them (needs the issuer key), record them in the NR
    and attach their event consumer to ``bridge``. None: settlement not configured here."""
    token = bridge.token
    chain_id = bridge.chain.chain_id
    path = deployment_file(data_dir, chain_id)
    recorded = read_deployment(path)
    issuer = issuer if issuer is not None else issuer_key(bridge, data_dir)
    if issuer is None and recorded is None:
        return None  # settlement not configured here
    cash = CashTokenChain(token, cache_dir=cache_dir)
    escrow = DvpEscrowChain(token, cache_dir=cache_dir)
    if recorded is not None:
        if recorded.chain_id != chain_id:
            raise BytecodeMismatch(f"{path} records chain id {recorded.chain_id}, the node reports {chain_id}")
        cash.load(recorded.cash_address)
        escrow.load(recorded.escrow_address)
        if issuer is not None and issuer.address != recorded.issuer_address:
            raise BytecodeMismatch(f"the configured cash issuer key ({issuer.address}) is not the issuer of "
                                   f"cash token {recorded.cash_address} ({recorded.issuer_address}): refusing to start")
        deployment = recorded
    else:
        assert issuer is not None
        first_block = token.block_number() + 1
        cash.deploy_cash(issuer)
        escrow.deploy_escrow(token.bridge, cash.address)
        deployment = SettlementDeployment(chain_id, cash.address, escrow.address, issuer.address, first_block)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(deployment.__dict__, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    _record(bridge, deployment, cash)
    consumer = SettlementConsumer(bridge.reg, escrow, cash, deployment.deploy_block)
    bridge.cash_issuer = issuer
    bridge.attach_settlement(consumer)
    return consumer


def _record(bridge: Bridge, deployment: SettlementDeployment, cash: CashTokenChain) -> None:
    here = f"{deployment.chain_id}:{deployment.cash_address}:{deployment.escrow_address}"
    with bridge.reg.store.write() as uow:
        known = uow.repo.setting(SETTLEMENT_SETTING)
        if known is None:
            uow.repo.set_setting(SETTLEMENT_SETTING, here)
            uow.append("settlement_contracts_attached", {
                "chain_id": deployment.chain_id, "cash_address": deployment.cash_address,
                "escrow_address": deployment.escrow_address, "cash_issuer": deployment.issuer_address,
                "cash_source_sha256": cash.compiled.source_sha256})
        elif known != here:
            raise ChainUnavailable(f"this registry settles through {known}, not {here}")


def status(bridge: Bridge) -> dict[str, Any] | None:
    consumer = bridge.settlement
    if consumer is None:
        return None
    return {"cash_token": consumer.cash.address, "escrow": consumer.escrow.address,
            "cash_issuer": bridge.cash_issuer.address if bridge.cash_issuer is not None else None,
            "escrow_cursor": consumer.cursor()}
