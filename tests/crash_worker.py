"""Crash-simulation worker: runs the seeded workload until killed, acknowledging each commit.

Usage: python crash_worker.py DATA_DIR DATABASE_URL SEED ACK_FILE
After every successful command it appends the journal head seq to ACK_FILE and fsyncs, so the parent
can prove that nothing acknowledged was lost when it kills this process with SIGKILL.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from simulation import Simulator, resume  # noqa: E402
from sqlalchemy import select  # noqa: E402

from sovcarbon.config import load_settings  # noqa: E402
from sovcarbon.services.participants import bootstrap  # noqa: E402
from sovcarbon.services.registry import Registry  # noqa: E402
from sovcarbon.store import tables as t  # noqa: E402


def main() -> None:
    data_dir, url, seed, ack_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    reg = Registry(load_settings(data_dir=data_dir, database_url=url))
    bootstrap(reg)
    sim = Simulator(reg, seed=seed)
    sim.setup()
    resume(sim)
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print("ready", flush=True)
    while True:
        sim.step()
        with reg.store.read() as uow:
            seq = uow.conn.execute(select(t.journal_head.c.seq)).scalar_one()
        os.write(fd, f"{seq}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main()
