"""Live stage: TLS contexts (system CAs plus an optional caFile, shared per file;
verification off only when asked, loudly) and credential hooks that keep keys out
of every client's repr and default headers."""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler.errors import ProviderError

log = logging.getLogger("reconciler.http")


def key_fingerprint(secret: SecretStr) -> str:
    """A short one-way digest of a credential, to tell accounts apart without the key."""
    return hashlib.sha256(secret.get_secret_value().encode()).hexdigest()[:16]


class ApiKeyAuth(httpx.Auth):
    """Adds an API key header to each request; the key is kept out of the client's
    default headers so no repr of the client or its settings can show it."""

    def __init__(self, header: str, key: SecretStr) -> None:
        self._header, self._key = header, key

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers[self._header] = self._key.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth({self._header!r}, **********)"


def tls_verify(ca_file: str | None, insecure: bool, base_dir: Path, where: str) -> ssl.SSLContext | bool:
    """An SSL context for httpx: system CAs plus `ca_file`; False only when asked, loudly."""
    if insecure:
        log.warning(
            "%s: TLS certificate verification is OFF (insecureSkipVerify); traffic can be intercepted", where
        )
        return False
    path = (base_dir / ca_file).resolve() if ca_file else None
    try:
        key = (str(path), path.stat().st_mtime_ns) if path is not None else ("", 0)
    except OSError as exc:
        raise ProviderError(where, f"cannot load CA file {ca_file}: {exc.__class__.__name__}") from None
    with _contexts_lock:
        ctx = _contexts.get(key)
    if ctx is not None:
        return ctx
    ctx = ssl.create_default_context()
    if path is not None:
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError(where, f"cannot load CA file {ca_file}: {exc.__class__.__name__}") from None
    with _contexts_lock:
        _contexts[key] = ctx
    return ctx


# Loading the system CA store costs ~30 ms of CPU; a daemon opens clients for every
# customer run, so verifying contexts are shared (they are thread-safe for clients)
# per CA file and its modification time. System store changes need a restart.
_contexts: dict[tuple[str, int], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()
