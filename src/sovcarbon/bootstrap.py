"""The composition root: the one place that wires the adapters to what the services read at run time.

Nothing registers itself by being imported or constructed (``tests/test_architecture.py`` checks the
imports). Wired here, explicitly:

* the chain's lot figures for the I4 loader (``services.token_lots.CHAIN_READERS``), the outbox waker run
  after a commit that enqueued chain work (``services.token_outbox.OUTBOX_WAKERS``), the escrow reader of
  the ESCROW loader (``services.settlement.ESCROW_READERS``, once the bridge consumes an escrow) and the
  bridge serving a registry (``bridge.attached``: token routes, the demo): the open ``Bridge``, by
  ``start_bridge``;
* the invariant snapshot loaders (I4 lots, I6 Article 6, settlement, journal): listed in
  ``services.invariants.SNAPSHOT_LOADERS`` (a static tuple, no hook);
* commit hooks of a registry (``Registry.on_commit``): their owners, on the registry object.

``start_bridge`` is used by ``serve`` (one process or the leader of ``serve --workers``), the in-process
demo, and the token tests' fixtures; closing the bridge unwires it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI

from sovcarbon.bridge import runtime
from sovcarbon.bridge.runtime import Bridge
from sovcarbon.bridge.settlement_events import SettlementConsumer
from sovcarbon.services import settlement, token_lots, token_outbox
from sovcarbon.services.registry import Registry

log = logging.getLogger(__name__)


def start_bridge(reg: Registry, *, settlement: bool = False, start: bool = False, **options: Any) -> Bridge:
    """Open the registry's bridge (``Bridge.open``: chain, contract, with ``settlement`` the cash token and the
    escrow) and wire it to the services; with ``start``, start its worker thread. ``options`` go to
    ``Bridge.open`` (chain_url, keys, cache_dir, poll_interval_s, ...)."""
    bridge = Bridge.open(reg, settlement=settlement, **options)
    wire_bridge(reg, bridge)
    if start:
        bridge.start()
    return bridge


def wire_bridge(reg: Registry, bridge: Bridge) -> None:
    """Make the services of ``reg`` see ``bridge``: the I4 loader reads the chain through it, a commit that
    enqueued chain work wakes it, ``bridge.attached(reg)`` finds it, the ESCROW loader reads the escrow its
    settlement consumer watches (now, or when ``Bridge.attach_settlement`` attaches one). Undone when the bridge
    closes."""
    store = reg.store
    token_lots.CHAIN_READERS[store] = bridge.reader_source
    # Woken by the commit of a transaction that enqueued chain work (token_outbox.enqueue), not by every commit:
    # a transfer or a retirement of untokenized units must not make the worker run a cycle.
    token_outbox.OUTBOX_WAKERS[store] = bridge.wake
    runtime.attach(reg, bridge)

    def wire_escrow(consumer: SettlementConsumer) -> None:
        settlement.ESCROW_READERS[store] = (consumer.escrow.address, consumer.holdings_at)

    if bridge.settlement is not None:  # Bridge.open(settlement=True) attached it before this wiring
        wire_escrow(bridge.settlement)
    bridge.on_settlement.append(wire_escrow)

    def unwire() -> None:
        if token_outbox.OUTBOX_WAKERS.get(store) == bridge.wake:
            del token_outbox.OUTBOX_WAKERS[store]
        if token_lots.CHAIN_READERS.get(store) == bridge.reader_source:
            del token_lots.CHAIN_READERS[store]
        if bridge.settlement is not None:
            settlement.ESCROW_READERS.pop(store, None)
        runtime.detach(reg, bridge)

    bridge.on_close.append(unwire)


def create_worker_app() -> FastAPI:
    """One process of ``sovcarbon serve --workers N`` (PostgreSQL): its own registry object and application.

    The parent (``serve``) created the ledger and applied the migrations before spawning the workers. In every
    worker: the HTTP application, the checkpoint timer and the start-up replay check; the chain worker (the
    bridge: outbox sender, event consumer) and the peer sync worker run only in the one process holding the
    PostgreSQL advisory lease (``store.leader``). If that process dies, its connection and lease go with it and
    another worker takes both within ``LEADER_RETRY_S``. Outbox rows enqueued by the other workers are picked
    up by the leader's cycle (``bridge.runtime.IDLE_CYCLE_S``) or at once when the leader itself committed them.

    Routes that talk to the chain itself (``/v1/bridge``, reconciliation, officer actions) answer 1007 in the
    workers that do not lead; read views of lots then show no chain figures."""
    from sovcarbon.api.app import create_app, limit_recursion
    from sovcarbon.config import load_settings
    from sovcarbon.peers.worker import PeerWorker
    from sovcarbon.services import ledger_audit
    from sovcarbon.services.journal_admin import CheckpointTimer
    from sovcarbon.services.leadership import start_leader_loop

    reg = Registry(load_settings())
    app = create_app(reg)
    timer = CheckpointTimer(reg, log=log.error).start()
    held: dict[str, Any] = {}
    lock = threading.Lock()

    def elected() -> None:
        with lock:
            held["bridge"] = start_bridge(reg, settlement=True, start=True)
            held["peers"] = PeerWorker(reg).start()  # cross-border transfers: driven by the leader alone

    def lost() -> None:
        with lock:
            peers = held.pop("peers", None)
            if peers is not None:
                peers.stop()
            bridge = held.pop("bridge", None)
            if bridge is not None:
                bridge.close()

    leader = start_leader_loop(reg, elected, lost)
    app.state.leader = leader
    app.router.add_event_handler("shutdown", leader.stop)
    app.router.add_event_handler("shutdown", timer.stop)
    ledger_audit.startup_check(reg, log_line=log.error)
    limit_recursion()
    return app
