"""Which serving process leads: the one holding the chain worker's lease runs the chain and peer workers."""

from __future__ import annotations

from collections.abc import Callable

from sovcarbon.services.registry import Registry
from sovcarbon.store.leader import LeaderLoop, Lease


def start_leader_loop(reg: Registry, on_elected: Callable[[], None], on_lost: Callable[[], None]) -> LeaderLoop:
    """Contend for the lease on this registry's database; call ``on_elected``/``on_lost`` as it is won or lost."""
    return LeaderLoop(Lease(reg.store.engine), on_elected, on_lost).start()
