"""No poisoned caches (#12), through the engine with the real Entra client, the
Graph simulator and the real SQLite state: an answer the guards refuse is never
committed as the cached user set, a mass drop seen through a delta is believed
only after one full read, and a blocked daemon run reads in full next time."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.core.plan import Status
from reconciler.daemon.clock import SystemClock
from reconciler.daemon.runner import RunContext, RunResult, reconcile
from reconciler.engine import Engine
from reconciler.providers.graph.cache import STATE_CURSOR, USERS_CURSOR
from reconciler.state.api import CustomerRecord
from reconciler.testing.httpsim import Fault, TestCA
from tests.providers.graphkit import GraphWorld, make_world, test_ca

__all__ = ["test_ca"]
TENANT = "55555555-5555-4555-8555-555555555555"


@pytest.fixture
def world(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphWorld]:
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(TENANT,))
    w.write_config({"acme": TENANT})
    yield w
    w.sim.stop()


def engine(world: GraphWorld) -> Engine:
    return Engine.open(load_valid_config(world.root))


def cache(e: Engine) -> tuple[str | None, str | None]:
    return e.store.get_cursor("acme", USERS_CURSOR), e.store.get_cursor("acme", STATE_CURSOR)


def full_reads(world: GraphWorld) -> int:
    return sum(1 for r in world.sim.requests if r.path == "/v1.0/users")


def test_an_empty_answer_that_was_refused_is_not_cached(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 12)
    e = engine(world)
    assert not [o for r in e.apply(e.plan()) for o in r.failed]
    good = cache(e)
    assert good[0] is not None

    # one bad full read: HTTP 200 with no users (after the delta anchor, which is fine)
    world.sim.faults.add(Fault.slow(0.0), path_prefix="/v1.0/users/delta")
    world.sim.faults.add(Fault.error(200, body={"value": []}), path_prefix="/v1.0/users")
    refused = e.plan(full_sync=True).customers[0]
    assert refused.status is Status.REFUSED and "Entra returned no users" in refused.reason
    assert cache(e) == good  # the refused answer never became the cached user set

    # the next incremental plan builds on the last good answer: nothing to do, no block
    world.sim.requests.clear()
    again = e.plan().customers[0]
    assert again.status is Status.OK and again.changes == ()
    assert full_reads(world) == 0


def test_a_mass_drop_from_a_delta_is_believed_only_after_a_full_read(world: GraphWorld) -> None:
    ids = world.sim.seed(TENANT, 12)
    e = engine(world)
    assert not [o for r in e.apply(e.plan()) for o in r.failed]
    good = cache(e)
    for user_id in ids[:10]:
        world.sim.remove_user(TENANT, user_id)

    world.sim.requests.clear()
    refused = e.plan().customers[0]
    assert refused.status is Status.REFUSED
    assert re.search(r"would remove \d+ of \d+ accounts \(\d+% > 30% limit\)", refused.reason), refused.reason
    assert full_reads(world) == 1  # the delta's drop was checked by one full read
    assert cache(e) == good  # and, refused, cached nothing

    # with the override the answer is accepted, and only then cached
    forced = e.plan(allow_mass_removal=True).customers[0]
    assert forced.status is Status.OK
    assert cache(e) != good


def test_a_blocked_daemon_run_reads_the_directory_in_full(world: GraphWorld) -> None:
    world.sim.seed(TENANT, 3)
    e = engine(world)
    assert not [o for r in e.apply(e.plan()) for o in r.failed]
    eff = e.customers(["acme"])[0]

    def run(record: CustomerRecord) -> RunResult:
        ctx = RunContext(e, eff, record, SystemClock(), threading.Event(), threading.Event())
        return reconcile(ctx).result

    world.sim.requests.clear()
    assert run(CustomerRecord("acme")) is RunResult.IN_SYNC
    assert full_reads(world) == 0  # a healthy customer reads the delta
    blocked = CustomerRecord("acme", blocked_reason="Entra returned no users", blocked_since=1.0)
    assert blocked.blocked
    assert run(blocked) is RunResult.IN_SYNC  # the directory is healthy again: the block lifts
    assert full_reads(world) == 1
