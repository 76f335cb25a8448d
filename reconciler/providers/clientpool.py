"""Live stage: TLS connections kept across runs of the same vendor (the daemon, #16).

A CLI run opens each vendor's connections once and closes them at the end. The
daemon reconciles every customer every few minutes: without this, each run of
each customer paid a TCP connect, a TLS handshake and an SSL context (system CAs
loaded) per vendor. While a `ClientPool` is in use, `build_client` gives every
client of one vendor account the same connection pool (an httpx transport),
keyed by vendor, base URL, credentials fingerprint and TLS settings; each run
still gets its own `httpx.Client` (headers, auth hooks and base URL are per
client, so a credential added after an anonymous lookup never reaches the
lookup). Closing a client leaves the shared transport open; the pool closes
them all on shutdown and when the config changes (`clear`).

Not pooled: clients with an injected transport (tests), and any client while a
proxy is configured in the environment (httpx honours proxy variables only for
clients that build their own transport).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable

import httpx

log = logging.getLogger("reconciler.http")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class _Kept(httpx.BaseTransport):
    """A pooled transport as one client sees it: closing the client does not close it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass  # the pool's to close


class ClientPool:
    """Connection pools by vendor account; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, httpx.BaseTransport] = {}
        self.opened = 0  # transports made (for tests and logs)

    def transport(self, key: str, make: Callable[[], httpx.BaseTransport]) -> httpx.BaseTransport:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = make()
                self.opened += 1
        return _Kept(pool)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pools)

    def clear(self) -> int:
        """Close every kept connection (config changed: credentials, CAs or URLs may have)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            try:
                pool.close()
            except Exception:  # a broken connection must not stop the others from closing
                log.debug("closing a kept connection pool failed", exc_info=True)
        return len(pools)

    close = clear


_active: ClientPool | None = None


def use(pool: ClientPool | None) -> ClientPool | None:
    """Make `pool` the one `build_client` uses (None: none); returns the previous one."""
    global _active
    previous, _active = _active, pool
    return previous


def active() -> ClientPool | None:
    if _active is None or any(os.environ.get(v) or os.environ.get(v.lower()) for v in PROXY_VARIABLES):
        return None
    return _active


def pool_key(account: str, *parts: object) -> str:
    """A key naming a vendor account (kind, base URL, credentials fingerprint) and the TLS
    settings; hashed, so no credential or fingerprint text is kept in memory as a key."""
    text = "\0".join([account, *map(str, parts)])
    return hashlib.sha256(text.encode()).hexdigest()
