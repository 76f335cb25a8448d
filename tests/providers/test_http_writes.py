"""HTTP seam: non-idempotent writes are never blindly repeated; the concurrency gate holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from reconciler.errors import AmbiguousWrite
from reconciler.providers.http import HttpApi, RetryPolicy

Step = Callable[[httpx.Request], httpx.Response]


def api(
    steps: list[Step], gate: threading.BoundedSemaphore | None = None
) -> tuple[HttpApi, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return steps[min(len(seen), len(steps)) - 1](request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpApi(
        client, "acme: test", retry=RetryPolicy(base_delay=0.001), gate=gate, sleep=lambda s: None
    ), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"id": 1})


def status(code: int) -> Step:
    return lambda request: httpx.Response(code, json={"message": "nope"}, headers={"Retry-After": "0"})


def raises(exc: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return step


@pytest.mark.parametrize(
    "first", [status(500), status(503), raises(httpx.ReadError), raises(httpx.RemoteProtocolError)]
)
def test_a_write_the_server_may_have_applied_is_not_repeated(first: Step) -> None:
    client, seen = api([first, ok])
    with pytest.raises(AmbiguousWrite) as err:
        client.request("POST", "https://x.test/things", json={}, idempotent=False)
    assert len(seen) == 1
    assert str(err.value).startswith(
        ("acme: test: POST /things: HTTP ", "acme: test: POST x.test:443/things: ")
    )
    assert str(err.value).endswith("(outcome unknown)")


@pytest.mark.parametrize("first", [status(429), raises(httpx.ConnectError), raises(httpx.ConnectTimeout)])
def test_a_write_the_server_never_saw_is_retried(first: Step) -> None:
    client, seen = api([first, ok])
    assert client.request("POST", "https://x.test/things", json={}, idempotent=False).status_code == 201
    assert len(seen) == 2


def test_reads_are_retried_after_any_transient_failure() -> None:
    client, seen = api([status(503), raises(httpx.ReadError), ok])
    assert client.request("GET", "https://x.test/things").status_code == 201
    assert len(seen) == 3


def test_the_gate_caps_requests_in_flight() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return ok(request)

    client, _ = api([slow], gate=threading.BoundedSemaphore(2))
    threads = [threading.Thread(target=client.request, args=("GET", "https://x.test/")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2
