"""Crash-simulation worker: runs the seeded workload, acknowledging each commit, and kills itself with
SIGKILL at a seeded point.

Usage: python crash_worker.py DATA_DIR DATABASE_URL SEED ACK_FILE KILL_STEP KILL_POINT
After every successful command it appends the journal head seq to ACK_FILE and fsyncs, so the parent
can prove that nothing acknowledged was lost. From step KILL_STEP on (steps of this process) it dies at
KILL_POINT:
  between_steps  before running step KILL_STEP (the previous commit acknowledged)
  before_commit  inside the next write transaction, every statement executed, just before COMMIT
                 (SQLAlchemy's ``commit`` connection event fires before the DB-API commit)
  after_commit   right after the next commit, before its acknowledgement (the registry's on_commit hook)
"""

from __future__ import annotations

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))

from simulation import Simulator, resume  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from sovcarbon.config import load_settings  # noqa: E402
from sovcarbon.services.participants import bootstrap  # noqa: E402
from sovcarbon.services.registry import Registry  # noqa: E402
from sovcarbon.store import tables as t  # noqa: E402

KILL_POINTS = ("between_steps", "before_commit", "after_commit")
MAX_STEPS_PAST_KILL = 500  # a workload that commits nothing for this long is a bug: exit 3, the parent fails


def die(*_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    data_dir, url, seed, ack_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    kill_step, kill_point = int(sys.argv[5]), sys.argv[6]
    assert kill_point in KILL_POINTS, kill_point
    reg = Registry(load_settings(data_dir=data_dir, database_url=url))
    bootstrap(reg)
    sim = Simulator(reg, seed=seed)
    sim.setup()
    resume(sim)
    fd = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        if step == kill_step:
            if kill_point == "between_steps":
                die()
            elif kill_point == "before_commit":
                event.listen(reg.store.engine, "commit", die)
            else:
                reg.on_commit.append(die)
        if step > kill_step + MAX_STEPS_PAST_KILL:
            sys.exit(3)
        sim.step()
        with reg.store.read() as uow:
            seq = uow.conn.execute(select(t.journal_head.c.seq)).scalar_one()
        os.write(fd, f"{seq}\n".encode())
        os.fsync(fd)


if __name__ == "__main__":
    main()
