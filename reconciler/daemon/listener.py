"""Daemon stage: the HTTP listener (stdlib, one thread per request, loopback by default).

    GET  /healthz                        200 while the scheduler loop turns
    GET  /readyz                         200 while a valid config runs and no stop was asked
    GET  /metrics                        Prometheus text format
    POST /customers/{name}/reconcile     import now (R9); ?wait=SECONDS answers 200 with the result
    POST /customers/{name}/override      one-time override of a safety block, then import now

POST needs `Authorization: Bearer <token>` (Settings daemon.token, a secret
reference resolved per request, so a rotated token file needs no restart);
without a configured token the POST endpoints are off (403). Request lines are
logged at debug level only; headers never.

There is no TLS: listening on anything but loopback logs a loud warning (the
token would cross the network in clear). Each connection has a socket timeout,
so idle or slow clients do not hold a thread for ever. A request body longer
than MAX_BODY, or one without a usable length (bad Content-Length, chunked),
is answered 413/400/411 and the connection closed, never read past: the rest
of the stream must not be taken for a second request.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.config.models import NAME_PATTERN
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import POLL_SECONDS, Scheduler, Stopping
from reconciler.errors import SecretError, StateError
from reconciler.secrets import resolve

log = logging.getLogger("reconciler.daemon.http")
_ROUTE = re.compile(r"^/customers/(?P<name>[^/]+)/(?P<action>reconcile|override)$")
_NAME = re.compile(NAME_PATTERN)
MAX_WAIT_SECONDS = 300.0
MAX_BODY = 64_000
HANDLER_TIMEOUT_SECONDS = 10.0  # per socket operation of one connection
LINGER_SECONDS = 1.0  # after refusing a body: read (and drop) what is in flight, so the answer arrives
LINGER_BYTES = 256_000
STALL_SECONDS = 3 * POLL_SECONDS + 60.0


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {text!r}: expected host:port")
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class _Handler(BaseHTTPRequestHandler):
    server: DaemonHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "reconciler"
    sys_version = ""
    timeout = HANDLER_TIMEOUT_SECONDS  # StreamRequestHandler.setup() sets it on the socket

    def log_message(self, format: str, *args: Any) -> None:
        # also called before a request line was read (a timeout): no command or path yet
        path = getattr(self, "path", "") or ""
        log.debug("http %s %s", getattr(self, "command", None) or "-", urlsplit(path).path or "-")

    def do_GET(self) -> None:
        if not self._read_body():
            return
        path = urlsplit(self.path).path
        sched = self.server.scheduler
        if path == "/healthz":
            stalled = sched.clock.monotonic() - sched.heartbeat > STALL_SECONDS
            self._send(503 if stalled else 200, {"status": "stalled" if stalled else "ok"})
        elif path == "/readyz":
            ready = not sched.stopping.is_set()
            body: dict[str, Any] = {"status": "ready" if ready else "stopping"}
            if sched.source.error:
                body["config_error"] = sched.source.error
            self._send(200 if ready else 503, body)
        elif path == "/metrics":
            self._raw(200, self.server.metrics.exposition(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._read_body():
            return
        parts = urlsplit(self.path)
        match = _ROUTE.match(parts.path)
        if match is None:
            self._send(404, {"error": "not found"})
            return
        if not self._authorized():
            return
        name, action = match["name"], match["action"]
        sched = self.server.scheduler
        if not _NAME.match(name) or name not in sched.customers():
            self._send(
                404, {"error": f"unknown customer {name!r}" if _NAME.match(name) else "unknown customer"}
            )
            return
        by = f"http {self.client_address[0]}"
        try:
            req = sched.override(name, by) if action == "override" else sched.request(name, by)
        except Stopping:
            self._send(503, {"error": "the daemon is stopping"})
            return
        except StateError as exc:
            self._send(409, {"error": str(exc)})
            return
        wait = _wait_seconds(parse_qs(parts.query))
        if wait and req.done.wait(wait) and req.report is not None:
            self._send(200, req.report.to_dict())
            return
        self._send(202, {"customer": name, "queued": True, "action": action})

    def do_PUT(self) -> None:
        if not self._read_body():
            return
        self._send(405, {"error": "method not allowed"})

    do_DELETE = do_PATCH = do_PUT

    # --- helpers -------------------------------------------------------------------------------
    def _authorized(self) -> bool:
        ref = self.server.scheduler.settings.token
        if ref is None:
            self._send(403, {"error": "POST endpoints are off: set daemon.token in Settings"})
            return False
        try:
            token = resolve(ref, self.server.scheduler.source.root, "daemon token")
        except SecretError as exc:
            log.error("%s", exc)
            self._send(503, {"error": "the daemon token is not available"})
            return False
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            self._send(401, {"error": "a valid bearer token is required"}, {"WWW-Authenticate": "Bearer"})
            return False
        return True

    def _read_body(self) -> bool:
        """Read (and drop) the request body, so the next request on this connection
        starts where it should; False when the request was refused and the connection
        is to be closed, because where its body ends is unknown or too far."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._refuse(411, "chunked request bodies are not accepted; send Content-Length")
            return False
        values = self.headers.get_all("Content-Length") or []
        text = values[0].strip() if len(values) == 1 else ""
        if len(values) > 1 or (values and not text.isdigit()):
            self._refuse(400, "invalid Content-Length")
            return False
        length = int(text) if text else 0
        if length > MAX_BODY:
            self._refuse(413, f"request body larger than {MAX_BODY} bytes")
            return False
        if length and len(self.rfile.read(length)) < length:
            self.close_connection = True  # the client went away mid-body
            return False
        return True

    def _refuse(self, status: int, error: str) -> None:
        """Answer, close the connection, and read what the client already sent for a
        moment (bounded), so the answer is not lost to a TCP reset."""
        self._send(status, {"error": error}, {"Connection": "close"})
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._raw(status, (json.dumps(body, sort_keys=True) + "\n").encode(), "application/json", headers)

    def _raw(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _wait_seconds(query: dict[str, list[str]]) -> float:
    try:
        value = float(query.get("wait", ["0"])[0])
    except ValueError:
        return 0.0
    return max(0.0, min(value, MAX_WAIT_SECONDS))


class DaemonHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], scheduler: Scheduler, metrics: DaemonMetrics) -> None:
        self.scheduler = scheduler
        self.metrics = metrics
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self._thread: threading.Thread | None = None
        host = str(self.server_address[0])
        if not is_loopback(host):
            log.warning(
                "the daemon's HTTP listener is on %s, not on loopback, and has no TLS: the bearer token "
                "of the POST endpoints, and every answer, cross the network in clear text. Listen on "
                "127.0.0.1 and put a TLS-terminating proxy in front to reach it from elsewhere.",
                self.url,
            )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="http listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
