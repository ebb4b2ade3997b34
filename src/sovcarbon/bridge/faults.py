"""Injected crashes for the crash-safety tests: ``SOVCARBON_FAULT`` names a point in the bridge where the
process dies at once (``os._exit(137)``, as SIGKILL would: no cleanup, no commit, no flush).

Format: ``POINT[:KIND][@N]`` - die at the N-th time (default the first) the bridge passes POINT, counting
only operations of KIND (an outbox kind such as ``mint``, or an event name such as ``Retired``) when given.
Points: after_outbox_commit, after_tx_hash_recorded, after_send, after_receipt, after_confirm (outbox);
after_events_read, after_event_applied, after_dead_letter, after_cursor_saved (events);
after_escrow_events_read (read, nothing applied), after_escrow_event_applied (inside the transaction),
after_escrow_cursor_saved (DvP escrow events).
"""

from __future__ import annotations

import os
import sys

FAULT_ENV = "SOVCARBON_FAULT"
CRASH_EXIT_CODE = 137
POINTS = frozenset({"after_outbox_commit", "after_tx_hash_recorded", "after_send", "after_receipt",
                    "after_confirm", "after_events_read", "after_event_applied", "after_dead_letter",
                    "after_cursor_saved", "after_escrow_events_read", "after_escrow_event_applied",
                    "after_escrow_cursor_saved"})
_hits: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, str | None, int]:
    spec, _, nth = spec.partition("@")
    point, _, kind = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"{FAULT_ENV}={spec!r}: unknown point (one of {sorted(POINTS)})")
    return point, kind or None, int(nth) if nth else 1


def fault(point: str, kind: str | None = None) -> None:
    """Die here if ``SOVCARBON_FAULT`` names this point (and kind) and its count is reached."""
    assert point in POINTS, point
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    wanted_point, wanted_kind, nth = _parse(spec)
    if wanted_point != point or (wanted_kind is not None and wanted_kind != kind):
        return
    _hits[spec] = _hits.get(spec, 0) + 1
    if _hits[spec] == nth:
        sys.stderr.write(f"injected crash at {point} ({kind})\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)
