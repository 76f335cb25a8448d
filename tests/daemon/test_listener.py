"""The HTTP listener: health, import-now auth, override, metrics exposition.

The scheduler loop runs for real in a thread (real clock): an import-now request
wakes it at once, so nothing here waits out an interval.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.daemon import listener
from reconciler.daemon.clock import SystemClock
from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.listener import (
    MAX_BODY,
    RECEIPT_TIMEOUT_SECONDS,
    DaemonHttpServer,
    is_loopback,
    parse_listen,
)
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.providers.http import HttpApi, RetryPolicy
from reconciler.state.api import DaemonStore, StateStore
from reconciler.state.backend import open_state

from .conftest import TOKEN, Live, Rig, edit_yaml

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_listen_address_parsing() -> None:
    assert parse_listen("127.0.0.1:9465") == ("127.0.0.1", 9465)
    assert parse_listen(":8080") == ("127.0.0.1", 8080)  # no host -> loopback, never all interfaces
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError):
        parse_listen("localhost")


def test_health_and_readiness(live: Live) -> None:
    assert live.client.get("/healthz").status_code == 200
    assert live.client.get("/readyz").json() == {"status": "ready"}
    live.scheduler.stop()
    assert live.client.get("/readyz").status_code == 503
    assert live.client.post("/customers/contoso/reconcile", headers=AUTH).status_code == 503


def test_import_now_requires_the_bearer_token(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler")
    r = live.client.post("/customers/contoso/reconcile")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = live.client.post("/customers/contoso/reconcile", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = live.client.post("/customers/contoso/reconcile", headers={"Authorization": TOKEN})  # no scheme
    assert r.status_code == 401

    r = live.client.post("/customers/contoso/reconcile", headers=AUTH)
    assert r.status_code == 202 and r.json()["queued"] is True

    r = live.client.post("/customers/northwind/reconcile?wait=20", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["customer"] == "northwind" and body["result"] in ("applied", "in-sync")

    assert live.client.post("/customers/nobody/reconcile", headers=AUTH).status_code == 404
    assert live.client.post("/customers/..%2Fetc/reconcile", headers=AUTH).status_code == 404
    assert live.client.get("/customers/contoso/reconcile").status_code == 404
    assert "contoso: import now requested" in caplog.text
    assert TOKEN not in caplog.text


def test_post_endpoints_are_off_without_a_configured_token(live: Live, config_dir: Path) -> None:
    edit_yaml(config_dir / "settings.yaml", lambda d: d["spec"]["daemon"].pop("token"))
    live.scheduler.source.refresh()
    r = live.client.post("/customers/contoso/reconcile", headers=AUTH)
    assert r.status_code == 403


def test_override_endpoint(live: Live, config_dir: Path) -> None:
    r = live.client.post("/customers/contoso/override", headers=AUTH)
    assert r.status_code == 409 and "not blocked" in r.json()["error"]
    assert live.client.post("/customers/contoso/override").status_code == 401


def test_metrics_exposition_has_every_series(live: Live) -> None:
    # throttled and retried API traffic through the shared HTTP seam
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={})])
    api = HttpApi(
        httpx.Client(transport=httpx.MockTransport(lambda req: next(answers))),
        "acme: IT Glue",
        retry=RetryPolicy(base_delay=0),
        sleep=lambda s: None,
    )
    api.get_json("https://example.invalid/passwords")

    for name in ("contoso", "fabrikam", "northwind", "tailspin"):
        assert live.client.post(f"/customers/{name}/reconcile?wait=20", headers=AUTH).status_code == 200
    text = live.client.get("/metrics").text
    for series in (
        'reconciler_reconcile_duration_seconds_bucket{le="0.1",result="applied"}',
        'reconciler_reconcile_runs_total{result="paused"}',
        'reconciler_last_success_timestamp_seconds{customer="contoso"}',
        'reconciler_changes_applied_total{kind="add"} 11.0',
        'reconciler_changes_applied_total{kind="send-welcome"} 5.0',
        'reconciler_conflicts{customer="contoso"} 1.0',
        "reconciler_customers_blocked 0.0",
        "reconciler_customers_quarantined 0.0",
        'reconciler_customer_blocked{customer="fabrikam"} 0.0',
        "reconciler_config_valid 1.0",
        'reconciler_api_requests_total{integration="itglue"}',
        'reconciler_api_throttled_total{integration="itglue"}',
        'reconciler_api_retries_total{integration="itglue"}',
    ):
        assert series in text, series
    assert "python_gc_objects" not in text  # our own registry, not the global one


def test_no_token_configured_means_403_even_with_a_header(config_dir: Path) -> None:
    edit_yaml(config_dir / "settings.yaml", lambda d: d["spec"]["daemon"].pop("token"))
    clock = SystemClock()
    source = ConfigSource(config_dir, clock)
    backend = open_state(source.config)
    store, state, metrics = backend.store, backend.daemon, DaemonMetrics()
    sched = Scheduler(source, store, state, clock, metrics)
    server = DaemonHttpServer(("127.0.0.1", 0), sched, metrics)
    server.start()
    try:
        r = httpx.post(f"{server.url}/customers/contoso/reconcile", headers=AUTH)
        assert r.status_code == 403
    finally:
        server.stop()
        store.close()
        state.close()


# --- the listener's own hardening: loopback warning, timeouts, body limits ------------------


def exchange(url: str, data: bytes, wait: float = 3.0) -> bytes:
    """Send raw bytes on one connection; everything the server answers until it
    closes the connection (or `wait` seconds pass without anything new)."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def statuses(raw: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"^HTTP/1\.[01] (\d{3}) ", raw, flags=re.MULTILINE)]


