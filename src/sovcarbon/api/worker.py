"""One process of ``sovcarbon serve --workers N`` (PostgreSQL): its own registry object and application.

The parent (``serve``) created the ledger and applied the migrations before spawning the workers. In every
worker: the HTTP application, the checkpoint timer and the start-up replay check; the chain worker (the
bridge: outbox sender, event consumer) and the peer sync worker run only in the one process holding the
PostgreSQL advisory lease
(``store.leader``). If that process dies, its connection and lease go with it and another worker takes both
within ``LEADER_RETRY_S``. Outbox rows enqueued by the other workers are picked up by the leader's cycle
(``bridge.runtime.IDLE_CYCLE_S``) or at once when the leader itself committed them.

Routes that talk to the chain itself (``/v1/bridge``, reconciliation, officer actions) answer 1007 in the
workers that do not lead; read views of lots then show no chain figures.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI

from sovcarbon.api.app import create_app, limit_recursion
from sovcarbon.config import load_settings
from sovcarbon.services.leadership import start_leader_loop
from sovcarbon.services.registry import Registry

log = logging.getLogger(__name__)


def create_worker_app() -> FastAPI:
    from sovcarbon.bridge import Bridge
    from sovcarbon.services import ledger_audit
    from sovcarbon.services.journal_admin import CheckpointTimer

    reg = Registry(load_settings())
    app = create_app(reg)
    timer = CheckpointTimer(reg, log=log.error).start()
    held: dict[str, Any] = {}
    lock = threading.Lock()

    def elected() -> None:
        from sovcarbon.peers.worker import PeerWorker

        with lock:
            bridge = Bridge.open(reg, settlement=True)
            bridge.start()
            held["bridge"] = bridge
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
