"""Benchmark: a mixed fleet's steady state, with vaults and PSAs (#16).

Every customer is Entra-only (its tenant on the Graph simulator) with a password
vault and a PSA in proportion: customer i has IT Glue (even i) or Hudu (odd i),
and ConnectWise (i mod 4 in 0, 3) or Autotask (i mod 4 in 1, 2); the policy
turns on password entry matching and contact matching, the schedule is every
5 minutes. All vendors are simulated in one child process (remote services; their
CPU is not counted) and count what they answer. The real daemon scheduler runs
on a fake clock with real threads, the real clients (httpx, MSAL, connection
reuse) and a real SQLite state:

1. the initial import (every account linked or created in its vault and PSA);
2. one hour of settling, then one measured hour: requests per customer per
   cycle per vendor (target: the directory delta floor, 1 Graph users delta,
   and 0 vault/PSA listings between verifications), new TLS connections, CPU per
   customer run;
3. a verification round: the clock moves on a day (`verifyLinksEveryHours` 24),
   every customer runs once and proves its links by listing each integration in
   full; its cost, spread over a day of 5-minute cycles, is the amortized figure.

    python benchmarks/mixed_fleet.py [--customers 1000] [--users 10] [--minutes 60]

The last line is machine-readable. Active Directory customers (+ password sync)
are not part of this fleet: the one Samba DC of the machine serves the AD tests
and `daemon_fleet.py --source ldap` measures it (2-4 LDAP searches a run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.integrations.autotask.sandbox import hookup as autotask_hookup
from reconciler.integrations.connectwise.sandbox import hookup as connectwise_hookup
from reconciler.integrations.hudu.sandbox import hookup as hudu_hookup
from reconciler.integrations.itglue.sandbox import hookup as itglue_hookup
from reconciler.providers import clientpool
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing.clock import FakeClock
from reconciler.testing.fleet import customer_name, tenant_id, write_fleet
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

SECRET_ENV = "BENCH_MIXED_GRAPH_SECRET"
DAEMON = {"jitterPercent": 10, "maxInFlight": 8}
VENDORS = ("itglue", "hudu", "connectwise", "autotask")
# what a full listing of one customer's records is, per vendor (method, path fragment)
LISTING = {
    "itglue": ("GET", "/passwords"),
    "hudu": ("GET", "/api/v1/asset_passwords"),
    "connectwise": ("GET", "/company/contacts"),
    "autotask": ("POST", "/Contacts/query"),
}
BUDGETS = {
    "itglue": {"requestsPer5Minutes": 1_000_000},
    "hudu": {"requestsPerMinute": 1_000_000},
    "autotask": {"requestsPerHour": 1_000_000},
}


def vault_of(i: int) -> str:
    return "itglue" if i % 2 == 0 else "hudu"


def psa_of(i: int) -> str:
    return "connectwise" if i % 4 in (0, 3) else "autotask"


# --- every vendor, in a child process ----------------------------------------------------------
def serve(conn: Connection, customers: int, users: int, workdir: str) -> None:
    ca = TestCA.create(Path(workdir) / "ca")
    tenants = tuple(tenant_id(i) for i in range(customers))
    graph = GraphSimulator(ca, tenants=tenants)
    for i, tenant in enumerate(tenants):
        graph.seed(tenant, users, seed=i + 1, domain=f"tenant{i}.test")
    hooks = {
        "itglue": itglue_hookup(ca),
        "hudu": hudu_hookup(ca),
        "connectwise": connectwise_hookup(ca),
        "autotask": autotask_hookup(ca),
    }
    sims: dict[str, Any] = {k: h.simulator for k, h in hooks.items()}
    sims["itglue"].add_category("Office 365")
    links: list[dict[str, str]] = []
    for i in range(customers):
        name = customer_name(i)
        link: dict[str, str] = {}
        if vault_of(i) == "itglue":
            link["itglueOrganizationId"] = str(sims["itglue"].add_organization(name))
        else:
            link["huduCompanyId"] = str(sims["hudu"].add_company(name))
        company = 1000 + i
        if psa_of(i) == "connectwise":
            sims["connectwise"].add_company(company, name)
            link["connectwiseCompanyId"] = str(company)
        else:
            sims["autotask"].add_company(company, name)
            link["autotaskCompanyId"] = str(company)
        links.append(link)
    graph.start()
    for sim in sims.values():
        sim.start()
    settings = "".join(h.settings(str(ca.ca_file)) for h in hooks.values())
    secrets = {k: v for h in hooks.values() for k, v in h.secrets.items()}
    conn.send(
        (
            graph.url,
            str(ca.ca_file),
            graph.identity.client_id,
            graph.identity.client_secret,
            settings,
            secrets,
            links,
        )
    )
    marks: dict[str, int] = {k: 0 for k in (*VENDORS, "graph")}
    conns: dict[str, int] = {k: 0 for k in (*VENDORS, "graph")}
    while True:
        command, _arg = conn.recv()
        if command != "count":
            graph.stop()
            for sim in sims.values():
                sim.stop()
            conn.send(True)
            return
        out: Counter[str] = Counter()
        for kind, sim in (*sims.items(), ("graph", graph)):
            with sim._lock:
                later = sim.requests[marks[kind] :]
                marks[kind] = len(sim.requests)
                opened, conns[kind] = sim.connections - conns[kind], sim.connections
            out[f"{kind}_connections"] += opened
            if kind == "graph":
                delta = sum(1 for r in later if r.path.startswith("/v1.0/users/delta"))
                api = sum(1 for r in later if r.path.startswith("/v1.0/"))
                out["graph_users_delta"] += delta
                out["graph_other"] += api - delta
                out["identity"] += len(later) - api
                continue
            method, fragment = LISTING[kind]
            listing = sum(1 for r in later if r.method == method and fragment in r.path)
            out[f"{kind}_listing"] += listing
            out[f"{kind}_other"] += len(later) - listing
        conn.send(out)


class Vendors:
    def __init__(self, customers: int, users: int, workdir: str) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(
            target=serve, args=(child, customers, users, workdir), daemon=True
        )
        self.proc.start()
        (self.url, self.ca_file, self.client_id, secret, self.settings, self.secrets, self.links) = (
            self.conn.recv()
        )
        os.environ[SECRET_ENV] = secret

    def graph(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "credential": {"clientSecret": {"env": SECRET_ENV}},
            "authorityHost": self.url,
            "graphUrl": self.url,
            "caFile": self.ca_file,
        }

    def counts(self) -> Counter[str]:
        self.conn.send(("count", None))
        out: Counter[str] = self.conn.recv()
        return out

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.conn.recv()
        self.proc.join(10)


def write_config(root: Path, customers: int, users: int, vendors: Vendors, verify_hours: float) -> None:
    write_fleet(root, customers, users, daemon=DAEMON, graph=vendors.graph())
    (root / "secrets").mkdir()
    for name, value in vendors.secrets.items():
        (root / "secrets" / name).write_text(value)
    path = root / "settings.yaml"
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    spec["features"] = {"passwordManager": True}
    spec["verifyLinksEveryHours"] = verify_hours
    spec["connections"].update(yaml.safe_load("connections:\n" + vendors.settings)["connections"])
    for kind, budget in BUDGETS.items():
        spec["connections"][kind].update(budget)  # measured here: requests, not the client-side waits
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path = root / "policies" / "entra.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["options"] = {"passwordEntryMatching": True, "contactMatching": True}
    doc["spec"]["schedule"] = {"intervalMinutes": 5}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for i in range(customers):
        path = root / "customers" / f"{customer_name(i)}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["integrations"] = vendors.links[i]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def simulate(sched: Scheduler, clock: FakeClock, seconds: float) -> tuple[int, float]:
    """Run the scheduler for `seconds` of simulated time: (runs started, CPU of cycles that
    started runs, i.e. the runs themselves plus their scheduling)."""
    end = clock.now() + seconds
    runs, cpu = 0, 0.0
    while clock.now() < end:
        c0 = time.process_time()
        delay = sched.cycle()
        started = len(sched.in_flight())
        sched.drain()
        if started:
            runs += started
            cpu += time.process_time() - c0
        clock.advance(max(min(delay, end - clock.now()), 0.001))
    return runs, cpu


def run(root: Path, customers: int, minutes: float, vendors: Vendors, keep: bool) -> dict[str, Any]:
    clock = FakeClock()
    source = ConfigSource(root, clock)
    path = root / ".reconciler" / "state.db"
    store, state = SqliteStore(path), DaemonState(path)
    sched = Scheduler(source, store, state, clock, DaemonMetrics(), random.Random(42))
    previous = clientpool.use(sched.clients if keep else None)  # what run_forever does
    t0 = time.process_time()
    while len([r for r in state.all().values() if r.last_result]) < customers:  # initial import
        simulate(sched, clock, 10)
    initial_cpu = time.process_time() - t0
    bad = {n: r.last_message for n, r in state.all().items() if r.last_result not in ("applied", "in-sync")}
    assert not bad, list(bad.items())[:3]
    initial = vendors.counts()
    simulate(sched, clock, 3600)  # settle
    vendors.counts()
    runs, cpu = simulate(sched, clock, minutes * 60)
    steady = vendors.counts()
    results = Counter(r.last_result for r in state.all().values())
    clock.advance(24 * 3600)  # a day on: every customer's verification is due
    vruns, vcpu = simulate(sched, clock, 300)
    verify = vendors.counts()
    clientpool.use(previous)
    sched.shutdown(5)
    store.close()
    state.close()
    return {
        "initial_cpu_s": initial_cpu,
        "initial": initial,
        "runs": runs,
        "results": dict(results),
        "steady": steady,
        "cpu_ms_per_run": 1000 * cpu / max(runs, 1),
        "verify_runs": vruns,
        "verify": verify,
        "verify_cpu_ms_per_run": 1000 * vcpu / max(vruns, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated steady state measured")
    ap.add_argument(
        "--verify-hours",
        type=float,
        default=24.0,
        help="verifyLinksEveryHours; 0.001: every run lists every integration (the cost before #16)",
    )
    ap.add_argument(
        "--no-kept-connections", action="store_true", help="a new TLS connection per run (before #16)"
    )
    a = ap.parse_args()
    n = a.customers
    print(f"machine: {os.cpu_count()} CPUs {platform.machine()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        vendors = Vendors(n, a.users, tmp)
        root = Path(tmp) / "fleet"
        try:
            write_config(root, n, a.users, vendors, a.verify_hours)
            r = run(root, n, a.minutes, vendors, not a.no_kept_connections)
        finally:
            vendors.stop()
    share = {v: sum(1 for i in range(n) if v in (vault_of(i), psa_of(i))) for v in VENDORS}
    print(
        f"fleet: {n} Entra-only customers x {a.users} users; "
        + ", ".join(f"{share[v]} on {v}" for v in VENDORS)
        + f"; 5-minute schedule, verifyLinksEveryHours {a.verify_hours:g}"
    )
    print(f"initial import: {r['initial_cpu_s']:.1f} s CPU; requests {dict(sorted(r['initial'].items()))}")
    runs = r["runs"]
    print(f"steady state: {runs} runs in {a.minutes:g} simulated minutes, last results {r['results']}")
    st = r["steady"]
    graph = (st["graph_users_delta"] / runs, st["graph_other"] / runs, st["identity"] / runs)
    print(
        f"  Graph per customer per cycle: {graph[0]:.2f} users delta, {graph[1]:.2f} other, {graph[2]:.3f} identity"
    )
    for v in VENDORS:
        cycles = runs * share[v] / n  # runs of the customers on this vendor
        print(
            f"  {v}: {st[f'{v}_listing'] / cycles:.3f} listings and {st[f'{v}_other'] / cycles:.3f} other "
            f"requests per customer per cycle; {st[f'{v}_connections']} new TLS connections"
        )
    print(f"  CPU {r['cpu_ms_per_run']:.1f} ms per customer run")
    vr, ver = r["verify_runs"], r["verify"]
    print(f"verification round (a day later): {vr} runs, CPU {r['verify_cpu_ms_per_run']:.1f} ms per run")
    for v in VENDORS:
        print(
            f"  {v}: {ver[f'{v}_listing'] / share[v]:.2f} listing requests per customer "
            f"(= {ver[f'{v}_listing'] / share[v] / 288:.4f} per customer per 5-minute cycle over a day)"
        )
    listings = sum(st[f"{v}_listing"] for v in VENDORS)
    print(
        f"customers={n} users={a.users} verify_hours={a.verify_hours:g} kept={not a.no_kept_connections} "
        f"runs={runs} graph_delta_per_cycle={graph[0]:.2f} graph_connections_per_run={st['graph_connections'] / runs:.3f} "
        f"steady_listings={listings} cpu_ms_per_run={r['cpu_ms_per_run']:.1f} "
        f"verify_listings={sum(ver[f'{v}_listing'] for v in VENDORS)} "
        f"verify_cpu_ms_per_run={r['verify_cpu_ms_per_run']:.1f} initial_cpu_s={r['initial_cpu_s']:.1f}"
    )


if __name__ == "__main__":
    main()
