"""Benchmark: daemon replicas on one PostgreSQL state, and SQLite vs PostgreSQL.

1. A fleet of Entra-only customers (default 1,000 x 5 users, file-backed) on a
   throwaway PostgreSQL cluster (loopback, this machine). 1, 2 and 3 replicas
   (real schedulers with their own connection pools, in this process, one fake
   clock) import the fleet, then run one more simulated hour (interval 60 min,
   no jitter: the whole fleet is due at once, the worst case for claims).
   Measured: runs per customer in the hour (exactly 1 expected), overlapping
   epochs in the recorded lease claims (0 expected), CPU per run.
2. Takeover after kill -9: three real `reconciler daemon` processes on a small
   fleet with slow applies (leaseSeconds 15); one holding customers is killed;
   the time until each of its customers is claimed by another replica.
3. One customer with 100,000 accounts: plan + apply on SQLite, then on
   PostgreSQL, in one run (target: PostgreSQL within 1.5x).

    python benchmarks/replicas.py [--customers 1000] [--users 5] [--big 100000]

The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from reconciler.config import load_valid_config
from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.engine import Engine
from reconciler.state.backend import open_state
from reconciler.testing import pgcluster
from reconciler.testing.clock import FakeClock
from reconciler.testing.fleet import write_fleet

EXE = Path(sys.executable).with_name("reconciler")


def use_state(root: Path, state: dict[str, Any], **spec: Any) -> None:
    path = root / "settings.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["state"] = state
    doc["spec"].update(spec)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def pg_state(schema: str, lease: int = 60) -> dict[str, Any]:
    return {
        "backend": "postgres",
        "dsn": {"env": "RECONCILER_STATE_DSN"},
        "schema": schema,
        "leaseSeconds": lease,
    }


def overlapping(root: Path, names: list[str]) -> int:
    backend = open_state(load_valid_config(root))
    bad = 0
    try:
        for name in names:
            for a, b in itertools.pairwise(backend.store.claims(name)):
                if a.last_write_at is not None and a.last_write_at > b.acquired_at:
                    bad += 1
    finally:
        backend.close()
    return bad


def step(scheds: list[Scheduler], clock: FakeClock) -> int:
    delays = [s.cycle() for s in scheds]
    started = sum(len(s.in_flight()) for s in scheds)
    for s in scheds:
        s.drain()
    clock.advance(max(min(delays), 0.001))
    return started


def replicas_hour(work: Path, customers: int, users: int, replicas: int) -> dict[str, Any]:
    root = work / f"fleet-{replicas}"
    names = write_fleet(root, customers, users, daemon={"jitterPercent": 0, "maxInFlight": 8})
    use_state(root, pg_state(f"bench_r{replicas}"))
    clock = FakeClock()
    scheds: list[Scheduler] = []
    backends = []
    for n in range(replicas):
        source = ConfigSource(root, clock)
        backend = open_state(source.config)
        backends.append(backend)
        scheds.append(
            Scheduler(source, backend.store, backend.daemon, clock, DaemonMetrics(), random.Random(n))
        )
    state = backends[0].daemon
    t0 = time.monotonic()
    while sum(1 for r in state.all().values() if r.last_result) < customers:  # the initial import
        step(scheds, clock)
    initial_s = time.monotonic() - t0
    start = clock.now()
    c0 = time.process_time()
    w0 = time.monotonic()
    runs = 0
    while clock.now() < start + 3600:
        runs += step(scheds, clock)
    cpu = time.process_time() - c0
    wall = time.monotonic() - w0
    per_customer = [
        sum(1 for e in state.history(n, 10) if start <= float(e["started"]) < start + 3600) for n in names
    ]
    for s in scheds:
        s.shutdown(5)
    for b in backends:
        b.close()
    return {
        "replicas": replicas,
        "initial_import_s": round(initial_s, 1),
        "runs": runs,
        "runs_per_customer_min": min(per_customer),
        "runs_per_customer_max": max(per_customer),
        "overlapping_epochs": overlapping(root, names),
        "cpu_ms_per_run": round(1000 * cpu / max(runs, 1), 2),
        "wall_s_for_the_hour": round(wall, 1),
    }


def takeover(work: Path) -> dict[str, Any]:
    root = work / "takeover"
    # 3 in flight per replica: two replicas take the 6 customers, the third has room to take over
    names = write_fleet(
        root, 6, 3000, daemon={"jitterPercent": 0, "maxInFlight": 3, "shutdownGraceSeconds": 0}
    )
    use_state(root, pg_state("bench_takeover", lease=15), applyBatchSize=1)
    procs = [
        subprocess.Popen(
            [str(EXE), "daemon", "-c", str(root), "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    backend = open_state(load_valid_config(root))
    try:
        deadline = time.monotonic() + 60
        while True:
            held = {lease.customer: lease.pid for lease in backend.store.locks()}
            victim = next((p for p in procs if p.pid in held.values()), None)
            if victim is not None:
                break
            assert time.monotonic() < deadline, "no replica claimed anything"
            time.sleep(0.1)
        orphans = {c for c, pid in held.items() if pid == victim.pid}
        epochs = {c: max(x.epoch for x in backend.store.claims(c)) for c in orphans}
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        taken: dict[str, float] = {}
        while len(taken) < len(orphans) and time.monotonic() - killed < 120:
            for c in orphans - set(taken):
                if max(x.epoch for x in backend.store.claims(c)) > epochs[c]:
                    taken[c] = time.monotonic() - killed
            time.sleep(0.1)
        over = overlapping(root, names)
    finally:
        backend.close()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    return {
        "lease_seconds": 15,
        "orphaned_customers": len(orphans),
        "taken_over": len(taken),
        "takeover_s_max": round(max(taken.values(), default=float("nan")), 1),
        "takeover_s_mean": round(sum(taken.values()) / max(len(taken), 1), 1),
        "overlapping_epochs": over,
    }


def big_customer(work: Path, users: int) -> dict[str, Any]:
    out: dict[str, Any] = {"accounts": users}
    for kind in ("sqlite", "postgres"):
        root = work / f"big-{kind}"
        write_fleet(root, 1, users)
        if kind == "postgres":
            use_state(root, pg_state("bench_big"))
        engine = Engine.open(load_valid_config(root))
        t0 = time.monotonic()
        plan = engine.plan()
        t1 = time.monotonic()
        results = engine.apply(plan)
        t2 = time.monotonic()
        assert results and not results[0].error and len(results[0].succeeded) == users, results[0].error
        out[kind] = {"plan_s": round(t1 - t0, 2), "apply_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2)}
        engine.store.close()
    out["postgres_over_sqlite"] = round(out["postgres"]["total_s"] / out["sqlite"]["total_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--parts", default="hour,takeover,big", help="Which parts to run (comma-separated).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reconciler-replicas-"))
    result: dict[str, Any] = {"customers": args.customers, "users": args.users, "cpus": os.cpu_count()}
    try:
        with pgcluster.cluster() as pg:
            os.environ["RECONCILER_STATE_DSN"] = pg.dsn
            parts = set(args.parts.split(","))
            result["hour"] = []
            for n in (1, 2, 3) if "hour" in parts else ():
                r = replicas_hour(work, args.customers, args.users, n)
                print(json.dumps(r), flush=True)
                result["hour"].append(r)
            if "takeover" in parts:
                result["takeover"] = takeover(work)
                print(json.dumps(result["takeover"]), flush=True)
            if "big" in parts:
                result["big"] = big_customer(work, args.big)
                print(json.dumps(result["big"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
