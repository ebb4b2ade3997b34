"""The ``Bridge``: owns the chain connection, the token contract, the outbox worker, the event consumer
and reconciliation for one registry, and runs them in a background thread (``start``) or on demand
(``run_once``, as the tests do).

Configuration (environment, or arguments of ``Bridge.open``):

| variable | meaning | default |
|---|---|---|
| SOVCARBON_CHAIN_URL | EVM JSON-RPC URL | absent: the embedded chain under SOVCARBON_DATA_DIR |
| SOVCARBON_BRIDGE_KEY | the bridge's minting key (hex) | - |
| SOVCARBON_BRIDGE_KEY_FILE | file with the bridge's minting key (outside the data dir) | demo: data dir |
| SOVCARBON_AGENT_KEY_FILE | the enforcement agent's key (unfreeze, forced transfer) | demo: data dir |
| SOVCARBON_CHAIN_OWNER_KEY_FILE | the governance owner's key: only to deploy (then offline) | demo: data dir |
| SOVCARBON_CHAIN_ROLE_DELAY_S | time lock of role changes on a new deployment | 172800 (two days) |
| SOVCARBON_BRIDGE_MAX_LAG_BLOCKS | blocks the consumer may be behind before ``/v1/bridge`` alarms | 50 |

The contract is deployed once per chain and recorded in ``<data dir>/token-deployment-<chain id>.json``
(its runtime code is checked against our source on every start) and in the NR's settings: a registry
never silently switches to another contract. The embedded chain is opened by one process at a time
(an exclusive lock file beside it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sovcarbon.bridge import audit
from sovcarbon.bridge.events import EventConsumer
from sovcarbon.bridge.outbox import HOLDER_GAS_WEI, OutboxWorker
from sovcarbon.bridge.reconcile import chain_reader, reconcile, repush_drift, state_drift
from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.bridge.settlement_setup import status as settlement_status
from sovcarbon.chain import CarbonTokenChain, Chain, ChainUnavailable, load_or_create_key, open_chain
from sovcarbon.chain.token import DEFAULT_ROLE_DELAY_S
from sovcarbon.domain.chain_ops import PROTECTIVE_OPS
from sovcarbon.services import token_lots
from sovcarbon.services.registry import Registry

log = logging.getLogger(__name__)

BRIDGE_KEY_ENV = "SOVCARBON_BRIDGE_KEY"
BRIDGE_KEY_FILE = "bridge_key.hex"
KEY_FILES = {  # role -> (environment variable naming the key file, demo file name in the data dir)
    "bridge": ("SOVCARBON_BRIDGE_KEY_FILE", BRIDGE_KEY_FILE),
    "agent": ("SOVCARBON_AGENT_KEY_FILE", "agent_key.hex"),
    "owner": ("SOVCARBON_CHAIN_OWNER_KEY_FILE", "owner_key.hex"),
}
ALLOW_IN_DATA_DIR_ENV = "SOVCARBON_ALLOW_KEY_IN_DATA_DIR"
ROLE_DELAY_ENV = "SOVCARBON_CHAIN_ROLE_DELAY_S"
CONTRACT_SETTING = "token_contract"
DEFAULT_POLL_INTERVAL_S = 0.1  # while idle: how often the worker asks the chain for its head block (one call)
IDLE_CYCLE_S = 1.0  # while idle: a full cycle at least this often (dead-letter retries, a resumed bridge)
IDLE_PROBE_MAX_S = 0.8  # the head probe's interval doubles from poll_interval_s up to this while nothing happens
MAX_LAG_ENV = "SOVCARBON_BRIDGE_MAX_LAG_BLOCKS"
DEFAULT_MAX_LAG_BLOCKS = 50  # the event consumer's alarm on /v1/bridge past this many blocks behind
MAX_BACKOFF_S = 5.0
STATE_CHECK_INTERVAL_S = 60.0  # how often the running bridge compares identities and freezes with the chain


class _EmbeddedLock:
    """An exclusive lock on the embedded chain's directory: two processes must never mine the same file."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "chain.lock"
        self._fh: IO[str] | None = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._fh.close()
            self._fh = None
            raise ChainUnavailable(f"the embedded chain in {data_dir} is open in another process "
                                   "(a running `sovcarbon serve`?); stop it or use its API") from exc

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def _role_key(role: str, data_dir: Path) -> Any:
    """A role's key from its file (``SOVCARBON_*_KEY_FILE``), never from the data directory unless demo or
    tests opt in (``SOVCARBON_ALLOW_KEY_IN_DATA_DIR=1``, where it is generated once)."""
    env, demo_name = KEY_FILES[role]
    allowed = os.environ.get(ALLOW_IN_DATA_DIR_ENV) == "1"
    configured = os.environ.get(env)
    path = Path(configured) if configured else data_dir / demo_name
    if _inside(path, data_dir) and not allowed:
        raise ChainUnavailable(f"the {role} key {path} is inside the data directory {data_dir}: set {env} to a key "
                               f"file outside it (or, for a demo only, {ALLOW_IN_DATA_DIR_ENV}=1)")
    if not path.exists() and not _inside(path, data_dir):
        raise ChainUnavailable(f"the {role} key file {path} ({env}) does not exist")
    return load_or_create_key(path)


