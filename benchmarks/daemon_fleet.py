"""Benchmark: the daemon's steady state over a fleet with nothing to change.

A fleet of Entra-only customers (default 200 x 20 users) is imported once and
left to settle for an hour, then the real scheduler runs one more hour of
simulated time (fake clock, real threads, real state database): every poll
cycle, the config change check, every customer's scheduled run (hourly, 10%
jitter). Measured:

- requests per customer per cycle. `--source graph` (default): every tenant is
  read through the real Entra client (MSAL + httpx, delta links in the state
  store) from the Graph simulator, which runs in a child process and counts the
  calls it answers (Graph and identity platform). `--source files`: the
  file-backed (snapshot) providers, counting their file reads. `--source ldap`:
  AD customers (schedule 60 min, at most 1,000) read by the real AD reader from
  the fleet's Samba DC (`mixed_fleet.FLEET_DC`, reconciler/testing/samba.py: one
  DC per machine), each customer its own OU on it (#12 gives a subtree to one
  customer), an OU or a group selected in turn; counts binds, searches, search
  requests and entries process-wide (`ldap_totals()`). `--source graph+ldap`:
  the same with password sync (R3), so every customer also reads its tenant
  from the Graph simulator (whose users match nobody in AD: nothing to change);
- CPU seconds (process time of this process, all threads) for the hour, split
  into the customers' runs and the scheduler's own overhead (cycles that start
  nothing).

    python benchmarks/daemon_fleet.py [--source graph|files|ldap|graph+ldap] [--customers 200] [--users 20]

`ldap` needs root or passwordless sudo (the DC listens on fixed ports); do not
run the AD tests at the same time, their writes move the DC's USN.

The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from mixed_fleet import (
    AD_PASSWORD_ENV,
    AD_USER_ENV,
    FLEET_DC,
    MAX_AD,
    READER_PASSWORD,
    READER_UPN,
    fleet_ad,
)

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.providers import files
from reconciler.providers.http import api_totals
from reconciler.providers.ldap import ldap_totals
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing import samba
from reconciler.testing.clock import FakeClock
from reconciler.testing.fleet import tenant_id, write_fleet
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

SECRET_ENV = "BENCH_DAEMON_GRAPH_SECRET"
DAEMON = {"jitterPercent": 10, "maxInFlight": 8}
# the AD tests' seed (tests/ad/seed.py): Staff has 4 enabled users + 1 disabled below it,
# Service 2, Sales Team (nested: Sales EU) 3 enabled; relative DNs take each customer's baseDn
# relative to each customer's own OU (`mixed_fleet.FLEET_DC`: OU=aNNNN,OU=Fleet): since #12 two
# customers may not share one directory subtree, so the AD tests' single seed OU serves one only
AD_POLICIES = [
    {"selection": {"ous": ["OU=Users"]}},
    {"selection": {"groups": ["CN=Staff"]}},
]


# --- the Graph simulator, in a child process (Graph is a remote service) ---------------------
def serve(conn: Connection, customers: int, users: int, workdir: str) -> None:
    ca = TestCA.create(Path(workdir) / "ca")
    tenants = tuple(tenant_id(i) for i in range(customers))
    sim = GraphSimulator(ca, tenants=tenants)
    for i, tenant in enumerate(tenants):
        sim.seed(tenant, users, seed=i + 1, domain=f"tenant{i}.test")
    sim.start()
    conn.send((sim.url, str(ca.ca_file), sim.identity.client_id, sim.identity.client_secret))
    while True:
        command, arg = conn.recv()
        if command == "count":  # (Graph calls, identity calls) since request number `arg`
            later = sim.requests[arg:]
            graph = sum(1 for r in later if r.path.startswith("/v1.0/"))
            conn.send((len(sim.requests), graph, len(later) - graph))
        else:
            sim.stop()
            conn.send(True)
            return


class GraphSide:
    def __init__(self, customers: int, users: int, workdir: str) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(
            target=serve, args=(child, customers, users, workdir), daemon=True
        )
        self.proc.start()
        self.url, self.ca_file, self.client_id, secret = self.conn.recv()
        os.environ[SECRET_ENV] = secret
        self.mark = 0

    def connection(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "credential": {"clientSecret": {"env": SECRET_ENV}},
            "authorityHost": self.url,
            "graphUrl": self.url,
            "caFile": self.ca_file,
        }

    def counts(self) -> Counter[str]:
        self.conn.send(("count", self.mark))
        self.mark, graph, identity = self.conn.recv()
        return Counter({"graph": graph, "identity": identity})

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.conn.recv()
        self.proc.join(10)


# --- the file-backed fleet: count what the providers read ------------------------------------
_reads: Counter[str] = Counter()
_read_json = files.read_json


def _counting_read_json(path: Path, where: str) -> dict[str, Any]:
    _reads[path.name] += 1
    return _read_json(path, where)


def _file_counts() -> Counter[str]:
    out = Counter(_reads)
    _reads.clear()
    return out


# --- Active Directory: the AD tests' Samba DC; count what every reader asks -----------------
def ad_directory(dc: samba.SambaDC, root: Path) -> Callable[[int], dict[str, Any]]:
    """Customer i's `directories.activeDirectory`: the fleet DC, its own OU."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ad-ca.pem").write_bytes(dc.ca_file.read_bytes())
    os.environ[AD_USER_ENV], os.environ[AD_PASSWORD_ENV] = READER_UPN, READER_PASSWORD
    return lambda i: fleet_ad(dc, i)


