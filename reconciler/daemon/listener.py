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
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import threading
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
STALL_SECONDS = 3 * POLL_SECONDS + 60.0


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address {text!r}: expected host:port")
    return host, int(port)


class _Handler(BaseHTTPRequestHandler):
    server: DaemonHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "reconciler"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.command, urlsplit(self.path).path)

    def do_GET(self) -> None:
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
        self._drain_body()
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

    def _drain_body(self) -> None:
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        except ValueError:
            length = 0
        if length > 0:
            self.rfile.read(length)

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
