"""Live stage (Entra): the HTTP client MSAL signs in through, with the retry
policy every other call has.

MSAL (1.x) sends OIDC discovery and token requests through the `http_client` it
is given and retries nothing itself, so a single 429, 5xx, dropped connection or
timeout from the identity platform used to fail that customer's whole run. Both
requests are safe to repeat (a client-credentials grant only issues a token), so
here they are retried like Graph calls: exponential backoff with jitter, the
server's Retry-After honoured, bounded by `RetryPolicy`, one log line per retry.

A certificate that does not verify is not retried: it becomes a `ProviderError`
that names the certificate problem and the `caFile` fix, as the other vendors'
errors do. Messages name the host and the kind of failure, never a secret.

MSAL passes a certificate credential's client assertion to `post` as *bytes*
in `data`; httpx would send `b'...'` for it, so `post` decodes bytes first.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import httpx

from reconciler.errors import ProviderError
from reconciler.providers.http import (  # _untrusted_certificate: the seam's one check, shared
    RETRY_STATUSES,
    RetryPolicy,
    _untrusted_certificate,
    retry_after_seconds,
)
from reconciler.providers.limits import Clock, Sleep
from reconciler.providers.neterrors import describe_failure

log = logging.getLogger("reconciler.graph")


class MsalHttpClient:
    """httpx as MSAL's `http_client` (MSAL calls `.get`/`.post` requests-style)."""

    def __init__(
        self,
        client: httpx.Client,
        where: str,
        retry: RetryPolicy | None = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.client = client
        self.where = where
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._request("GET", url, params=params, headers=headers, **kwargs)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
    ) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self._request("POST", url, params=params, data=data, headers=headers, **kwargs)

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        host = httpx.URL(url).host or "the identity platform"
        start, attempt = self.clock(), 0
        while True:
            attempt += 1
            delay: float | None = None
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                untrusted = _untrusted_certificate(exc)
                if untrusted is not None:  # retrying cannot help; say what to fix
                    raise ProviderError(
                        self.where,
                        f"the TLS certificate of the identity platform {host} is not trusted "
                        f"({untrusted}); add its CA with connections.graph.caFile",
                    ) from None
                problem = f"{method} {host}: {describe_failure(exc)}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                problem = f"{method} {host}: HTTP {response.status_code}"
                delay = retry_after_seconds(response.headers.get("Retry-After"))
            if delay is None:
                backoff = self.retry.base_delay * (2 ** (attempt - 1))
                delay = backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
            delay = min(delay, self.retry.max_delay)
            elapsed = self.clock() - start
            if attempt >= self.retry.max_attempts or elapsed + delay > self.retry.max_total_seconds:
                raise ProviderError(
                    self.where, f"sign-in: {problem} (gave up after {attempt} attempts, {elapsed:.1f}s)"
                )
            log.warning(
                "%s: sign-in: %s; retry %d of %d in %.1fs",
                self.where,
                problem,
                attempt,
                self.retry.max_attempts - 1,
                delay,
            )
            self.sleep(delay)