class LdapCounts:
    def __init__(self, also: Callable[[], Counter[str]] | None = None) -> None:
        self.mark = Counter(ldap_totals())
        self.also = also

    def __call__(self) -> Counter[str]:
        now = Counter(ldap_totals())
        out = Counter(
            {f"ldap_{k}" if not k.endswith("_reads") else k: v for k, v in (now - self.mark).items()}
        )
        self.mark = now
        return out + self.also() if self.also else out


# --- the measured daemon ---------------------------------------------------------------------
def simulate(sched: Scheduler, clock: FakeClock, seconds: float) -> tuple[int, int, int, float]:
    """Run the scheduler for `seconds` of simulated time: (cycles, idle cycles, runs, idle CPU s)."""
    end = clock.now() + seconds
    cycles = idle = runs = 0
    idle_cpu = 0.0
    while clock.now() < end:
        c0 = time.process_time()
        delay = sched.cycle()
        started = len(sched.in_flight())
        sched.drain()
        cycles += 1
        if started == 0:
            idle += 1
            idle_cpu += time.process_time() - c0
        runs += started
        clock.advance(max(min(delay, end - clock.now()), 0.001))
    return cycles, idle, runs, idle_cpu


def run(root: Path, customers: int, counts: Callable[[], Counter[str]]) -> dict[str, Any]:
    clock = FakeClock()
    source = ConfigSource(root, clock)
    path = root / ".reconciler" / "state.db"
    store, state = SqliteStore(path), DaemonState(path)
    metrics = DaemonMetrics()
    sched = Scheduler(source, store, state, clock, metrics, random.Random(42))

    t0 = time.process_time()
    while len([r for r in state.all().values() if r.last_result]) < customers:  # initial import
        simulate(sched, clock, 10)
    initial_cpu = time.process_time() - t0
    bad = {n: r.last_message for n, r in state.all().items() if r.last_result not in ("applied", "in-sync")}
    assert not bad, list(bad.items())[:3]
    initial = counts()
    simulate(sched, clock, 3600)  # settle: the measured hour is not shaped by the initial wave
    counts()

    before = _runs_by_result(metrics)
    api_before = sum(s.requests for s in api_totals().values())
    t0 = time.process_time()
    cycles, idle, runs, idle_cpu = simulate(sched, clock, 3600)
    total_cpu = time.process_time() - t0
    measured = counts()
    api = sum(s.requests for s in api_totals().values()) - api_before
    results = _runs_by_result(metrics) - before
    sched.shutdown(5)
    store.close()
    state.close()
    return {
        "initial_cpu_s": initial_cpu,
        "initial": dict(initial),
        "runs": runs,
        "results": dict(results),
        "counts": dict(measured),
        "per_run": {k: v / max(runs, 1) for k, v in measured.items()},
        "client_http_per_run": api / max(runs, 1),
        "cycles": cycles,
        "idle_cycles": idle,
        "cpu_s": total_cpu,
        "idle_cpu_s": idle_cpu,
        "cpu_ms_per_run": 1000 * (total_cpu - idle_cpu) / max(runs, 1),
    }


