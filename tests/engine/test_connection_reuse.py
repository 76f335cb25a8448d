"""TLS connections reused across runs of the same vendor (#16): while a `ClientPool`
is in use (the daemon's), every run of a customer on one IT Glue account goes over
the connections the first run opened; without it (a CLI run) each run connects
anew. Clearing the pool (a config change) or closing it (shutdown) closes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.providers import clientpool
from reconciler.providers.clientpool import ClientPool
from reconciler.testing.httpsim import TestCA
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_link_guard_sims import Later, engine_for
from tests.engine.test_vault_simulators import ca, itglue, write_config

__all__ = ["ca", "itglue"]  # fixtures used here


@pytest.fixture
def pool() -> Iterator[ClientPool]:
    kept = ClientPool()
    previous = clientpool.use(kept)
    try:
        yield kept
    finally:
        clientpool.use(previous)
        kept.close()


def configured(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> Path:
    org = itglue.add_organization("Acme")
    root = tmp_path / "cfg"
    connection = f"    itglue: {{baseUrl: '{itglue.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'")
    return root


def test_runs_share_the_vendor_connections_while_a_pool_is_in_use(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator, pool: ClientPool
) -> None:
    engine = engine_for(configured(tmp_path, ca, itglue), Later())
    for _ in range(4):
        cp = engine.plan(full_sync=True).customers[0]  # lists IT Glue every time
        assert not cp.reason, cp.reason
    assert itglue.count("GET", "/passwords") >= 4
    assert itglue.connections == 1 and pool.opened == 1 and len(pool) == 1
    assert pool.clear() == 1 and len(pool) == 0  # a config change: connections closed
    engine.plan(full_sync=True)
    assert itglue.connections == 2 and pool.opened == 2


def test_without_a_pool_each_run_connects_anew(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator) -> None:
    assert clientpool.active() is None
    engine = engine_for(configured(tmp_path, ca, itglue), Later())
    for _ in range(3):
        engine.plan(full_sync=True)
    assert itglue.connections == 3


def test_a_proxy_in_the_environment_turns_pooling_off(
    pool: ClientPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert clientpool.active() is pool
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert clientpool.active() is None  # httpx honours proxies only for clients it builds itself


def test_keys_differ_by_credentials_and_tls_and_hold_no_secret() -> None:
    a = clientpool.pool_key("itglue https://api.itglue.com k1", None, False)
    assert a != clientpool.pool_key("itglue https://api.itglue.com k2", None, False)
    assert a != clientpool.pool_key("itglue https://api.itglue.com k1", "ca.pem", False)
    assert "k1" not in a and len(a) == 64
