"""Cross-border transfer benchmark (peer issue, goal: p50 under 0.5 s), beside two local transfers measured
on the same two stores in the same run.

Two real ``sovcarbon serve`` processes on loopback, set up exactly as the peer tests do
(``tests/interop/peer_world.start_pair``): Thailand (the demo, SQLite) and Indonesia (its profile; PostgreSQL
when SOVCARBON_TEST_DATABASE_URL is set). Timed: ``POST /v1/peer-transfers`` of 1,000 kg under the demo LoA,
end to end (lock, PROPOSE/ACCEPT, commit with first transfer and CA, COMMIT/ACK, FINAL/ACK: the call returns
when the destination holds the units); baseline: ``POST /v1/transfers`` of 1,000 kg on each registry.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(_TESTS / "interop"), str(_TESTS)]  # peer_world imports tests/served.py

from peer_world import Pair, start_pair  # noqa: E402 - the peer tests' two-registry setup


def _pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure(pair: Pair, n: int) -> dict[str, list[float]]:
    th, idn = pair.th, pair.id
    second = idn.ok("POST", "/v1/accounts", "admin", {"participant_id": idn.ids["company"], "kind": "holding"})

    def cross() -> None:
        out = th.ok("POST", "/v1/peer-transfers", "proponent", {
            "peer_id": "ID-NR", "account_id": th.ids["foundation_acc"],
            "destination_account_id": idn.ids["company_acc"], "entity": "PT Nusantara Hijau (demo)",
            "authorization_id": th.ids["loa"], "purpose": "ndc", "quantity_kg": 1_000})
        assert out["state"] == "completed", out

    def local_th() -> None:
        th.ok("POST", "/v1/transfers", "proponent", {"from_account_id": th.ids["foundation_acc"],
                                                     "to_account_id": th.ids["cement_acc"], "quantity_kg": 1_000})

    def local_id() -> None:
        idn.ok("POST", "/v1/transfers", "company", {"from_account_id": idn.ids["company_acc"],
                                                    "to_account_id": second["id"], "quantity_kg": 1_000})

    cross()  # warm-up (connections, first mirror issuance at the destination)
    local_th()
    return {"cross": _timed(cross, n), "local_th": _timed(local_th, n), "local_id": _timed(local_id, n)}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 10 if quick else 40
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        pairs = start_pair(Path(tmp))
        pair = next(pairs)
        try:
            times = measure(pair, n)
        finally:
            pairs.close()
    p50 = statistics.median(times["cross"]) * 1000
    p99 = _pct(times["cross"], 0.99) * 1000
    th50 = statistics.median(times["local_th"]) * 1000
    id50 = statistics.median(times["local_id"]) * 1000
    store = "SQLite -> PostgreSQL" if os.environ.get("SOVCARBON_TEST_DATABASE_URL") else "SQLite -> SQLite"
    return [
        {"benchmark": f"cross-border transfer p50, end to end ({store}, n={n})", "figure": f"{p50:.0f}", "unit": "ms",
         "baseline": f"local transfers p50 TH {th50:.1f} + ID {id50:.1f} ms", "ratio": f"{p50 / (th50 + id50):.1f}x",
         "goal": "p50 < 500 ms"},
        {"benchmark": f"cross-border transfer p99 ({store})", "figure": f"{p99:.0f}", "unit": "ms",
         "baseline": f"local p99 TH {_pct(times['local_th'], 0.99) * 1000:.1f} ms", "ratio": "", "goal": ""},
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
