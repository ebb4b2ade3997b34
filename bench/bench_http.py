"""HTTP transfer benchmark (performance issue, goal 1), beside baselines measured in the same run:

* the service-layer rate of the same partial transfer (``bench_core.transfer_rate``) on the same database,
* the raw single-row INSERT+COMMIT rate of that database.

A real ``sovcarbon serve`` process (uvicorn, the bridge thread with its embedded chain, the checkpoint timer,
the HTTP guard) answers one client sending sequential ``POST /v1/transfers`` over one kept-alive httpx
connection, each with its own ``Idempotency-Key`` and the holder's real API key. Goal: HTTP >= 0.5x the
service layer and p99 < 25 ms (SQLite, one client).

``python -m bench.bench_http [--profile FILE]`` runs it alone; ``--profile`` samples the server with py-spy
during the timed loop (``py-spy record --pid --format raw --threads``) to show where a transfer's time goes.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.bench_core import (
    RATE_CLIENTS,
    build_registry,
    database,
    fund_rate_sources,
    pg_url,
    raw_commit_rate,
    seed_world,
    transfer_rate,
)
from sovcarbon.domain.model import Role
from sovcarbon.services import auth


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(url: str, data_dir: Path, port: int, workers: int = 1) -> tuple[subprocess.Popen[bytes], float]:
    """``sovcarbon serve`` in steady state: (process, seconds from start until its start-up check had answered -
    a replay of the whole ledger in its own process; its time is its own figure, not the requests')."""
    env = {**os.environ, "SOVCARBON_DATA_DIR": str(data_dir), "SOVCARBON_DATABASE_URL": url,
           "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1"}
    sovcarbon = str(Path(sys.executable).with_name("sovcarbon"))
    cmd = [sovcarbon, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def checked() -> bool:
        info = httpx.get(f"http://127.0.0.1:{port}/v1/registry", timeout=1.0)
        return info.status_code == 200 and info.json().get("startup_check") != "running"

    _wait_ready(proc, checked, 120.0, "serve")
    return proc, time.monotonic() - started


def _start_floor(port: int) -> subprocess.Popen[bytes]:
    """``bench/floor_app.py`` under the same uvicorn: the framework's floor for this route on this machine."""
    cmd = [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _wait_ready(proc, lambda: httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1.0).status_code == 200, 60.0,
                "the floor app")
    return proc


def _wait_ready(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``ready`` until it is true; fail with the process's last output if it exits, kill it on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _wait_for_startup_checks(pid: int, workers: int, timeout_s: float = 120.0) -> None:
    """Until ``serve --workers N`` (pid) has only its N worker processes below it (each worker's start-up check
    is a spawned child of that worker, gone when it has answered; multiprocessing's resource tracker may stay)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        procs = [p for p in _descendants(pid) if "resource_tracker" not in _cmdline(p)]
        if len(procs) <= (workers if workers > 1 else 0):
            return
        time.sleep(0.1)
    raise RuntimeError("the workers' start-up checks did not finish")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(2)  # SIGINT: serve signs its shutdown checkpoint
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _py_spy(pid: int, seconds: float, out: str) -> subprocess.Popen[bytes]:
    """Sample the steady state of the server (after the warm-up): py-spy raw stacks, per thread."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--threads", "--rate", "250",
                             "--duration", str(max(1, int(seconds))), "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used: a figure the machine's load hardly moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_transfers(base_url: str, key: str, src: str, dst: str, seconds: float, warmup: int = 50,
                   profile: tuple[int, str] | None = None,
                   pid: int | None = None) -> tuple[float, list[float], float | None]:
    """Sequential partial transfers over one kept-alive connection: (transfers/s, latencies in s, server CPU
    ms per transfer when ``pid`` is given). ``profile``: (server pid, output file) to sample with py-spy."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {"from_account_id": src, "to_account_id": dst, "quantity_kg": 7}
    times: list[float] = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        for _ in range(warmup):
            r = client.post("/v1/transfers", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 201, r.text
        spy = _py_spy(profile[0], seconds, profile[1]) if profile else None
        cpu_before_s = _cpu_s(pid) if pid is not None and not spy else None
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            t0 = time.perf_counter()
            r = client.post("/v1/transfers", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 201, r.text
        rate = len(times) / (time.perf_counter() - started)
        cpu_ms = None if cpu_before_s is None or pid is None else (_cpu_s(pid) - cpu_before_s) * 1000 / len(times)
    if spy is not None:
        spy.wait(timeout=120)
    return rate, times, cpu_ms


def concurrent_http_rate(base_url: str, key: str, pairs: list[tuple[str, str]], seconds: float) -> float:
    """One thread and one kept-alive connection per pair (each client between its own two accounts)."""
    counts = [0] * len(pairs)
    stop_s = time.perf_counter() + seconds

    def client(i: int) -> None:
        src, dst = pairs[i]
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60.0) as c:
            body = {"from_account_id": src, "to_account_id": dst, "quantity_kg": 7}
            while time.perf_counter() < stop_s:
                r = c.post("/v1/transfers", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                assert r.status_code == 201, r.text
                counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(pairs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.perf_counter() - started)


def measure_workers(seconds: float, workers: list[int], clients: int = RATE_CLIENTS) -> dict[int, float]:
    """PostgreSQL: 8 concurrent HTTP clients against ``serve --workers N`` for each N (same database)."""
    rates: dict[int, float] = {}
    with database("postgresql") as (url, data_dir):
        reg = build_registry(url, data_dir)
        accs, _ = seed_world(reg, 1 + 2 * RATE_CLIENTS, 100_000_000)
        # each client between its own two accounts (8 holders at work), as bench_core's own-accounts rate: out of
        # one shared account the transfers queue on it by rule (lowest serials first) whatever N is
        fund_rate_sources(reg, accs)
        with reg.store.read() as uow:
            participant = uow.repo.account(accs[0]).participant_id
        _, key = auth.create_key(reg, Role.HOLDER, participant, "bench holder")
        reg.store.dispose()
        pairs = [(accs[1 + 2 * i], accs[2 + 2 * i]) for i in range(clients)]
        for n in workers:
            port = _free_port()
            proc, _ = _start_server(url, data_dir, port, workers=n)
            try:
                base_url = f"http://127.0.0.1:{port}"
                # Steady state: every worker's start-up check (one spawned process per worker, replaying the
                # ledger) has finished - /v1/registry answers from whichever worker accepts the connection, so
                # the bench waits until the server's process tree is the workers alone; then a warm-up, so that
                # every process has its caches.
                _wait_for_startup_checks(proc.pid, n)
                concurrent_http_rate(base_url, key, pairs, 1.0)
                rates[n] = concurrent_http_rate(base_url, key, pairs, seconds)
            finally:
                _stop_server(proc)
    return rates


def _pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(len(ordered) * q) - 1)] * 1000


def measure(kind: str, seconds: float, runs: int, profile: str | None = None) -> dict[str, Any]:
    with database(kind) as (url, data_dir):
        raw = raw_commit_rate(url, seconds / 2)
        reg = build_registry(url, data_dir)
        accs, _ = seed_world(reg, 10, 100_000_000)
        with reg.store.read() as uow:
            participant = uow.repo.account(accs[0]).participant_id
        _, key = auth.create_key(reg, Role.HOLDER, participant, "bench holder")
        reg.store.dispose()
        port = _free_port()
        service: list[float] = []
        service_cpu: list[float] = []
        http_cpu: list[float] = []
        http: list[float] = []
        floor: list[float] = []
        floor_cpu: list[float] = []
        startup_check_s: list[float] = []
        p50s: list[float] = []
        p99s: list[float] = []
        for _ in range(runs):  # alternate, so that both see the same machine load and database size
            reg = build_registry(url, data_dir)
            cpu_before_s = time.process_time()
            service.append(transfer_rate(reg, accs, 1, seconds))
            service_cpu.append((time.process_time() - cpu_before_s) * 1000 / (service[-1] * seconds))
            reg.store.dispose()
            proc, startup_s = _start_server(url, data_dir, port)
            startup_check_s.append(startup_s)
            try:
                rate, times, cpu_ms = http_transfers(f"http://127.0.0.1:{port}", key, accs[0], accs[1], seconds,
                                                     profile=(proc.pid, profile) if profile else None, pid=proc.pid)
            finally:
                _stop_server(proc)
            floor_proc = _start_floor(port)
            try:
                floor_rate, _, floor_ms = http_transfers(f"http://127.0.0.1:{port}", key, accs[0], accs[1], seconds,
                                                         pid=floor_proc.pid)
            finally:
                _stop_server(floor_proc)
            floor.append(floor_rate)
            if floor_ms is not None:
                floor_cpu.append(floor_ms)
            http.append(rate)
            if cpu_ms is not None:
                http_cpu.append(cpu_ms)
            p50s.append(_pct(times, 0.50))
            p99s.append(_pct(times, 0.99))
            profile = None  # profile the first run only
    return {"raw": raw, "service": statistics.median(service), "http": statistics.median(http),
            "p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s), "runs": runs,
            "floor": statistics.median(floor), "floor_cpu_ms": statistics.median(floor_cpu) if floor_cpu else None,
            "startup_check_s": statistics.median(startup_check_s),
            "service_cpu_ms": statistics.median(service_cpu),
            "http_cpu_ms": statistics.median(http_cpu) if http_cpu else None}


def run(quick: bool = False) -> list[dict[str, Any]]:
    seconds = 2.0 if quick else 5.0
    runs = 1 if quick else 3
    m = measure("sqlite", seconds, runs)
    load = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    if pg_url():
        workers = sorted({1, 2, os.cpu_count() or 1})  # beyond the cores the processes only contend
        rates = measure_workers(seconds, workers)
        for n in workers:
            rows.append(dict(benchmark=f"HTTP transfers/s, 8 clients, serve --workers {n} (postgresql)",
                             figure=round(rates[n]), unit="tx/s", baseline=f"--workers 1: {rates[1]:.0f}/s",
                             ratio=f"{rates[n] / rates[1]:.2f}", goal="grows with N (to the cores)"))
    return rows + [
        dict(benchmark=f"HTTP transfers/s, 1 client (sqlite; median of {m['runs']}; load {load:.1f})",
             figure=round(m["http"]), unit="tx/s",
             baseline=f"service layer {m['service']:.0f}/s (raw INSERT+COMMIT {m['raw']:.0f}/s)",
             ratio=f"{m['http'] / m['service']:.2f} ({m['http'] / m['raw']:.2f} of raw)", goal=">= 0.50"),
        dict(benchmark="HTTP floor: the same uvicorn + FastAPI route validating the same body, no registry "
                       "(bench/floor_app.py), 1 client", figure=round(m["floor"]), unit="req/s",
             baseline=f"our HTTP transfers {m['http']:.0f}/s; floor CPU "
                      f"{m['floor_cpu_ms'] or float('nan'):.2f} ms/request",
             ratio=f"ours {m['http'] / m['floor']:.2f} of the floor; floor {m['floor'] / m['service']:.2f} of the "
                   "service layer", goal="-"),
        dict(benchmark="HTTP partial transfer latency, 1 client (sqlite)",
             figure=f"p50 {m['p50_ms']:.2f} / p99 {m['p99_ms']:.2f}", unit="ms", baseline="-", ratio="-",
             goal="p99 < 25"),
        dict(benchmark="CPU per transfer: serve process (all threads) vs service layer (sqlite)",
             figure=f"{m['http_cpu_ms']:.2f}" if m["http_cpu_ms"] is not None else "-", unit="ms CPU",
             baseline=f"service layer {m['service_cpu_ms']:.2f} ms CPU",
             ratio=f"{m['http_cpu_ms'] / m['service_cpu_ms']:.2f}" if m["http_cpu_ms"] else "-", goal="-"),
        dict(benchmark="serve: start -> start-up check done (its own process; the port answers before)",
             figure=f"{m['startup_check_s']:.2f}" if m["startup_check_s"] is not None else "-", unit="s",
             baseline="-", ratio="-", goal="-"),
    ]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", default=None, help="py-spy raw output file (first run)")
    parser.add_argument("--workers", default="", help="e.g. 1,2,4: 8 clients on PostgreSQL per serve --workers N")
    args = parser.parse_args()
    os.environ.setdefault("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")
    if args.workers:
        print(measure_workers(args.seconds, [int(n) for n in args.workers.split(",")]))
    else:
        print(measure("sqlite", args.seconds, args.runs, args.profile))
