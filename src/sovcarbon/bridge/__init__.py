"""The bridge between the NR (registry of record) and its token chain: a transactional outbox worker,
an exactly-once chain event consumer with dead letters, and reconciliation (I4). See
``docs/tokenization.md``. The NR side of every effect lives in ``services.tokenization``, ``token_outbox``,
``token_outcomes``, ``token_lots`` and ``token_identity``."""

from sovcarbon.bridge.runtime import Bridge, attached

__all__ = ["Bridge", "attached"]