# registry (by id) -> the open bridge serving it; wired by ``bootstrap.start_bridge`` (attach), left on close
_ATTACHED: dict[int, Bridge] = {}


class Bridge:
    """One registry's edge to its chain. Thread-safe: one cycle at a time (``cycle_lock``)."""

    def __init__(self, reg: Registry, chain: Chain, token: CarbonTokenChain, *,
                 poll_interval_s: float = DEFAULT_POLL_INTERVAL_S, fund_holders_wei: int = HOLDER_GAS_WEI,
                 lock: _EmbeddedLock | None = None, max_lag_blocks: int | None = None) -> None:
        assert token.deployment is not None, "deploy_or_load() the contract first"
        self.reg = reg
        self.chain = chain
        self.token = token
        self.outbox = OutboxWorker(reg, token, fund_holders_wei=fund_holders_wei)
        self.events = EventConsumer(reg, token, start_block=token.deployment.deploy_block)
        self.poll_interval_s = poll_interval_s
        self.state_check_interval_s = STATE_CHECK_INTERVAL_S
        self._last_state_check_s = time.monotonic()
        self.max_lag_blocks = (max_lag_blocks if max_lag_blocks is not None
                               else int(os.environ.get(MAX_LAG_ENV) or DEFAULT_MAX_LAG_BLOCKS))
        self.cycle_lock = threading.RLock()
        self.last_error: str | None = None
        self.cycles = 0
        self._lock = lock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._more = True  # the last cycle did work or left blocks unread: cycle again without waiting for a sign
        self._last_cycle_s = 0.0
        self._thread: threading.Thread | None = None
        self._closed = False
        self.settlement: SettlementConsumer | None = None  # attach_settlement: the escrow's event consumer
        self.cash_issuer: Any = None  # the cash issuer's key when this process holds it (settlement_setup)
        # run by close(): what ``bootstrap.wire_bridge`` wired (a bridge registers itself nowhere)
        self.on_close: list[Callable[[], None]] = []
        # run by attach_settlement with the consumer: ``bootstrap.wire_bridge`` sets the escrow reader here
        self.on_settlement: list[Callable[[SettlementConsumer], None]] = []
        self._record_contract()

    @classmethod
    def open(cls, reg: Registry, *, chain_url: str | None = None, data_dir: Path | None = None,
             bridge_key: str | None = None, agent_key: str | None = None, owner_key: str | None = None,
             role_delay_s: int | None = None, cache_dir: Path | None = None, settlement: bool = False,
             **options: Any) -> Bridge:
        """Connect to the configured chain (embedded by default), deploy or load the contract. Three keys, one
        per role (bridge, enforcement agent, governance owner), read from files outside the data directory.
        With ``settlement`` (``serve``), also deploy or attach the cash token and the DvP escrow and consume
        the escrow's events (``bridge/settlement_setup.py``; skipped when no issuer key is configured and
        none was ever deployed)."""
        settings = reg.settings
        url = chain_url if chain_url is not None else settings.chain_url
        directory = Path(data_dir) if data_dir is not None else settings.data_dir
        lock = None if url else _EmbeddedLock(directory)
        try:
            chain = open_chain(url, directory)
            deployment_file = directory / f"token-deployment-{chain.chain_id}.json"
            key = bridge_key or os.environ.get(BRIDGE_KEY_ENV) or _role_key("bridge", directory)
            agent = agent_key or _role_key("agent", directory)
            owner = owner_key or (None if deployment_file.exists() else _role_key("owner", directory))
            delay_s = role_delay_s if role_delay_s is not None else int(os.environ.get(ROLE_DELAY_ENV)
                                                                          or DEFAULT_ROLE_DELAY_S)
            token = CarbonTokenChain(chain, key, agent_key=agent, owner_key=owner, role_delay_s=delay_s,
                                     cache_dir=cache_dir)
            token.deploy_or_load(deployment_file)
            bridge = cls(reg, chain, token, lock=lock, **options)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if settlement:
            from sovcarbon.bridge.settlement_setup import open_settlement

            try:
                open_settlement(bridge, directory, cache_dir=cache_dir)
            except BaseException:
                bridge.close()
                raise
        return bridge

    def _record_contract(self) -> None:
        with self.reg.store.write() as uow:
            known = uow.repo.setting(CONTRACT_SETTING)
            here = f"{self.chain.chain_id}:{self.token.address}"
            if known is None:
                uow.repo.set_setting(CONTRACT_SETTING, here)
                uow.append("token_contract_attached", {"chain_id": self.chain.chain_id, "address": self.token.address,
                                                       "source_sha256": self.token.compiled.source_sha256})
            elif known != here:
                raise ChainUnavailable(f"this registry mirrors its lots in contract {known}, not {here}")

    def attach_settlement(self, consumer: SettlementConsumer) -> None:
        """Consume the DvP escrow's events in every cycle from now on (``bridge/settlement_events.py``); the
        ``on_settlement`` hooks (``bootstrap.wire_bridge``: the escrow reader of the ESCROW loader) see it."""
        with self.cycle_lock:
            self.settlement = consumer
            for hook in self.on_settlement:
                hook(consumer)
        self.wake()

    def reader_source(self) -> tuple[token_lots.ChainReader, str] | None:
        """The chain's lot figures for the I4 loader, and the contract read (None once closed)."""
        return None if self._closed else (chain_reader(self.token), self.token.address)

    # ------------------------------------------------------------------------------------ cycles
    def run_once(self) -> dict[str, int]:
        """One cycle: send what the outbox holds, apply new chain events, retry due dead letters."""
        with self.cycle_lock:
            if self.halted() is not None:  # acts nobody ordered were found on chain: officers must look first
                self.cycles += 1  # only protective freezes still go out
                return {"outbox_rows": self.outbox.drain(only_kinds=PROTECTIVE_OPS), "events": 0,
                        "dead_letters_applied": 0}
            sent = self.outbox.drain()
            applied = self.events.consume()
            if self.settlement is not None:  # the DvP escrow's events (docs/settlement.md), applied once
                applied += self.settlement.consume()
            retried = self.events.retry_due()
            if time.monotonic() - self._last_state_check_s >= self.state_check_interval_s:
                self.check_state()  # continuously: identities and freezes follow the NR
            # confirmations and dead-letter fixes may have produced more outbox work (e.g. freezes)
            sent += self.outbox.drain()
            self.cycles += 1
            return {"outbox_rows": sent, "events": applied, "dead_letters_applied": retried}

    def check_state(self) -> list[dict[str, Any]]:
        """Identities, licences and lot freezes vs the chain, both ways; the NR's state is pushed again where
        they differ (every ``state_check_interval_s`` in the bridge's cycles, and in every reconciliation)."""
        with self.cycle_lock:
            self._last_state_check_s = time.monotonic()
            if self.halted() is not None:
                return []
            with self.reg.store.read() as uow:
                at_block = token_lots.event_cursor_block(uow, self.token.address)
                facts = token_lots.lot_facts(uow, chain_reader(self.token), at_block)
            drift = state_drift(self.reg, self.token, facts)
            if drift:
                with self.reg.store.write() as uow:
                    repush_drift(uow, drift)
            return drift

    def halted(self) -> dict[str, Any] | None:
        """Why the bridge is halted (the whole-chain audit found acts the registry did not order), or None."""
        with self.reg.store.read() as uow:
            return audit.halted(uow)

    def run_until_idle(self, timeout_s: float = 60.0) -> dict[str, int]:
        """Cycle until a cycle finds nothing to do (tests and the CLI use this)."""
        deadline = time.monotonic() + timeout_s
        total = {"outbox_rows": 0, "events": 0, "dead_letters_applied": 0}
        while True:
            done = self.run_once()
            for k, v in done.items():
                total[k] += v
            if not any(done.values()) or time.monotonic() > deadline:
                return total

    def reconcile(self) -> dict[str, Any]:
        """Bring the NR up to the chain head, then compare every lot (I4); freezes and reports mismatches."""
        with self.cycle_lock:
            # reconcile() compares identities, licences and freezes itself (state_drift): the cycles before it
            # skip their periodic state check, which read every lot's figures once more (at 10,000 lots half
            # of a reconciliation's time went to that second pass of the same view calls)
            self._last_state_check_s = time.monotonic()
            self.run_until_idle()
            report = reconcile(self.reg, self.token)
            self._last_state_check_s = time.monotonic()
            self.outbox.drain()  # send the freezes now
            return report

    # ------------------------------------------------------------------------------------ thread
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="sovcarbon-bridge", daemon=True)
        self._thread.start()

    def _cycle_due(self) -> bool:
        """While idle, is a full cycle due? Yes if the last one did work or left blocks unread, if
        ``IDLE_CYCLE_S`` has passed, or if the chain has a block the consumer has not seen (one chain call,
        no database statement)."""
        if self._more or time.monotonic() - self._last_cycle_s >= IDLE_CYCLE_S:
            return True
        try:
            return self.token.block_number() != self.events.head_seen
        except Exception:  # noqa: BLE001 - an unreachable chain: the cycle reports and backs off
            return True

    def _loop(self) -> None:
        """Event-driven: a cycle runs when a commit enqueued chain work (``wake``), when the chain has a new
        block, after a cycle that did work, and at least every ``IDLE_CYCLE_S``; otherwise the worker only
        probes the chain head, every ``poll_interval_s`` after activity, backing off to ``IDLE_PROBE_MAX_S``,
        and touches neither the database nor the GIL much.
        The guarantees do not depend on the timing: the outbox and the event cursor are in the database."""
        backoff_s = self.poll_interval_s
        wait_s = 0.0
        while not self._stop.is_set():
            woken = self._wake.wait(wait_s) if wait_s else True
            self._wake.clear()
            if self._stop.is_set():
                break
            if not woken and not self._cycle_due():
                wait_s = min(max(wait_s, self.poll_interval_s) * 2, max(IDLE_PROBE_MAX_S, self.poll_interval_s))
                continue
            try:
                done = self.run_once()
                self._last_cycle_s = time.monotonic()
                self._more = any(done.values()) or self.events.cursor() <= self.events.head_seen
                self.last_error = None
                backoff_s = self.poll_interval_s
                # after activity, probe soon again; after an idle timed cycle, keep the backed-off interval
                wait_s = self.poll_interval_s if (self._more or woken) else max(wait_s, self.poll_interval_s)
            except Exception as exc:  # noqa: BLE001 - the worker outlives a chain or database outage
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("bridge cycle failed (retrying in %.1f s): %s", backoff_s, self.last_error)
                self._more = True  # retry after the back-off even without a sign
                wait_s = backoff_s
                backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def close(self) -> None:
        """Stop the thread, detach from the registry, close the chain (idempotent)."""
        if self._closed:
            return
        self.stop()
        with self.cycle_lock:
            self._closed = True
            for unwire in reversed(self.on_close):
                unwire()
            self.on_close.clear()
            self.on_settlement.clear()
            self.chain.close()
            if self._lock is not None:
                self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def status(self) -> dict[str, Any]:
        deployment = self.token.deployment
        return {"chain": self.chain.kind, "chain_id": self.chain.chain_id, "contract": self.token.address,
                "bridge_address": self.token.bridge.address,
                "agent_address": self.token.agent.address if self.token.agent is not None else None,
                "block_number": self.token.block_number(),
                "event_cursor": self.events.cursor(), "deploy_block": deployment.deploy_block if deployment else None,
                "running": self._thread is not None, "cycles": self.cycles, "last_error": self.last_error,
                "consumer": self.events.lag(self.max_lag_blocks), "halted": self.halted(),
                "settlement": settlement_status(self)}


def attach(reg: Registry, bridge: Bridge) -> None:
    """``bridge`` now serves ``reg`` (``bootstrap.wire_bridge``)."""
    _ATTACHED[id(reg)] = bridge


def detach(reg: Registry, bridge: Bridge) -> None:
    if _ATTACHED.get(id(reg)) is bridge:
        del _ATTACHED[id(reg)]


def attached(reg: Registry) -> Bridge | None:
    """The open bridge serving ``reg`` (the API and the demo use it), if any."""
    bridge = _ATTACHED.get(id(reg))
    if bridge is None or bridge.closed or bridge.reg is not reg:
        return None
    return bridge
