"""Benchmark: the daemon's steady state over a fleet with nothing to change.

A fleet of Entra-only customers (default 200 x 20 users) is imported once and
left to settle for an hour, then the real scheduler runs one hour of simulated time (fake clock, real threads,
real state database): every poll cycle, the config change check, the periodic
full reload, every customer's scheduled run (hourly, 10% jitter). Measured:

- directory/integration reads per customer per cycle. On the file-backed
  (snapshot) providers that is the number of provider file reads; requests
  through the shared HTTP seam (Graph, IT Glue, ...) are counted as well and
  are 0 here until a vendor client is in use;
- CPU seconds (process time: all threads) for the simulated hour, split into
  the customers' runs and the scheduler's own overhead (cycles starting nothing).

    python benchmarks/daemon_fleet.py [--customers 200] [--users 20] [--hours 1]

The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.providers import files
from reconciler.providers.http import api_totals
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing.clock import FakeClock
from reconciler.testing.fleet import write_fleet

_reads: Counter[str] = Counter()
_read_json = files.read_json


def _counting_read_json(path: Path, where: str) -> dict[str, Any]:
    _reads[path.name] += 1
    return _read_json(path, where)


def _runs_by_result(metrics: DaemonMetrics) -> Counter[str]:
    out: Counter[str] = Counter()
    for family in metrics.runs.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["result"]] += int(sample.value)
    return out


def run(customers: int, users: int, hours: float) -> dict[str, Any]:
    files.read_json = _counting_read_json  # measurement only: count what the providers read
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        write_fleet(root, customers, users, daemon={"jitterPercent": 10, "maxInFlight": 8})
        clock = FakeClock()
        source = ConfigSource(root, clock)
        path = root / ".reconciler" / "state.db"
        store, state = SqliteStore(path), DaemonState(path)
        metrics = DaemonMetrics()
        sched = Scheduler(source, store, state, clock, metrics, random.Random(42))

        # initial import (not measured): until every customer has run once
        t0 = time.process_time()
        while len([r for r in state.all().values() if r.last_result]) < customers:
            delay = sched.cycle()
            sched.drain()
            clock.advance(max(delay, 0.001))
        initial_cpu = time.process_time() - t0
        assert all(r.last_result == "applied" for r in state.all().values())
        # one unmeasured hour, so the measured one is not shaped by the initial wave
        warm_end = clock.now() + 3600
        while clock.now() < warm_end:
            delay = sched.cycle()
            sched.drain()
            clock.advance(max(delay, 0.001))

        _reads.clear()
        api_before = sum(s.requests for s in api_totals().values())
        before = _runs_by_result(metrics)
        end = clock.now() + hours * 3600
        cycles = idle_cycles = runs = 0
        idle_cpu = 0.0
        t0 = time.process_time()
        while clock.now() < end:
            c0 = time.process_time()
            delay = sched.cycle()
            started = len(sched.in_flight())
            sched.drain()
            cycles += 1
            if started == 0:
                idle_cycles += 1
                idle_cpu += time.process_time() - c0
            runs += started
            clock.advance(max(min(delay, end - clock.now()), 0.001))
        total_cpu = time.process_time() - t0
        results = _runs_by_result(metrics) - before
        api = sum(s.requests for s in api_totals().values()) - api_before
        sched.shutdown(5)
        store.close()
        state.close()
    reads = sum(_reads.values())
    return {
        "customers": customers,
        "users": users,
        "hours": hours,
        "initial_cpu_s": initial_cpu,
        "runs": runs,
        "results": dict(results),
        "reads": dict(_reads),
        "reads_per_run": reads / max(runs, 1),
        "api_requests_per_run": api / max(runs, 1),
        "cycles": cycles,
        "idle_cycles": idle_cycles,
        "cpu_s": total_cpu,
        "idle_cpu_s": idle_cpu,
        "cpu_ms_per_run": 1000 * (total_cpu - idle_cpu) / max(runs, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--hours", type=float, default=1.0)
    a = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}")
    print(
        f"fleet: {a.customers} Entra-only customers x {a.users} users, file-backed (snapshot) providers; "
        f"{a.hours:g} h simulated"
    )
    r = run(a.customers, a.users, a.hours)
    print(f"initial import: {r['customers']} customers applied, {r['initial_cpu_s']:.2f} s CPU")
    print(
        f"steady state: {r['runs']} runs ({r['runs'] / r['customers']:.2f} per customer), results {r['results']}"
    )
    print(
        f"reads per customer per cycle: {r['reads_per_run']:.2f} provider file reads {r['reads']}, "
        f"{r['api_requests_per_run']:.2f} HTTP API requests"
    )
    print(
        f"CPU for the hour: {r['cpu_s']:.2f} s total; {r['cpu_ms_per_run']:.1f} ms per customer run; "
        f"scheduler overhead {r['idle_cpu_s']:.2f} s over {r['idle_cycles']} idle cycles "
        f"({1000 * r['idle_cpu_s'] / max(r['idle_cycles'], 1):.1f} ms each)"
    )
    print(
        f"customers={r['customers']} hours={r['hours']:g} runs={r['runs']} "
        f"reads_per_customer_cycle={r['reads_per_run']:.2f} api_requests_per_customer_cycle={r['api_requests_per_run']:.2f} "
        f"cpu_s={r['cpu_s']:.2f} cpu_ms_per_run={r['cpu_ms_per_run']:.1f} idle_cpu_s={r['idle_cpu_s']:.2f}"
    )


if __name__ == "__main__":
    main()
