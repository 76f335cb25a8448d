"""Live stage: the one HTTP seam every vendor client uses.

- TLS verified by default (optional extra CA file); turning it off is explicit
  and logged as a warning on every client created.
- Retries with exponential backoff and jitter on 429/5xx and transport errors,
  honouring `Retry-After` (seconds, fractional too, or an HTTP date), bounded in
  attempts and in total time.
- An optional client-side rate limit (N requests per window) shared by every
  customer of one integration.
- Errors become `ProviderError(where, ...)` with the vendor's message cut short;
  request headers (keys, tokens) and bodies are never part of a message.
- Writes that are not idempotent (`idempotent=False`, e.g. a POST that creates a
  record) are not blindly re-sent when the outcome is unknown (5xx, connection
  lost after sending): `AmbiguousWrite` lets the caller look for its record first;
  `create_once` does exactly that for every vendor's create.
- An untrusted server certificate fails at once (retrying cannot fix it) with a
  message that names caFile.
- An optional gate (a semaphore shared like the limiter) caps requests in flight,
  for vendors that limit concurrent calls (Autotask: 3 per endpoint).
- A 429 without a usable Retry-After from a vendor that counts in fixed windows
  (`Budget.fixed_window`: IT Glue 300 s, Hudu 60 s) waits until the window ends
  (the next multiple of the window on the clock, a whole window after a second
  429; at most 300 s, at most 3 times a request), cut short by a stop request and
  logged once per integration and window, instead of failing after ~15 s of backoff.
- Every attempt first spends the customer's MSP-wide request budget (#16,
  `providers.budget`): `connect_api` picks the spender up from the engine.
- Requests, throttles and retries are also counted process-wide per integration
  (`api_totals()`, labelled by `integration` or the part of `where` after the
  customer) for the daemon's metrics.
- `build_client` is the one way a vendor client gets its `httpx.Client` (TLS as
  configured, timeouts, no redirects, credentials only in auth hooks), and
  `connect_api` the one way it gets its `HttpApi` with the budget its Facts
  declare; the transport is injectable (`httpx.MockTransport` in unit tests).
Clock and sleep are injectable so tests do not sleep for real.
Its errors (`HttpError`, `AmbiguousWrite`, `Rejected`) are drawn with the rest of
the tree in `reconciler.errors`. Its parts live beside it: pacing in
`providers.limits`, TLS contexts and key hooks in `providers.tlsauth`, URL
origins in `providers.origins`, `create_once` in `providers.writes`.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reconciler.config.base import TlsOptions
from reconciler.errors import AmbiguousWrite, HttpError, ProviderError, Rejected
from reconciler.integrations.facts import Budget
from reconciler.providers import clientpool
from reconciler.providers.budget import Spender, spender_for
from reconciler.providers.limits import Clock, RateLimiter, Sleep, shared_gate, shared_limiter
from reconciler.providers.neterrors import describe_failure
from reconciler.providers.neterrors import where as net_where
from reconciler.providers.origins import origin
from reconciler.providers.throttle import MAX_WINDOW_WAITS, window_wait
from reconciler.providers.tlsauth import tls_verify

log = logging.getLogger("reconciler.http")
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ERROR_CHARS = 300


# connection failures that happen before a request is sent: always safe to retry
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_seconds: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 60.0


@dataclass
class ApiStats:
    """Counters a daemon exports as metrics."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    throttle_wait_seconds: float = 0.0  # waits for a fixed rate-limit window to end


_totals: dict[str, ApiStats] = {}
_totals_lock = threading.Lock()


def integration_label(where: str) -> str:
    """The integration part of a `where` ("contoso: IT Glue" -> "itglue")."""
    tail = where.replace("/", ":").rsplit(":", 1)[-1]
    return "".join(ch for ch in tail.lower() if ch.isalnum()) or "unknown"


def api_totals() -> dict[str, ApiStats]:
    """Process-wide counters by integration, summed over every client (for metrics)."""
    with _totals_lock:
        return {
            k: ApiStats(v.requests, v.throttled, v.retries, v.waited_seconds, v.throttle_wait_seconds)
            for k, v in _totals.items()
        }


