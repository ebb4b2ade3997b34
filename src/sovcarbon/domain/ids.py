"""Prefixed identifiers (``acc_``, ``blk_``, ...), RFC 3339 UTC timestamps, and the registry's clock.

Identifiers take their leading milliseconds from the wall clock on purpose (B-tree locality, not a rule);
everything a rule compares with "now" comes from a ``Clock``."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

PREFIXES = frozenset({"par", "acc", "prj", "iss", "blk", "txn", "ret", "can", "cert", "key", "lot", "loa", "exp",
                      "itmo", "ca", "out", "evt", "plg", "dvp", "frz", "dev", "obs", "rep", "msg", "peer",
                      "adt", "tcn", "pkey"})


def new_id(prefix: str) -> str:
    """``prefix_`` + 12 hex digits of milliseconds + 80 random bits.

    Time-ordered ids land at the right edge of B-tree primary keys (cheap inserts in a store with
    millions of blocks); the random part keeps them unguessable and collision-free.
    """
    assert prefix in PREFIXES, prefix
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class Clock(Protocol):
    """Where the registry reads the time. Every rule that depends on "now" (LoA timeframes, key expiry, the
    AEF's running year, timestamps in the journal) reads it from the store's clock, never the wall clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Production: the wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK: Clock = SystemClock()


class FixedClock:
    """Tests (and replays): a clock set to a chosen instant. ``ticking`` lets it advance with real elapsed time
    from that instant (timestamps stay ordered); ``set`` and ``advance`` move it."""

    def __init__(self, at: datetime | str, *, ticking: bool = True) -> None:
        self._at = parse_instant(at)
        self._ticking = ticking
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._t0) if self._ticking else self._at

    def set(self, at: datetime | str) -> None:
        self._at, self._t0 = parse_instant(at), time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def parse_instant(at: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime or an ISO 8601 text (``Z`` allowed; naive means UTC)."""
    value = datetime.fromisoformat(at.replace("Z", "+00:00")) if isinstance(at, str) else at
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_instant(at: datetime) -> str:
    """RFC 3339 UTC with microseconds, fixed width, so that timestamps compare as strings."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now(clock: Clock | None = None) -> str:
    """Now on ``clock`` (default: the wall clock) as a fixed-width RFC 3339 text."""
    return format_instant((clock or SYSTEM_CLOCK).now())
