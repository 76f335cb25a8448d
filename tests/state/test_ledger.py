"""The MSP-wide budget ledger (#16) on both backends: a real SQLite file and the real
PostgreSQL cluster. Reservations are all or nothing, refunds give back, namespaces
are apart, and two processes (and threads) sharing one ledger never exceed it."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.models import SettingsSpec
from reconciler.core.budget import Limit
from reconciler.state.backend import StateBackend, open_backend
from reconciler.state.ledger import BudgetLedger, open_ledger
from tests.pgstate import DSN_ENV, fresh_schema

Open = Callable[[str], BudgetLedger]


def _spec(backend: str, schema: str) -> SettingsSpec:
    state: dict[str, object] = (
        {"backend": "postgres", "dsn": {"env": DSN_ENV}, "schema": schema}
        if backend == "postgres"
        else {"path": "state.db"}
    )
    return SettingsSpec.model_validate({"state": state})


@pytest.fixture
def ledger_of(backend: str, tmp_path: Path) -> Iterator[Open]:
    schema = fresh_schema()
    opened: list[tuple[StateBackend, BudgetLedger]] = []

    def make(namespace: str = "msp") -> BudgetLedger:
        b = open_backend(tmp_path, _spec(backend, schema), namespace)
        ledger = open_ledger(b.store, namespace)
        assert ledger is not None
        opened.append((b, ledger))
        return ledger

    yield make
    for b, ledger in opened:
        ledger.close()
        b.close()


def test_reserve_refuse_refund_and_namespaces(ledger_of: Open) -> None:
    ledger = ledger_of("msp")
    limit = Limit(10, 60.0)
    now = 1_000_000.0
    first = ledger.spend("itglue", 7, limit, now)
    assert first.granted == 7 and first.used == 7
    refused = ledger.spend("itglue", 4, limit, now + 1)
    assert refused.granted == 0 and refused.used == 7 and refused.until is not None
    assert refused.until == pytest.approx(first.slot_start + 60 + 5)
    assert ledger.spend("itglue", 3, limit, now + 1).granted == 3
    assert ledger.tally("itglue", limit, now + 2).left == 0
    ledger.refund("itglue", 2, first.slot_start)
    assert ledger.tally("itglue", limit, now + 2).left == 2
    # another integration, another namespace on the same database: budgets of their own
    assert ledger.spend("hudu", 10, limit, now).granted == 10
    assert ledger_of("other").spend("itglue", 10, limit, now).granted == 10
    # a second connection (another process would do the same) sees the same ledger
    assert ledger_of("msp").tally("itglue", limit, now + 2).used == 8
    # slots age out: one window and one slot after, all is free again
    assert ledger.tally("itglue", limit, first.slot_start + 65.0).used == 0


def test_threads_never_exceed_it(ledger_of: Open) -> None:
    ledger = ledger_of("msp")
    limit = Limit(40, 3600.0)
    granted: list[int] = []

    def worker() -> None:
        mine = ledger_of("msp")
        for _ in range(30):
            granted.append(mine.spend("autotask", 1, limit, time.time()).granted)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 40 and len(granted) == 120
    assert ledger.tally("autotask", limit, time.time()).used == 40


def _process(backend: str, root: str, schema: str, dsn: str, out: Any, start: Any) -> None:
    import os

    if dsn:
        os.environ[DSN_ENV] = dsn
    b = open_backend(Path(root), _spec(backend, schema), "msp")
    ledger = open_ledger(b.store, "msp")
    assert ledger is not None
    got = 0
    start.wait(timeout=60)  # both processes open, then both spend at once
    for _ in range(150):
        got += ledger.spend("itglue", 1, Limit(100, 3600.0), time.time()).granted
        time.sleep(0.002)  # a request's worth of pause, so the two interleave
    ledger.close()
    b.close()
    out.put(got)


def test_two_processes_sharing_one_ledger_never_exceed_it(
    backend: str, tmp_path: Path, ledger_of: Open, request: pytest.FixtureRequest
) -> None:
    schema = fresh_schema()
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else ""
    b = open_backend(tmp_path, _spec(backend, schema), "msp")  # migrate once first
    b.close()
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Barrier(2)
    procs = [
        ctx.Process(target=_process, args=(backend, str(tmp_path), schema, dsn, out, start)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    counts = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(counts) == 100, counts  # 300 asked for, exactly the budget granted
    assert all(c > 0 for c in counts)  # both really competed
