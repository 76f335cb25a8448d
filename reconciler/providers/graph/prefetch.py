"""Live stage (Entra): read many customers' tenants at once, with a bounded pool.

Graph throttles per app *and tenant*, so tenants can be read in parallel; the
pool size is Settings `connections.graph.maxConcurrentTenants`. One customer's
failure (a wrong secret, an app not consented in its tenant, Graph errors)
becomes that customer's `ProviderError` and does not stop the others.

The engine can call `prefetch` before planning and hand each customer its
snapshot (or its error). The cursor store must be safe to use from several
threads (the SQLite state store is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from reconciler.core.model import DirectorySnapshot
from reconciler.errors import ProviderError, ReconcilerError
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.graph.reader import open_entra
from reconciler.providers.limits import Sleep

log = logging.getLogger("reconciler.providers.graph")


def prefetch(
    contexts: Sequence[ProviderContext],
    scopes: Mapping[str, DirectoryScope] | None = None,
    *,
    max_workers: int | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = time.sleep,
) -> dict[str, DirectorySnapshot | ProviderError]:
    """Each customer's Entra snapshot, or the error that kept us from reading it."""
    if not contexts:
        return {}
    if max_workers is None:
        conn = contexts[0].settings.connections.graph
        max_workers = conn.max_concurrent_tenants if conn is not None else 1
    scopes = scopes or {}

    def one(ctx: ProviderContext) -> DirectorySnapshot | ProviderError:
        where = f"{ctx.name}: entra"
        try:
            reader = open_entra(ctx, clock=clock, sleep=sleep)
            return reader.read(scopes.get(ctx.name, DirectoryScope()))
        except ProviderError as exc:
            return exc
        except ReconcilerError as exc:  # e.g. a secret reference that does not resolve
            return ProviderError(where, str(exc).removeprefix(where).lstrip(": "))
        except Exception as exc:  # a bug: keep the traceback in the log, go on with the others
            log.exception("%s: unexpected error while reading the tenant", where)
            return ProviderError(where, f"internal error ({type(exc).__name__}); see the log")

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="entra") as pool:
        results = list(pool.map(one, contexts))
    return {ctx.name: result for ctx, result in zip(contexts, results, strict=True)}
