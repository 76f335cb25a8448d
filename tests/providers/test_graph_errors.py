"""Entra provider failures: token errors per customer, throttling, retries, TLS, no secret leaks."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope
from reconciler.providers.graph import prefetch
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import Fault, TestCA
from tests.providers.graphkit import SECRET_ENV, GraphWorld, make_world, test_ca  # noqa: F401

GOOD, UNCONSENTED, OTHER, MISSING = (
    "00000000-0000-4000-8000-00000000900d",
    "00000000-0000-4000-8000-0000000000c0",
    "00000000-0000-4000-8000-0000000000e1",
    "00000000-0000-4000-8000-0000000000ff",
)


@pytest.fixture
def world(test_ca: TestCA, tmp_path, monkeypatch) -> Iterator[GraphWorld]:  # noqa: F811
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(GOOD, OTHER))
    w.sim.add_tenant(UNCONSENTED, consented=False)
    w.sim.seed(GOOD, 40)
    w.sim.seed(OTHER, 10)
    w.write_config({"acme": GOOD})
    yield w
    w.sim.stop()


def read(world: GraphWorld, name: str = "acme") -> int:
    return len(world.reader(name).read(DirectoryScope()).users)


def test_wrong_client_secret_is_a_clear_error_without_the_secret(
    world: GraphWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng~Secret-Value_For.Test-1234567890"
    monkeypatch.setenv(SECRET_ENV, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as info:
        read(world)
    message = str(info.value)
    assert message.startswith(f"acme: entra: token request for tenant {GOOD} refused: invalid_client")
    assert "AADSTS7000215" in message and "Trace ID" not in message
    assert wrong not in message and wrong not in caplog.text
    assert world.sim.identity.client_secret not in caplog.text


def test_a_transient_token_failure_recovers_on_the_next_run(world: GraphWorld) -> None:
    world.sim.faults.add(GraphSimulator.invalid_secret_fault(), path_prefix=f"/{GOOD}/oauth2")
    with pytest.raises(ProviderError, match="AADSTS7000215"):
        read(world)
    assert read(world) == 40  # same process, same cached MSAL app


def test_token_failures_are_isolated_per_customer(
    world: GraphWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.write_config({"acme": GOOD, "beta": UNCONSENTED, "gamma": MISSING, "delta": OTHER})
    caplog.set_level(logging.DEBUG)
    results = prefetch(list(world.contexts().values()), max_workers=3)

    assert set(results) == {"acme", "beta", "gamma", "delta"}
    good, other = results["acme"], results["delta"]
    assert not isinstance(good, ProviderError) and len(good.users) == 40
    assert not isinstance(other, ProviderError) and len(other.users) == 10
    unconsented, missing = results["beta"], results["gamma"]
    assert isinstance(unconsented, ProviderError) and isinstance(missing, ProviderError)
    assert str(unconsented).startswith("beta: entra: ") and "AADSTS700016" in str(unconsented)
    assert str(missing).startswith(f"gamma: entra: OIDC discovery failed for tenant {MISSING}")
    assert "Traceback" not in caplog.text


def test_an_unresolvable_secret_is_that_customers_error(
    world: GraphWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    results = prefetch(list(world.contexts().values()))
    err = results["acme"]
    assert isinstance(err, ProviderError)
    assert str(err) == f"acme: entra: clientSecret: environment variable {SECRET_ENV} is not set"


def test_throttling_honours_fractional_retry_after(world: GraphWorld) -> None:
    world.sim.faults.add(Fault.error(429, retry_after="0.35"), path_prefix="/v1.0/users")
    world.sim.faults.add(Fault.error(503, retry_after="0.2"), path_prefix="/v1.0/users")
    world.sim.faults.add(Fault.error(429, retry_after="0.25"), path_prefix="/v1.0/users")
    reader = world.reader("acme")
    assert len(reader.read(DirectoryScope()).users) == 40
    waits = world.sim.waits_after_throttle()
    assert len(waits) == 2
    assert waits[0] >= 0.35 and waits[1] >= 0.25  # the simulator saw the client wait
    assert reader.last.stats is not None
    assert reader.last.stats.throttled == 2 and reader.last.stats.retries == 3


def test_5xx_dropped_and_slow_answers_are_retried(world: GraphWorld) -> None:
    world.sim.faults.add(Fault.error(504), path_prefix="/v1.0/users")
    world.sim.faults.add(Fault.drop(), path_prefix="/v1.0/users")
    world.sim.faults.add(Fault.slow(0.2), path_prefix="/v1.0/users")
    assert read(world) == 40
    assert world.sim.count("GET", "/v1.0/users") >= 4


def test_retries_are_bounded(world: GraphWorld) -> None:
    world.sim.faults.add(Fault.error(429, retry_after="0.01"), times=10, path_prefix="/v1.0/users")
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        read(world)
    assert time.monotonic() - started < 5
    assert str(info.value).startswith("acme: entra: GET /v1.0/users")
    assert "TooManyRequests" in str(info.value) and "gave up after 4 attempts" in str(info.value)


def test_graph_refusal_is_reported_with_graphs_message(world: GraphWorld) -> None:
    body = {
        "error": {
            "code": "Authorization_RequestDenied",
            "message": "Insufficient privileges to complete the operation.",
        }
    }
    world.sim.faults.add(Fault.error(403, body=body), path_prefix="/v1.0/users")
    with pytest.raises(ProviderError, match="HTTP 403: Authorization_RequestDenied: Insufficient privileges"):
        read(world)


def test_tls_is_verified_by_default_and_the_failure_names_the_certificate_and_cafile(
    world: GraphWorld,
) -> None:
    """#12: an Entra TLS failure said only "ConnectError"; it names the problem and the fix."""
    world.write_config({"acme": GOOD}, graph={"caFile": None})
    with pytest.raises(ProviderError) as info:
        read(world)
    assert str(info.value) == (
        "acme: entra: the TLS certificate of the identity platform 127.0.0.1 is not trusted "
        "(unable to get local issuer certificate); add its CA with connections.graph.caFile"
    )
    assert world.sim.count("POST") == 0  # nothing was sent, and it was not retried either


