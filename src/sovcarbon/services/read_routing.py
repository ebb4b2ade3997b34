"""Which requests may read from the streaming replica (``SOVCARBON_READ_DATABASE_URL``; ``store.replica``).

The public views, read-only by nature: the explorer pages, supply, holdings, serial lookups, certificates
and the journal. Everything else (officer listings, anything a write depends on) reads the primary. The
writer's own reads stay consistent with its writes (read-your-writes: ``store.replica``).
"""

from __future__ import annotations

import re

from sovcarbon.store import replica

REPLICA_PATHS = re.compile(r"^/$|^/explorer(/|$)|^/v1/supply$|^/v1/journal(/|$)|^/v1/serials/|^/v1/certificates/"
                           r"|^/v1/accounts/[^/]+/holdings$")


def route_request(method: str, path: str, client: str | None) -> None:
    """Mark the current request: who asks (an API key id, else ``ip:<address>``) and whether its reads may go
    to the replica. Called by the HTTP guard before the handler runs."""
    replica.route(client, method in ("GET", "HEAD") and REPLICA_PATHS.match(path) is not None)
