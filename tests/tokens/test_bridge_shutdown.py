"""A real `sovcarbon serve` closes its bridge on SIGTERM (B2 item b).

uvicorn re-raises SIGTERM after its own shutdown, so `serve`'s `finally: bridge.close()` never ran: the worker
thread died mid-cycle and the embedded chain's SQLite file was left open (its write-ahead log never folded
back). The bridge is now closed in the application's shutdown event."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def test_serve_closes_the_bridge_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVCARBON_")}
    env.update(SOVCARBON_DATA_DIR=str(data_dir), SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sovcarbon.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        wal = data_dir / "chain.sqlite3-wal"
        assert wal.exists()  # the running chain writes through its write-ahead log
    finally:
        proc.terminate()  # SIGTERM
        output, _ = proc.communicate(timeout=60)
    # closed: the worker stopped, the chain's last connection folded its log back and removed it
    assert not wal.exists(), output
    assert proc.returncode in (0, -15), output
