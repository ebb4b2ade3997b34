"""The peer recovery worker inside ``sovcarbon serve``: every ``SYNC_INTERVAL_S`` it runs ``interop.sync``
(drive open outgoing transfers with their stored messages, return units not accepted in time, resolve
in-doubt incoming transfers by a status query). A crashed registry resumes where its ledger says it was."""

from __future__ import annotations

import logging
import threading

from sovcarbon.services import interop
from sovcarbon.services.registry import Registry

SYNC_INTERVAL_S = 1.0
log = logging.getLogger(__name__)


class PeerWorker:
    def __init__(self, reg: Registry, interval_s: float = SYNC_INTERVAL_S) -> None:
        self.reg = reg
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peer-sync", daemon=True)

    def start(self) -> PeerWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.reg.store.read_only_reason is not None:
                continue
            try:
                interop.sync(self.reg)
            except Exception:  # noqa: BLE001 - the worker keeps running; the next round retries
                log.exception("peer sync round failed")
