"""Network failures are told apart and name the host (#17 item 8), over real
loopback sockets: refused, DNS, TLS handshake, timeout; one log line per retry."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from reconciler.providers.http import HttpApi, HttpError, RetryPolicy
from reconciler.providers.neterrors import NetFailure, probe


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word (a hung server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(srv.getsockname()[1])
    stop.set()
    thread.join()
    for c in held:
        c.close()
    srv.close()


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """Answers any connection with bytes that are not TLS, then hangs up."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-not-tls\r\n" * 64)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(srv.getsockname()[1])
    stop.set()
    thread.join()
    srv.close()


def api(timeout: float = 5.0) -> HttpApi:
    client = httpx.Client(timeout=timeout)
    return HttpApi(client, "acme: IT Glue", retry=RetryPolicy(max_attempts=3, base_delay=0.001))


def failure(url: str, timeout: float = 5.0) -> str:
    with pytest.raises(HttpError) as err:
        api(timeout).request("GET", url)
    return str(err.value)


def test_refused_names_the_host_and_the_cause(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    with caplog.at_level(logging.WARNING, "reconciler.http"):
        message = failure(f"https://127.0.0.1:{port}/passwords?filter=secret")
    assert message.startswith(f"acme: IT Glue: GET 127.0.0.1:{port}/passwords: connection refused (gave up")
    assert "filter" not in message
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2  # a line per retry, at WARNING so it shows without -v
    assert retries[0].endswith("connection refused; retry 1 of 2 in 0.0s")


def test_dns_failure_is_named() -> None:
    message = failure("https://no-such-host.invalid/passwords")
    assert "GET no-such-host.invalid:443/passwords: host name does not resolve (DNS)" in message


def test_a_tls_handshake_failure_is_named(garbage_server: int) -> None:
    message = failure(f"https://127.0.0.1:{garbage_server}/passwords")
    assert f"127.0.0.1:{garbage_server}/passwords: TLS handshake failed" in message


def test_a_timeout_is_named(silent_server: int) -> None:
    message = failure(f"https://127.0.0.1:{silent_server}/passwords", timeout=0.2)
    assert f"127.0.0.1:{silent_server}/passwords: timed out" in message


def test_probe_tells_the_kinds_apart(silent_server: int) -> None:
    assert probe("127.0.0.1", closed_port(), 1.0) is NetFailure.REFUSED
    assert probe("no-such-host.invalid", 389, 1.0) is NetFailure.DNS
    assert probe("127.0.0.1", silent_server, 1.0) is None  # TCP connects
