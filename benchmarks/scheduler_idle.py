"""Benchmark: the daemon scheduler's idle cycle at N customers (nothing due).

A config of N Entra-only customers, a real SQLite daemon state where every
customer is scheduled an hour ahead, the real `Scheduler` with an injected
clock. Measured apart: the first cycle (config resolved, every schedule row
read into the due queue), the periodic resync (every schedule row, every 10 s),
the config check (file stats, every `configCheckSeconds`), and the idle cycles
in between, which touch only the due queue's head.

    python benchmarks/scheduler_idle.py [N ...]

The last line is machine-readable.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing.clock import FakeClock

SETTINGS = """apiVersion: reconciler.dev/v1
kind: Settings
metadata: {name: bench}
spec:
  state: {backend: sqlite, path: state.db}
  snapshot: {dir: live}
---
apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata: {name: p}
spec:
  appliesTo: {labelSelector: {matchLabels: {plan: p}}}
  source: entra
"""
CUSTOMER = """apiVersion: reconciler.dev/v1
kind: Customer
metadata: {{name: c{i:05d}, labels: {{plan: p}}}}
spec:
  directories: {{entra: {{tenantId: 00000000-0000-4000-8000-{i:012d}}}}}
"""


def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "settings.yaml").write_text(SETTINGS)
        (root / "customers").mkdir()
        for i in range(n):
            (root / "customers" / f"c{i:05d}.yaml").write_text(CUSTOMER.format(i=i))
        clock = FakeClock()
        source = ConfigSource(root, clock)
        state = DaemonState(root / "state.db")
        for i in range(n):
            state.set_next_run(f"c{i:05d}", clock.now() + 3600)
        sched = Scheduler(source, SqliteStore(root / "state.db"), state, clock, DaemonMetrics())

        def timed() -> float:
            t = time.process_time()
            sched.cycle()
            return time.process_time() - t

        first = timed()
        idle = []
        resync = []
        check = []
        for step in range(1, 121):  # two simulated minutes, a cycle every second
            clock.advance(1.0)
            secs = timed()
            if step % 10 == 0:
                resync.append(secs)  # every 10 s: schedule rows (and the config check, every 5 s)
            elif step % 5 == 0:
                check.append(secs)
            else:
                idle.append(secs)
        assert not sched.in_flight()
        idle.sort()
        return {
            "first_ms": first * 1e3,
            "idle_ms": idle[len(idle) // 2] * 1e3,
            "check_ms": sorted(check)[len(check) // 2] * 1e3,
            "resync_ms": sorted(resync)[len(resync) // 2] * 1e3,
        }


def main(sizes: list[int]) -> None:
    last = {}
    for n in sizes:
        last = measure(n)
        print(
            f"N={n:>5}: idle cycle {last['idle_ms']:.3f} ms (median), config check cycle {last['check_ms']:.1f} ms, "
            f"resync cycle {last['resync_ms']:.1f} ms, first cycle {last['first_ms']:.0f} ms"
        )
    print(f"customers={sizes[-1]} " + " ".join(f"{k}={v:.3f}" for k, v in last.items()))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000, 5000])
