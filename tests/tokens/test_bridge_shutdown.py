"""A real `sovcarbon serve` closes its bridge on SIGTERM (B2 item b).

uvicorn re-raises SIGTERM after its own shutdown, so `serve`'s `finally: bridge.close()` never ran: the worker
thread died mid-cycle and the embedded chain's SQLite file was left open (its write-ahead log never folded
back). The bridge is now closed in the application's shutdown event."""

from __future__ import annotations

from pathlib import Path

import served


def test_serve_closes_the_bridge_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = served.start(served.clean_env(data_dir, SOVCARBON_ALLOW_KEY_IN_DATA_DIR="1"))
    try:
        server.wait_healthy()
        wal = data_dir / "chain.sqlite3-wal"
        assert wal.exists()  # the running chain writes through its write-ahead log
    finally:
        output = server.stop()  # SIGTERM
    # closed: the worker stopped, the chain's last connection folded its log back and removed it
    assert not wal.exists(), output
    assert server.proc.returncode in (0, -15), output