def test_only_loopback_counts_as_loopback() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.1.2.3", "192.168.0.10", "fe80::1%eth0", "localhost", ""):
        assert not is_loopback(host), host


def test_listening_beyond_loopback_warns_loudly(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="reconciler")
    local = DaemonHttpServer(("127.0.0.1", 0), rig.scheduler, rig.metrics)
    local.server_close()
    assert not caplog.records
    wide = DaemonHttpServer(
        ("0.0.0.0", 0), rig.scheduler, rig.metrics
    )  # all interfaces: the point of the test
    wide.server_close()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.name == "reconciler.daemon.http"
    assert "not on loopback" in record.getMessage() and "clear text" in record.getMessage()
    assert "bearer token" in record.getMessage()


def test_idle_connections_time_out(
    live: Live, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert RECEIPT_TIMEOUT_SECONDS < 10.0
    monkeypatch.setattr(listener, "RECEIPT_TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    assert exchange(live.url, b"", wait=5) == b""  # nothing sent: closed by the server, no answer
    assert exchange(live.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", wait=5) == b""  # headers never end
    partial = exchange(
        live.url,
        b"POST /customers/contoso/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",
        wait=5,
    )
    assert statuses(partial) in ([], [401])  # answered before its body or not: closed at the deadline
    assert time.monotonic() - started < 4.5  # each closed after the timeout, not the client's 5 s
    assert "Traceback" not in capsys.readouterr().err  # a timeout before the request line is handled


def test_a_body_over_the_limit_is_refused_and_never_parsed_as_a_second_request(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler")
    head = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    # what lies past MAX_BODY in the declared body: must never be read as a request of its own
    smuggled = b"POST /customers/contoso/reconcile HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    smuggled += TOKEN.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    raw = exchange(live.url, head + b"x" * MAX_BODY + smuggled)
    assert statuses(raw) == [413]
    assert b"\r\nconnection: close\r\n" in raw.lower() and b"larger than 64000 bytes" in raw
    assert "import now requested" not in caplog.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n", 411),
        (b"Content-Length: -5\r\n", 400),
        (b"Content-Length: 12abc\r\n", 400),
        (b"Content-Length: 2\r\nContent-Length: 40\r\n", 400),
        (b"Content-Length: 99999999999\r\n", 413),
    ],
)
def test_a_body_of_unknown_or_huge_length_closes_the_connection(
    live: Live, headers: bytes, status: int
) -> None:
    tail = b"2\r\n{}\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    for method in (b"POST /customers/contoso/reconcile", b"GET /healthz", b"PUT /healthz"):
        raw = exchange(live.url, method + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + tail)
        assert statuses(raw) == [status], (method, raw[:200])
        assert b"\r\nconnection: close\r\n" in raw.lower()


def test_a_small_body_keeps_the_connection_usable(live: Live) -> None:
    first = b"POST /customers/nobody/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert statuses(exchange(live.url, first + second)) == [401, 200]


def test_a_client_trickling_one_header_byte_a_second_is_disconnected_within_10_s(live: Live) -> None:
    """The request-receipt deadline (stock uvicorn has none, Kludex/uvicorn#157): bytes that
    keep arriving do not extend it."""
    host, port = httpx.URL(live.url).host, httpx.URL(live.url).port
    assert port is not None
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60
    started = time.monotonic()
    closed_after = None
    with socket.create_connection((host, port), timeout=2) as sock:
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(1.0)
                if sock.recv(1) == b"":  # orderly close by the server
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue  # still open: one more byte a second
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the trickling client was never disconnected"
    assert RECEIPT_TIMEOUT_SECONDS - 1 < closed_after < 10.0


def test_a_keep_alive_connection_gets_a_fresh_deadline_per_request(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "RECEIPT_TIMEOUT_SECONDS", 0.5)
    host, port = httpx.URL(live.url).host, httpx.URL(live.url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=3) as sock:
        for _ in range(3):  # each within its deadline: served, 0.3 s apart on one connection
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b'"ok"}\n'):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # then one that never ends
        started = time.monotonic()
        assert sock.recv(65536) == b""
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  # CL.TE
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",  # TE.TE
        b"Transfer-Encoding: xchunked\r\n",
        b"Content-Length: 5, 6\r\n",
        b"Content-Length : 5\r\n",  # whitespace before the colon
    ],
)
def test_ambiguous_framing_is_refused_and_closes_the_connection(live: Live, head: bytes) -> None:
    smuggled = b"POST /customers/contoso/reconcile HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    raw = exchange(live.url, b"POST /healthz HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n0\r\n\r\n" + smuggled)
    assert len(statuses(raw)) == 1 and statuses(raw)[0] in (400, 411, 501), raw[:200]


