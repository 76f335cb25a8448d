"""Daemon stage: the HTTP listener, the ASGI app of `reconciler.daemon.web` on uvicorn.

uvicorn runs in a thread of its own with its own event loop, on a socket bound
here (so a port in use fails at start, and port 0 works). It installs no
signal handlers: SIGTERM/SIGINT belong to the daemon (service.py), which stops
the listener when it stops.

Slow clients. Stock uvicorn has no request-receipt timeout (Kludex/uvicorn#157):
its keep-alive timer ends when the first byte of a request arrives, so a client
trickling one header byte a second holds a connection for ever. The mechanism
here is a **request-receipt deadline** in `DeadlineH11Protocol`, a subclass of
uvicorn's h11 protocol: a timer armed when a connection opens and re-armed
each time it becomes ready for its next request, cancelled only once the whole
request (head and body) has arrived; when it fires the connection is closed,
without an answer. It is not reset by arriving bytes, so trickling gains nothing.

Parsing is h11's (strict: a malformed or doubled Content-Length, an oversized
header block or an unsupported Transfer-Encoding is a 400 and a closed
connection); `web.framing` refuses chunked bodies (411) and bodies over
MAX_BODY (413), closing the connection too.

TLS is optional (Settings daemon.tls: a certificate file and its key as a
secret reference). Without it, listening beyond loopback logs a loud warning:
the token would cross the network in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Generator
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.config.models import DaemonTls
from reconciler.config.secretpaths import SecretRoots
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.daemon.web.app import build_app
from reconciler.daemon.web.common import Daemon
from reconciler.daemon.web.framing import MAX_BODY
from reconciler.errors import ReconcilerError, SecretError
from reconciler.secrets import resolve

__all__ = ["MAX_BODY", "RECEIPT_TIMEOUT_SECONDS", "DaemonHttpServer", "is_loopback", "parse_listen"]

log = logging.getLogger("reconciler.daemon.http")
RECEIPT_TIMEOUT_SECONDS = 8.0  # the whole request, head and body, must arrive within this
KEEP_ALIVE_SECONDS = 5.0  # idle between two requests of one connection
SHUTDOWN_SECONDS = 3.0  # requests still running when the daemon stops get this long


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


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-receipt deadline (see the module docstring)."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline while a request is awaited or arriving; drop it once it is in."""
        receiving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()
        if not receiving:
            self._cancel_deadline()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(RECEIPT_TIMEOUT_SECONDS, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        log.debug("http: request not received within %.0f s; connection closed", RECEIPT_TIMEOUT_SECONDS)
        self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the daemon owns SIGTERM/SIGINT


class DaemonHttpServer:
    def __init__(
        self,
        address: tuple[str, int],
        scheduler: Scheduler,
        metrics: DaemonMetrics,
        tls: DaemonTls | None = None,
    ) -> None:
        self.scheduler, self.metrics = scheduler, metrics
        self.app = build_app(Daemon(scheduler, metrics, tls is not None, is_loopback(address[0])))
        roots = SecretRoots.of(scheduler.source.root, scheduler.source.config.settings_doc.spec.secret_dirs)
        context = _tls_context(tls, roots) if tls is not None else None
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
        # TCP, and without it a keep-alive answer (headers, then body: two writes) waits for
        # the client's delayed ACK, 40 ms on Linux, on every request
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(128)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address: tuple[Any, ...] = self.socket.getsockname()
        config = uvicorn.Config(
            self.app,
            http=DeadlineH11Protocol,
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # client addresses are the peers', never a header's
            server_header=False,
            date_header=True,
            timeout_keep_alive=int(KEEP_ALIVE_SECONDS),
            timeout_graceful_shutdown=int(SHUTDOWN_SECONDS),
            h11_max_incomplete_event_size=16_384,
        )
        config.load()
        config.ssl = context  # our context: the key came from a secret reference, not a path
        self._server = _Server(config)
        self._thread: threading.Thread | None = None
        host = str(self.server_address[0])
        if not is_loopback(host) and context is None:
            log.warning(
                "the daemon's HTTP listener is on %s, not on loopback, and has no TLS: the bearer token "
                "of the POST endpoints, and every answer, cross the network in clear text. Set daemon.tls, "
                "or listen on 127.0.0.1 and put a TLS-terminating proxy in front.",
                self.url,
            )

    @property
    def tls(self) -> bool:
        return self._server.config.ssl is not None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        text = f"[{host}]" if ":" in str(host) else str(host)
        return f"{'https' if self.tls else 'http'}://{text}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="http listener", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.01)
        if not self._server.started:
            raise ReconcilerError(f"the HTTP listener on {self.url} did not start")

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self.socket]))

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_SECONDS + 5)
        self.server_close()

    def server_close(self) -> None:
        self.socket.close()


def _tls_context(tls: DaemonTls, roots: SecretRoots) -> ssl.SSLContext:
    """A server context from the certificate file and the key's secret reference. ssl only
    loads keys from files: the key goes through a private temporary file, removed at once."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert = roots.root / tls.cert_file
    key = resolve(tls.key, roots, "daemon.tls.key")
    fd, name = tempfile.mkstemp(prefix="reconciler-key-", suffix=".pem")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key.get_secret_value() + "\n")
        context.load_cert_chain(cert, name)
    except FileNotFoundError:
        raise SecretError(f"daemon.tls.certFile {tls.cert_file} does not exist") from None
    except ssl.SSLError:
        raise SecretError(
            f"daemon.tls: certificate {tls.cert_file} and the key do not load (not PEM, or not a pair)"
        ) from None
    finally:
        os.unlink(name)
    return context