def test_sign_in_is_retried_on_429_5xx_and_dropped_connections_like_every_call(world: GraphWorld) -> None:
    """#12: OIDC discovery and token requests through MSAL were never retried."""
    token = f"/{GOOD}/oauth2/v2.0/token"
    world.sim.faults.add(Fault.error(503), path_prefix=f"/{GOOD}/v2.0/.well-known")
    world.sim.faults.add(Fault.error(429, retry_after="0.01"), path_prefix=token)
    world.sim.faults.add(Fault.drop(), path_prefix=token)
    world.sim.faults.add(Fault.error(500), path_prefix=token)
    assert read(world) == 40
    assert world.sim.count("POST", token) == 4
    assert world.sim.count("GET", f"/{GOOD}/v2.0/.well-known") == 2


def test_sign_in_retries_are_bounded_and_say_what_failed(world: GraphWorld) -> None:
    world.sim.faults.add(Fault.error(503), times=10, path_prefix=f"/{GOOD}/oauth2")
    with pytest.raises(ProviderError) as info:
        read(world)
    assert str(info.value).startswith(
        "acme: entra: sign-in: POST 127.0.0.1: HTTP 503 (gave up after 4 attempts"
    )
    assert world.sim.count("POST", f"/{GOOD}/oauth2") == 4


def test_no_secret_in_any_output(
    world: GraphWorld,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path,
) -> None:
    """Good and failing runs, secret and certificate, at DEBUG level: the secret, the
    private key and the access tokens appear in no log, message, or stored cursor."""
    caplog.set_level(logging.DEBUG)
    secret = world.sim.identity.client_secret
    pem, thumbprint = world.sim.add_certificate()
    (world.root / "key.pem").write_text(pem, encoding="utf-8")
    messages: list[str] = []

    world.write_config({"acme": GOOD, "beta": UNCONSENTED})
    world.sim.faults.add(Fault.error(429, retry_after="0.01"), path_prefix="/v1.0/users")
    for result in prefetch(list(world.contexts().values())).values():
        messages.append(str(result))
    world.write_config(
        {"acme": GOOD},
        credential={"certificate": {"privateKey": {"file": "key.pem"}, "thumbprint": thumbprint}},
    )
    messages.append(str(prefetch(list(world.contexts().values()))["acme"]))
    monkeypatch.setenv(SECRET_ENV, secret + "-but-wrong")
    world.write_config({"acme": GOOD})
    messages.append(str(prefetch(list(world.contexts().values()))["acme"]))

    out = capsys.readouterr()
    seen = "\n".join([caplog.text, out.out, out.err, *messages, *world.cursors.values.values()])
    assert "AADSTS700016" in seen and "AADSTS7000215" in seen  # the failures did happen
    tokens = [
        r.headers["authorization"].split()[1] for r in world.sim.requests if "authorization" in r.headers
    ]
    assert tokens
    for value in [secret, secret + "-but-wrong", *pem.splitlines()[1:-1], *tokens]:
        assert value not in seen


def test_a_malformed_certificate_key_is_a_clear_error(world: GraphWorld) -> None:
    _, thumbprint = world.sim.add_certificate()
    junk = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vj\n-----END PRIVATE KEY-----\n"
    (world.root / "key.pem").write_text(junk, encoding="utf-8")
    world.write_config(
        {"acme": GOOD},
        credential={"certificate": {"privateKey": {"file": "key.pem"}, "thumbprint": thumbprint}},
    )
    with pytest.raises(ProviderError) as info:
        read(world)
    message = str(info.value)
    assert message.startswith(f"acme: entra: token request for tenant {GOOD} failed: ")
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vj" not in message