def test_the_listener_installs_no_signal_handlers(rig: Rig) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    server = DaemonHttpServer(("127.0.0.1", 0), rig.scheduler, rig.metrics)
    server.start()
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    finally:
        server.stop()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_tls_with_the_key_from_a_secret_reference(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(config_dir / "daemon.crt"))
    for extra in cert.cert_chain_pems[1:]:
        with open(config_dir / "daemon.crt", "ab") as handle:
            handle.write(extra.bytes())
    monkeypatch.setenv("RECONCILER_TEST_TLS_KEY", cert.private_key_pem.bytes().decode())
    tls = {"certFile": "daemon.crt", "key": {"env": "RECONCILER_TEST_TLS_KEY"}}
    edit_yaml(config_dir / "settings.yaml", lambda d: d["spec"]["daemon"].update(tls=tls))
    caplog.set_level(logging.WARNING, logger="reconciler")
    r = make_live_rig(config_dir)
    server = DaemonHttpServer(("0.0.0.0", 0), r.scheduler, r.metrics, r.source_tls())
    server.start()
    try:
        assert server.url.startswith("https://")
        port = server.server_address[1]
        with ca.cert_pem.tempfile() as ca_file:
            answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ssl_context(ca_file))
        assert answer.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz")  # our CA is not the system's
        assert not [rec for rec in caplog.records if "clear text" in rec.getMessage()]
        assert cert.private_key_pem.bytes().decode() not in caplog.text
    finally:
        server.stop()
        r.close()


def ssl_context(ca_file: str) -> Any:
    import ssl

    return ssl.create_default_context(cafile=ca_file)


def test_a_tls_key_that_does_not_match_is_one_clear_error(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trustme

    from reconciler.errors import SecretError

    ca = trustme.CA()
    cert, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(config_dir / "daemon.crt"))
    monkeypatch.setenv("RECONCILER_TEST_TLS_KEY", other.private_key_pem.bytes().decode())
    tls = {"certFile": "daemon.crt", "key": {"env": "RECONCILER_TEST_TLS_KEY"}}
    edit_yaml(config_dir / "settings.yaml", lambda d: d["spec"]["daemon"].update(tls=tls))
    r = make_live_rig(config_dir)
    try:
        with pytest.raises(SecretError, match="do not load") as info:
            DaemonHttpServer(("127.0.0.1", 0), r.scheduler, r.metrics, r.source_tls())
        assert "PRIVATE KEY" not in str(info.value)
    finally:
        r.close()


@dataclass
class LiveRig:
    scheduler: Scheduler
    metrics: DaemonMetrics
    store: StateStore
    state: DaemonStore

    def source_tls(self) -> Any:
        return self.scheduler.settings.tls

    def close(self) -> None:
        self.store.close()
        self.state.close()


def make_live_rig(config_dir: Path) -> LiveRig:
    clock = SystemClock()
    source = ConfigSource(config_dir, clock)
    backend = open_state(source.config)
    store, state, metrics = backend.store, backend.daemon, DaemonMetrics()
    return LiveRig(Scheduler(source, store, state, clock, metrics), metrics, store, state)


def test_answers_are_sent_without_waiting_for_the_clients_delayed_ack(live: Live) -> None:
    """TCP_NODELAY on every accepted connection. Without it an answer on a kept-alive
    connection (headers and body are two writes) waited for the client's delayed ACK,
    40 ms on Linux, on every request: the status page's latency floor (BENCHMARKS.md)."""
    with socket.create_connection(live.server.server_address[:2]) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200")
        state = live.server._server.server_state  # the test peeks at uvicorn's open connections
        sockets = [p.transport.get_extra_info("socket") for p in state.connections]
        assert sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