def _runs_by_result(metrics: DaemonMetrics) -> Counter[str]:
    out: Counter[str] = Counter()
    for family in metrics.runs.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[sample.labels["result"]] += int(sample.value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", choices=["graph", "files", "ldap", "graph+ldap"], default="graph")
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--users", type=int, default=20)
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs {platform.machine()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        if a.source in ("ldap", "graph+ldap"):
            if a.customers > MAX_AD:
                raise SystemExit(f"--source {a.source}: the fleet DC has {MAX_AD} customer OUs")
            dc = samba.acquire(FLEET_DC)
            side = GraphSide(a.customers, a.users, tmp) if a.source == "graph+ldap" else None
            ad = ad_directory(dc, root)
            policies = [{**p, "schedule": {"intervalMinutes": 60}} for p in AD_POLICIES]
            graph = side.connection() if side else None
            write_fleet(root, a.customers, a.users, daemon=DAEMON, graph=graph, ad=ad, ad_policies=policies)
            what = (
                "AD read by the real AD reader from the Samba DC (each customer its own OU; an OU or a group in turn)"
                + (", password sync against tenants on the Graph simulator" if side else "")
            )
            try:
                r = run(root, a.customers, LdapCounts(side.counts if side else None))
            finally:
                if side:
                    side.stop()
                samba.release(dc)
            key = "ldap_searches"
        elif a.source == "graph":
            side = GraphSide(a.customers, a.users, tmp)
            write_fleet(root, a.customers, a.users, daemon=DAEMON, graph=side.connection())
            what = "tenants read from the Graph simulator (child process) by the real Entra client"
            try:
                r = run(root, a.customers, side.counts)
            finally:
                side.stop()
            key = "graph"
        else:
            files.read_json = _counting_read_json  # measurement only
            write_fleet(root, a.customers, a.users, daemon=DAEMON)
            what = "file-backed (snapshot) providers"
            r = run(root, a.customers, _file_counts)
            key = "entra.json"
    n = a.customers
    kind = "AD" if "ldap" in a.source else "Entra-only"
    size = "5 AD users each (one disabled, the fleet DC's OUs)" if "ldap" in a.source else f"{a.users} users"
    print(f"fleet: {n} {kind} customers x {size}, {what}; 1 h simulated after 1 h settling")
    print(f"initial import: {n} customers applied, {r['initial_cpu_s']:.2f} s CPU, requests {r['initial']}")
    print(f"steady state: {r['runs']} runs ({r['runs'] / n:.2f} per customer), results {r['results']}")
    per = ", ".join(f"{v:.2f} {k}" for k, v in sorted(r["per_run"].items())) or "none"
    print(f"per customer per cycle: {per} (client-side HTTP requests: {r['client_http_per_run']:.2f})")
    print(
        f"CPU for the hour: {r['cpu_s']:.2f} s total; {r['cpu_ms_per_run']:.1f} ms per customer run; "
        f"scheduler overhead {r['idle_cpu_s']:.2f} s over {r['idle_cycles']} idle cycles "
        f"({1000 * r['idle_cpu_s'] / max(r['idle_cycles'], 1):.1f} ms each)"
    )
    print(
        f"source={a.source} customers={n} users={a.users} runs={r['runs']} "
        f"requests_per_customer_cycle={r['per_run'].get(key, 0.0):.2f} "
        f"identity_per_customer_cycle={r['per_run'].get('identity', 0.0):.2f} "
        + (
            f"graph_per_customer_cycle={r['per_run'].get('graph', 0.0):.2f} "
            f"ldap_requests_per_customer_cycle={r['per_run'].get('ldap_requests', 0.0):.2f} "
            f"ldap_binds_per_customer_cycle={r['per_run'].get('ldap_binds', 0.0):.2f} "
            if "ldap" in a.source
            else ""
        )
        + f"cpu_s={r['cpu_s']:.2f} cpu_ms_per_run={r['cpu_ms_per_run']:.1f} idle_cpu_s={r['idle_cpu_s']:.2f}"
    )


if __name__ == "__main__":
    main()
