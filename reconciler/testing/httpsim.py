"""Test helpers: the base of every vendor simulator (HTTPS on loopback, faults, counting).

A simulator subclasses `Simulator` and implements `handle(request)`. The base
serves it over TLS with a generated test CA on 127.0.0.1 (ephemeral port),
records every request, and injects queued faults before routing:

    sim.faults.add(Fault.error(429, retry_after="1.5"))   # next request throttled
    sim.faults.add(Fault.slow(2.0))                        # next request answers late
    sim.faults.add(Fault.drop())                           # next connection is cut

A fault with `after=True` lets the request take effect first and then fails the
answer (`Fault.drop(after=True)`: created, but the client never hears it), which
is how a test provokes an ambiguous write.

`sim.rate_limit = RateLimit(limit, window)` makes the simulator answer
`throttle_response` (429) once more than `limit` requests arrive in `window`
seconds, as the vendor would; `sim.limited` counts those refusals.
`sim.waits_after_throttle()` lists how long clients waited after each 429, so a
test can assert Retry-After was honoured.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme


@dataclass
class TestCA:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost."""

    __test__ = False  # not a pytest class

    ca: trustme.CA
    ca_file: Path
    server_cert: trustme.LeafCert

    @classmethod
    def create(cls, directory: Path) -> TestCA:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        ca_file = directory / "test-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        return cls(ca, ca_file, ca.issue_cert("127.0.0.1", "localhost"))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class SimResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "slow" | "drop"
    status: int = 0
    retry_after: str | None = None
    body: Any = None
    delay: float = 0.0
    after: bool = False  # the request takes effect, then the answer fails

    @classmethod
    def error(
        cls, status: int, retry_after: str | None = None, body: Any = None, after: bool = False
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, body=body, after=after)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls("slow", delay=delay)

    @classmethod
    def drop(cls, after: bool = False) -> Fault:
        return cls("drop", after=after)


@dataclass(frozen=True)
class RateLimit:
    """The vendor's own limit: at most `limit` accepted requests in any `window` seconds.
    `retry_after` says whether a 429 carries Retry-After (unconfirmed for some vendors)."""

    limit: int
    window: float
    retry_after: bool = True
    # fixed windows on the wall clock (IT Glue, Hudu): `limit` per multiple of `window`,
    # every request refused until the window ends (the default is a sliding window)
    fixed: bool = False


class FaultQueue:
    """Faults applied to the next requests, in order (optionally only on a path prefix)."""

    def __init__(self) -> None:
        self._queue: deque[tuple[Fault, str]] = deque()
        self._lock = threading.Lock()

    def add(self, fault: Fault, times: int = 1, path_prefix: str = "") -> None:
        with self._lock:
            for _ in range(times):
                self._queue.append((fault, path_prefix))

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for i, (fault, prefix) in enumerate(self._queue):
                if path.startswith(prefix):
                    del self._queue[i]
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class Simulator:
    """Base class: subclasses implement `handle` and may override `throttle_response`."""

    def __init__(self, ca: TestCA | None = None, *, tls: bool = True) -> None:
        self.ca = ca
        self.tls = tls and ca is not None
        self.faults = FaultQueue()
        self.requests: list[SimRequest] = []
        self.connections = 0  # TCP (and TLS) connections accepted: reuse shows as fewer
        self.throttled_at: list[float] = []
        self.rate_limit: RateLimit | None = None
        self.limited = 0
        self._accepted: deque[float] = deque()
        self._window, self._window_count = -1.0, 0  # RateLimit.fixed
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- to implement -------------------------------------------------------------
    def handle(self, request: SimRequest) -> SimResponse:
        raise NotImplementedError

    def error_response(self, status: int, retry_after: str | None) -> SimResponse:
        """The vendor's body for an injected error status; override per vendor."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return SimResponse(status, {"error": {"code": str(status), "message": "injected fault"}}, headers)

    def throttle_response(self, retry_after: str | None) -> SimResponse:
        """The vendor's 429 when `rate_limit` is exceeded; defaults to `error_response`."""
        return self.error_response(429, retry_after)

    # --- lifecycle ----------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "simulator not started"
        host, port = self._server.server_address[:2]
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host!s}:{port}"

    def start(self, port: int = 0) -> Simulator:
        """Serve on 127.0.0.1:`port` (0: any free port; see `url`)."""
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                pass

            def setup(self) -> None:
                super().setup()
                with sim._lock:
                    sim.connections += 1

            def _serve(self) -> None:
                sim._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        if self.tls:
            assert self.ca is not None
            ctx = self.ca.server_context()
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request plumbing ----------------------------------------------------------
    def waits_after_throttle(self) -> list[float]:
        """Seconds between each 429 and the next request the simulator saw."""
        with self._lock:
            times = [r.at for r in self.requests]
            out = []
            for t in self.throttled_at:
                later = [x for x in times if x > t]
                if later:
                    out.append(min(later) - t)
            return out

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            )

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = SimRequest(
            h.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in h.headers.items()},
            body,
            time.monotonic(),
        )
        with self._lock:
            self.requests.append(req)
            throttled = self._over_limit(req.at)
        if throttled is not None:
            self._respond(h, throttled)
            return
        fault = self.faults.take(split.path)
        if fault is not None and fault.after:
            self._handle(req)  # takes effect; the answer is then lost or replaced
        if fault is not None and fault.kind == "drop":
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            fault = None
        if fault is not None:
            resp = self.error_response(fault.status, fault.retry_after)
            if fault.body is not None:
                resp.body = fault.body
        else:
            resp = self._handle(req)
        self._respond(h, resp)

    def _handle(self, req: SimRequest) -> SimResponse:
        try:
            return self.handle(req)
        except Exception as exc:  # a simulator bug must show up as a 500, not a hang
            return SimResponse(500, {"error": {"code": "SimulatorBug", "message": repr(exc)}})

    def _over_limit(self, now: float) -> SimResponse | None:
        """Count `now` against `rate_limit`; the vendor's 429 if it is over. Holds the lock."""
        rl = self.rate_limit
        if rl is None:
            return None
        if rl.fixed:
            wall = time.time()
            index = wall // rl.window
            if self._window != index:
                self._window, self._window_count = index, 0
            if self._window_count < rl.limit:
                self._window_count += 1
                return None
            self.limited += 1
            return self.throttle_response(f"{(index + 1) * rl.window - wall:.3f}" if rl.retry_after else None)
        while self._accepted and self._accepted[0] <= now - rl.window:
            self._accepted.popleft()
        if len(self._accepted) < rl.limit:
            self._accepted.append(now)
            return None
        self.limited += 1
        wait = max(0.0, self._accepted[0] + rl.window - now)
        return self.throttle_response(f"{wait:.3f}" if rl.retry_after else None)

    def _respond(self, h: BaseHTTPRequestHandler, resp: SimResponse) -> None:
        if resp.status == 429:
            with self._lock:
                self.throttled_at.append(time.monotonic())
        data = resp.encode()
        h.send_response(resp.status)
        if data:
            h.send_header("Content-Type", resp.content_type)
        h.send_header("Content-Length", str(len(data)))
        for k, v in resp.headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)


def token(kind: str) -> str:
    """A throwaway credential for a simulator (sandbox and tests)."""
    import secrets

    return f"sbx-{kind}-{secrets.token_urlsafe(12)}"