def _tally(
    integration: str, requests: int = 0, throttled: int = 0, retries: int = 0, window_wait: float = 0.0
) -> None:
    with _totals_lock:
        total = _totals.setdefault(integration, ApiStats())
        total.requests += requests
        total.throttled += throttled
        total.retries += retries
        total.throttle_wait_seconds += window_wait


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: a number (fractional allowed) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def short_error(response: httpx.Response, extract: Callable[[Any], str | None] | None = None) -> str:
    """The vendor's error message from a response body, cut short; never the request."""
    text = ""
    try:
        body = response.json()
        text = (extract(body) if extract else None) or ""
    except ValueError:
        body = None
    if not text:
        text = response.text.strip().replace("\n", " ")
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + "..."
    return text


@dataclass
class HttpApi:
    """httpx client + retry/backoff + rate limit + error mapping for one integration."""

    client: httpx.Client
    where: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | None = None
    extract_error: Callable[[Any], str | None] | None = None
    gate: threading.BoundedSemaphore | None = None
    stats: ApiStats = field(default_factory=ApiStats)
    sleep: Sleep = time.sleep
    clock: Clock = time.monotonic
    integration: str = ""  # metrics label; derived from `where` when empty
    # a vendor's own sign that a failed answer is final (e.g. Autotask's validation
    # errors, sent as HTTP 500): its message, or None; such an answer is never retried
    rejects: Callable[[httpx.Response], str | None] | None = None
    spend: Spender | None = None  # the customer's MSP-wide budget (#16)
    fixed_window: float = 0.0  # Budget.fixed_window: a 429 without Retry-After waits it out
    stop: threading.Event | None = None  # cuts a window wait short
    wall: Clock = time.time  # window boundaries are on the wall clock

    def request(
        self, method: str, url: str, *, ok: tuple[int, ...] = (), idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (or one whose status is in `ok`).

        With `idempotent=False` only failures that cannot have taken effect (429,
        connection not made) are retried; others raise `AmbiguousWrite`."""
        start = self.clock()
        attempt = 0
        windows: list[float] = []  # fixed-window waits of this request (not counted as backoff)
        while True:
            attempt += 1
            if self.limiter is not None:
                self.stats.waited_seconds += self.limiter.acquire()
            if self.spend is not None:  # after the pacing wait: counted in the slot it is sent in
                self.spend.take()  # BudgetExhausted: nothing is sent
            self.stats.requests += 1
            label = self.integration or integration_label(self.where)
            _tally(label, requests=1)
            delay: float | None
            status: int | None = None
            try:
                response = self._send(method, url, **kwargs)
            except httpx.TransportError as exc:
                # the host and the kind of failure, never the exception's text (#17 item 8)
                problem = f"{method} {_target(exc, url)}: {describe_failure(exc)}"
                untrusted = _untrusted_certificate(exc)
                if untrusted is not None:  # retrying cannot help; say what to fix
                    raise HttpError(
                        self.where,
                        f"{method} {_target(exc, url)}: the TLS certificate of {_host(exc, url)} "
                        f"is not trusted ({untrusted}); add its CA with caFile",
                    ) from None
                delay = None
                if not idempotent and not isinstance(exc, _NOT_SENT):
                    raise AmbiguousWrite(self.where, f"{problem} (outcome unknown)") from None
            else:
                status = response.status_code
                if response.is_success or status in ok:
                    return response
                message = f"{method} {_path(url)}: HTTP {status}: {short_error(response, self.extract_error)}"
                if self.rejects is not None and self.rejects(response):
                    raise Rejected(self.where, message, status)
                if status not in RETRY_STATUSES:
                    raise HttpError(self.where, message, status)
                if not idempotent and status != 429:
                    raise AmbiguousWrite(self.where, f"{message} (outcome unknown)", status)
                if status == 429:
                    self.stats.throttled += 1
                    _tally(label, throttled=1)
                problem = message
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                if status == 429 and delay is None and self.fixed_window > 0:
                    if len(windows) >= MAX_WINDOW_WAITS:
                        raise HttpError(
                            self.where,
                            f"{problem} (still throttled after {len(windows)} rate-limit windows)",
                            status,
                        )
                    windows.append(self._wait_window(label, problem, bool(windows)))
                    attempt -= 1  # a window wait is not a failed attempt
                    continue
            if delay is None:
                backoff = self.retry.base_delay * (2 ** (attempt - 1))
                delay = backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
            delay = min(delay, self.retry.max_delay)
            elapsed = self.clock() - start - sum(windows)
            if attempt >= self.retry.max_attempts or elapsed + delay > self.retry.max_total_seconds:
                raise HttpError(
                    self.where, f"{problem} (gave up after {attempt} attempts, {elapsed:.1f}s)", status
                )
            # one line per retry: a throttle is routine, a failure is worth seeing by default
            log.log(
                logging.INFO if status == 429 else logging.WARNING,
                "%s: %s; retry %d of %d in %.1fs",
                self.where,
                problem,
                attempt,
                self.retry.max_attempts - 1,
                delay,
            )
            self.stats.retries += 1
            _tally(label, retries=1)
            self.stats.waited_seconds += delay
            self.sleep(delay)

    def _wait_window(self, label: str, problem: str, again: bool) -> float:
        delay = window_wait(self.where, label, problem, self.fixed_window, self.wall(), again)
        self.stats.waited_seconds += delay
        _tally(label, window_wait=delay)  # the 429 itself is counted already
        if self.stop is not None:
            if self.stop.wait(delay):
                raise ProviderError(self.where, f"{problem}; stopped while waiting for the rate-limit window")
        else:
            self.sleep(delay)
        return delay

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.gate is None:
            return self.client.request(method, url, **kwargs)
        with self.gate:
            return self.client.request(method, url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.request("GET", url, **kwargs), self.where)

    def post_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.request("POST", url, **kwargs), self.where)

    def close(self) -> None:
        if self.spend is not None:
            self.spend.close()
        self.client.close()


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def build_client(
    where: str,
    tls: TlsOptions,
    config_root: Path,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
    pool: str = "",
) -> httpx.Client:
    """The `httpx.Client` of one vendor connection: TLS verified as `tls` says (system
    CAs plus caFile; off only when asked, loudly), no redirects (a redirect could take
    a credential elsewhere), secrets only in `auth` or headers the caller sets.
    `pool` names the vendor account (kind, URL, credentials fingerprint): while the
    daemon keeps connections (`clientpool`), its clients share one connection pool."""
    verify: ssl.SSLContext | bool = True
    kept = clientpool.active() if pool and transport is None else None
    if kept is not None:
        key = clientpool.pool_key(pool, tls.ca_file, tls.insecure_skip_verify, config_root)
        transport = kept.transport(
            key,
            lambda: httpx.HTTPTransport(
                verify=tls_verify(tls.ca_file, tls.insecure_skip_verify, config_root, where)
            ),
        )
    if transport is None:
        verify = tls_verify(tls.ca_file, tls.insecure_skip_verify, config_root, where)
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        headers=headers or {},
        verify=verify,
        timeout=timeout,
        follow_redirects=False,
        transport=transport,
    )


def connect_api(
    client: httpx.Client,
    where: str,
    *,
    account: str,
    budget: Budget,
    extract_error: Callable[[Any], str | None] | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    integration: str = "",
    rejects: Callable[[httpx.Response], str | None] | None = None,
) -> HttpApi:
    """An `HttpApi` on `client` that spends the budget of `account` (kind, URL and key
    fingerprint: what the vendor counts requests by), shared by every customer on it;
    `integration` (the kind) labels its metrics."""
    if limiter is None and budget.requests > 0:
        limiter = shared_limiter(account, budget.requests, budget.window)
    gate = shared_gate(account, budget.concurrent) if budget.concurrent > 0 else None
    spend = spender_for(integration or integration_label(where), where)
    return HttpApi(
        client,
        where,
        retry=retry or RetryPolicy(),
        limiter=limiter,
        extract_error=extract_error,
        gate=gate,
        integration=integration,
        rejects=rejects,
        spend=spend,
        fixed_window=budget.fixed_window,
        stop=spend.budgets.stop if spend is not None else None,
    )


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            where, f"{response.request.method} {_path(str(response.url))}: answer is not JSON"
        ) from None


def _untrusted_certificate(exc: BaseException) -> str | None:
    """The verification message when `exc` comes from a certificate check that failed."""
    cause: BaseException | None = exc
    for _ in range(8):  # a short chain: httpx error <- httpcore error <- ssl error
        if cause is None:
            return None
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or "verification failed")
        cause = cause.__cause__ or cause.__context__
    return None


def _host(exc: httpx.TransportError, url: str) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # no request attached
        return httpx.URL(url).host or "the server"


def _target(exc: httpx.TransportError, url: str) -> str:
    """`host:port/path` of the request, for messages: the host named, the query left out."""
    try:
        parsed = exc.request.url
    except RuntimeError:  # no request attached
        parsed = httpx.URL(url)
    if not parsed.host:
        return parsed.path
    _, host, port = origin(parsed)
    return f"{net_where(host, port)}{parsed.path}"


def _path(url: str) -> str:
    """The path of a URL without its query (queries can carry emails or tokens)."""
    return httpx.URL(url).path
