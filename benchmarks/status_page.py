"""Benchmark: the status page's fleet overview for 10,000 customers, while the daemon works.

A fleet of 10,000 Entra-only, file-backed customers (reconciler.testing.fleet);
their daemon records are seeded into a real SQLite state database, 2% of them
with a problem (blocked with removals, quarantined, failing, conflicts; their
next runs far away so they stay problems), every other customer due now, so the
real scheduler (real clock, real threads) keeps `maxInFlight` customers running
through the whole measurement. The real listener (uvicorn + starlette) serves
on loopback; one client asks, sequentially, after a warm-up:

- `GET /` (the overview: counts by status, problems first, 100 rows),
- `GET /?problems=true`, `GET /api/v1/customers?per_page=100`.

Measured per page: p50 / p95 / max latency over 200 requests with the daemon
idle (the floor of this machine at this moment) and then busy, their ratio, how
many runs were in flight when each request was sent, and the SQL statements one overview
costs (SQLite trace callback on the daemon store's connection: one summary
query for the fleet, not one per customer).

    python benchmarks/status_page.py [--customers 10000] [--requests 200]

The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from reconciler.daemon.clock import SystemClock
from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.listener import DaemonHttpServer
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.state.api import CustomerRecord
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing.fleet import write_fleet

MAX_IN_FLIGHT = 8
PAGES = ("/", "/?problems=true", "/api/v1/customers?per_page=100")


def bundle(root: Path, per_file: int = 100) -> None:
    """Customers 100 to a file (multi-document YAML): the loader refuses more than 10,000 files."""
    files = sorted((root / "customers").glob("*.yaml"))
    for start in range(0, len(files), per_file):
        chunk = files[start : start + per_file]
        text = "---\n".join(f.read_text(encoding="utf-8") for f in chunk)
        for f in chunk:
            f.unlink()
        (root / "customers" / f"batch{start // per_file:04d}.yaml").write_text(text, encoding="utf-8")


def seed(state: DaemonState, names: list[str], now: float) -> int:
    """Every customer gets a record; 2% a problem. Returns how many have one."""
    problems = 0
    for i, name in enumerate(names):
        rec = CustomerRecord(
            name,
            next_run_at=now - 1,
            last_started_at=now - 3600,
            last_finished_at=now - 3599,
            last_result="in-sync",
            last_message="no changes",
            last_success_at=now - 3599,
            last_commit="0" * 40,
        )
        kind = i % 50
        if kind == 0:
            rec = _with(rec, blocked_reason="would remove 40 of 100 accounts", blocked_since=now - 600,
                        blocked_removals=tuple(f"end-user/entra:{n}" for n in range(40)), last_result="blocked")  # fmt: skip
        elif kind == 25:
            rec = _with(rec, failures=6, quarantined=(i % 100 == 25), last_result="error",
                        last_message="IT Glue: 503 after 5 tries")  # fmt: skip
        if kind in (0, 25):
            problems += 1
            rec = _with(rec, next_run_at=now + 86400 * 30)
        state.save_run(rec)
    return problems


def _with(rec: CustomerRecord, **changes: Any) -> CustomerRecord:
    data = rec.to_dict()
    data.update(changes)
    for key in ("conflicts", "blocked_removals", "override_removals"):
        data[key] = tuple(data[key])
    return CustomerRecord(**data)


def measure(client: httpx.Client, sched: Scheduler, path: str, n: int) -> dict[str, Any]:
    for _ in range(20):  # warm-up
        assert client.get(path).status_code == 200
    times, flying = [], []
    for _ in range(n):
        flying.append(len(sched.in_flight()))
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 200
    times.sort()
    return {
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[int(0.95 * len(times)) - 1],
        "max_ms": 1000 * times[-1],
        "in_flight_mean": statistics.fmean(flying),
        "in_flight_min": min(flying),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="status-bench-") as tmp:
        root = Path(tmp) / "config"
        t0 = time.perf_counter()
        names = write_fleet(
            root, args.customers, users=5, daemon={"maxInFlight": MAX_IN_FLIGHT, "jitterPercent": 0}
        )
        bundle(root)
        clock = SystemClock()
        source = ConfigSource(root, clock)
        path = root / ".reconciler" / "state.db"
        store, state, metrics = SqliteStore(path), DaemonState(path), DaemonMetrics()
        problems = seed(state, names, clock.now())
        sched = Scheduler(source, store, state, clock, metrics)
        server = DaemonHttpServer(("127.0.0.1", 0), sched, metrics)
        server.start()
        print(f"fleet of {len(names)} ready in {time.perf_counter() - t0:.1f} s; {problems} with problems")
        statements: list[str] = []
        results: dict[str, dict[str, Any]] = {}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            idle = {page: measure(client, sched, page, args.requests) for page in PAGES}  # the floor
            loop = threading.Thread(target=sched.run_forever, daemon=True)
            loop.start()
            deadline = time.monotonic() + 60
            while len(sched.in_flight()) < MAX_IN_FLIGHT and time.monotonic() < deadline:
                time.sleep(0.05)
            for page in PAGES:
                results[page] = measure(client, sched, page, args.requests)
            sched.shutdown(5)  # alone on the connection now: trace one overview built afresh
            server.app.state.daemon.fleet.invalidate()
            state._db.set_trace_callback(statements.append)  # the benchmark peeks at its own store
            client.get("/")
            state._db.set_trace_callback(None)
        sched.shutdown(5)
        loop.join(10)
        server.stop()
        store.close()
        state.close()
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    for page, r in results.items():
        floor = idle[page]
        print(f"{page:<34} idle p50 {floor['p50_ms']:6.1f} p95 {floor['p95_ms']:6.1f} | busy p50 {r['p50_ms']:6.1f} "
              f"p95 {r['p95_ms']:6.1f} max {r['max_ms']:6.1f} ms | busy/idle p95 {r['p95_ms'] / floor['p95_ms']:.2f} "
              f"| in flight {r['in_flight_mean']:.1f} (min {r['in_flight_min']})")  # fmt: skip
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    print("SQL for one overview:", *[s.split(" FROM ")[-1][:60] for s in selects], sep="\n  ")
    o = results["/"]
    print(
        f"customers={len(names)} problems={problems} requests={args.requests} overview_p50_ms={o['p50_ms']:.1f} "
        f"overview_p95_ms={o['p95_ms']:.1f} problems_p95_ms={results[PAGES[1]]['p95_ms']:.1f} "
        f"api_p95_ms={results[PAGES[2]]['p95_ms']:.1f} in_flight_mean={o['in_flight_mean']:.1f} "
        f"overview_selects={len(selects)} idle_p95_ms={idle['/']['p95_ms']:.1f} "
        f"busy_to_idle_p95={o['p95_ms'] / idle['/']['p95_ms']:.2f} "
        f"problems_busy_to_idle_p95={results[PAGES[1]]['p95_ms'] / idle[PAGES[1]]['p95_ms']:.2f}"
    )


if __name__ == "__main__":
    main()
