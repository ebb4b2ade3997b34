"""Injected crashes for the peer fault tests: ``SOVCARBON_PEER_FAULT=POINT`` makes the process die at
once (``os._exit(137)``, as SIGKILL would) the first time it passes POINT.

Origin points: after_lock (units locked, PROPOSE not sent), after_accept (ACCEPT received, not committed),
after_commit (commit point passed, COMMIT not sent), after_commit_sent (COMMIT answered, answer not
recorded), after_final_sent. Destination points: before_commit_ack (COMMIT applied and committed, the
answer not yet sent), before_final_ack. ``delay_accept`` does not crash: the destination takes ``DELAY_S``
seconds before it reads any message (a late acceptance).
"""

from __future__ import annotations

import os
import sys
import time

FAULT_ENV = "SOVCARBON_PEER_FAULT"
POINTS = frozenset({"after_lock", "after_accept", "after_commit", "after_commit_sent", "after_final_sent",
                    "before_commit_ack", "before_final_ack", "delay_accept"})
DELAY_S = 3.0


def fault(point: str) -> None:
    assert point in POINTS, point
    if os.environ.get(FAULT_ENV) == point == "delay_accept":
        time.sleep(DELAY_S)
        return
    if os.environ.get(FAULT_ENV) == point:
        sys.stderr.write(f"peer fault point {point}: exiting\n")
        sys.stderr.flush()
        os._exit(137)
