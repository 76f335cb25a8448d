"""Benchmark: a mixed fleet's steady state, with vaults and PSAs (#16).

Customers of three kinds, spread evenly over the fleet: Entra-only selecting
every licensed user, Entra-only selecting by group (`selection.groups`:
"Staff", 7 of each tenant's users; `--group-share`, default 0.3), and Active
Directory with password sync (`--ad-share`, default 0.2): the real AD reader on
the machine's Samba DC, every AD customer its own OU (`baseDn`
OU=aNNNN,OU=Fleet,DC=example,DC=test, 5 users of whom one is disabled, half the
AD customers select `OU=Users`, half the group `CN=Staff`), each AD user matched
by UPN to a licensed user of the customer's tenant on the Graph simulator. The
one DC serves every customer: one directory per customer would be one DC per
customer, which the machine cannot run, and a DC's searches for one OU do not
depend on its other OUs. The DC is provisioned from LDIF once
(`samba.DcSpec("fleet")`, cached) and replaces the AD tests' DC while the
benchmark runs (do not run the AD tests at the same time).

Every customer has a password vault and a PSA in proportion: customer i has
IT Glue (even i) or Hudu (odd i), and ConnectWise (i mod 4 in 0, 3) or Autotask
(i mod 4 in 1, 2); the policies turn on password entry matching and contact
matching, the schedule is every 5 minutes. All vendors are simulated in one
child process (remote services; their CPU is not counted) and count what they
answer; LDAP is counted process-wide by the reader (`ldap_totals()`). The real
daemon scheduler runs on a fake clock with real threads, the real clients
(httpx, MSAL, ldap3, connection reuse), the MSP-wide request budgets at their
defaults (IT Glue 1,500 per 300 s, Hudu 150 per 60 s, Autotask 3,000 per
3,600 s; spent on the fake clock) and a real SQLite state:

1. the initial import (every account linked or created in its vault and PSA);
2. one hour of settling (`--settle-minutes`), then the measured steady state (`--minutes`):
   requests per customer per cycle per vendor and per customer kind (target:
   the directory delta floor, 1 Graph users delta, +1 group delta for a group
   selection, <= 2 LDAP searches for AD, and 0 vault/PSA listings between
   verifications), new TLS connections, CPU per customer run;
3. a verification round: the clock moves on a day (`verifyLinksEveryHours` 24),
   every customer runs once and proves its links by listing each integration in
   full; its cost, spread over a day of 5-minute cycles, is the amortized figure.

Budgets: the vendors' request counts are sampled at every cycle that starts
runs (fake clock) and the most requests in any sliding window of each default
budget's length is reported against the budget, for the whole benchmark
(initial import, steady state, verification round), with the customers the
budgets deferred. `--unlimited-budgets` turns the MSP-wide budgets off (a
5,000-customer initial import under Hudu's 150 a minute takes hours of
simulated time). The per-connection client-side limiters (`requestsPerMinute`
and the like) wait in real time, so they are raised here; the MSP-wide
defaults are below them.

    python benchmarks/mixed_fleet.py [--customers 1000] [--users 10] [--minutes 60]
        [--settle-minutes 60] [--group-share 0.3] [--ad-share 0.2] [--unlimited-budgets]

`--ad-share` needs root or passwordless sudo (the DC listens on fixed ports):
given explicitly it fails when the DC cannot be started; by default the fleet
has no AD customers then, and says so. The last line is machine-readable.
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
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import ldap3
import yaml

from reconciler.daemon.configsource import ConfigSource
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.integrations.autotask.sandbox import hookup as autotask_hookup
from reconciler.integrations.connectwise.sandbox import hookup as connectwise_hookup
from reconciler.integrations.hudu.sandbox import hookup as hudu_hookup
from reconciler.integrations.itglue.sandbox import hookup as itglue_hookup
from reconciler.providers import clientpool
from reconciler.providers.ldap import ldap_totals
from reconciler.state.daemon import DaemonState
from reconciler.state.store import SqliteStore
from reconciler.testing import samba
from reconciler.testing.clock import FakeClock
from reconciler.testing.fleet import customer_name, tenant_id, write_fleet
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

SECRET_ENV = "BENCH_MIXED_GRAPH_SECRET"
AD_USER_ENV, AD_PASSWORD_ENV = "BENCH_MIXED_AD_USER", "BENCH_MIXED_AD_PASSWORD"
DAEMON = {"jitterPercent": 10, "maxInFlight": 8}
VENDORS = ("itglue", "hudu", "connectwise", "autotask")
KINDS = ("entra", "entra-groups", "ad")
# what a full listing of one customer's records is, per vendor (method, path fragment)
LISTING = {
    "itglue": ("GET", "/passwords"),
    "hudu": ("GET", "/api/v1/asset_passwords"),
    "connectwise": ("GET", "/company/contacts"),
    "autotask": ("POST", "/Contacts/query"),
}
# the per-connection client-side limiters wait in real time: raised, the MSP-wide budgets stay
CLIENT_LIMITS = {
    "itglue": {"requestsPer5Minutes": 1_000_000},
    "hudu": {"requestsPerMinute": 1_000_000},
    "autotask": {"requestsPerHour": 1_000_000},
}
# the MSP-wide defaults (each integration's Facts.msp_budget): requests, window seconds
DEFAULT_BUDGETS = {"itglue": (1500, 300.0), "hudu": (150, 60.0), "autotask": (3000, 3600.0)}
GROUP_MEMBERS = 7  # of each group-selecting tenant's users, in its "Staff" group
# the fleet's AD: one OU per AD customer under OU=Fleet, AD_USERS users each (the last disabled)
MAX_AD, AD_USERS = 1000, 5
FLEET_OU = f"OU=Fleet,{samba.BASE_DN}"
READER_UPN, READER_PASSWORD = "fleet-reader@example.test", "Fleet-Reader-Pass-1!"
AD_POLICIES = {"ad-ou": {"ous": ["OU=Users"]}, "ad-group": {"groups": ["CN=Staff"]}}


def vault_of(i: int) -> str:
    return "itglue" if i % 2 == 0 else "hudu"


def psa_of(i: int) -> str:
    return "connectwise" if i % 4 in (0, 3) else "autotask"


def spread(i: int, share: float) -> bool:
    """Every 1/share-th customer, evenly over the fleet."""
    return int((i + 1) * share) > int(i * share)


def kinds_of(customers: int, ad_share: float, group_share: float) -> list[str]:
    """Customer i's kind; group_share is of the whole fleet, taken from the non-AD customers."""
    out = ["ad" if spread(i, ad_share) else "entra" for i in range(customers)]
    rest = [i for i, k in enumerate(out) if k == "entra"]
    share = min(group_share / max(1 - ad_share, 1e-9), 1.0)
    for n, i in enumerate(rest):
        if spread(n, share):
            out[i] = "entra-groups"
    return out


def ad_ou(k: int) -> str:
    return f"OU=a{k:04d},{FLEET_OU}"


def ad_upn(k: int, j: int) -> str:
    return f"u{j}.a{k:04d}@example.test"


def fleet_ldif() -> Iterator[str]:
    yield f"dn: {FLEET_OU}\nobjectClass: organizationalUnit"
    for k in range(MAX_AD):
        yield f"dn: {ad_ou(k)}\nobjectClass: organizationalUnit"
        yield f"dn: OU=Users,{ad_ou(k)}\nobjectClass: organizationalUnit"
        members = []
        for j in range(AD_USERS):
            dn = f"CN=User {j},OU=Users,{ad_ou(k)}"
            members.append(dn)
            uac = 546 if j == AD_USERS - 1 else 544  # PASSWD_NOTREQD (+ ACCOUNTDISABLE)
            yield (
                f"dn: {dn}\nobjectClass: user\nsAMAccountName: u{j}a{k:04d}\n"
                f"userPrincipalName: {ad_upn(k, j)}\nmail: {ad_upn(k, j)}\n"
                f"givenName: User{j}\nsn: Fleet{k:04d}\ndisplayName: User {j} a{k:04d}\n"
                f"userAccountControl: {uac}"
            )
        yield "\n".join(
            [f"dn: CN=Staff,{ad_ou(k)}", "objectClass: group", f"sAMAccountName: staff{k:04d}",
             "groupType: -2147483646", *(f"member: {m}" for m in members)]
        )  # fmt: skip


def add_reader(admin: ldap3.Connection) -> None:
    """An ordinary account (Domain Users only), as MSPs bind with."""
    done = admin.add(
        f"CN=fleet-reader,CN=Users,{samba.BASE_DN}", "user",
        {"sAMAccountName": "fleet-reader", "userPrincipalName": READER_UPN, "userAccountControl": 512,
         "unicodePwd": f'"{READER_PASSWORD}"'.encode("utf-16-le")},
    )  # fmt: skip
    if not done:
        raise samba.SambaError(f"adding the fleet's reader failed: {admin.result}")


FLEET_DC = samba.DcSpec("fleet", seed=add_reader, ldif=fleet_ldif, version=f"{MAX_AD}x{AD_USERS}/v1")


def fleet_ad(dc: samba.SambaDC, k: int) -> dict[str, Any]:
    """AD customer k's `directories.activeDirectory`: its own OU on the fleet DC (the
    reader's credentials in AD_USER_ENV / AD_PASSWORD_ENV, the DC's CA in ad-ca.pem)."""
    return {
        "server": dc.host,
        "baseDn": ad_ou(k),
        "bindUser": {"env": AD_USER_ENV},
        "bindPassword": {"env": AD_PASSWORD_ENV},
        "caFile": "ad-ca.pem",
        "timeoutSeconds": 10,
    }


def start_dc(required: bool) -> samba.SambaDC | None:
    try:
        return samba.acquire(FLEET_DC)
    except (samba.SambaError, OSError, PermissionError) as e:
        if required:
            raise SystemExit(f"--ad-share needs the Samba DC, which could not be started: {e}") from e
        print(f"no AD customers in this fleet: the Samba DC could not be started ({e})")
        return None


# --- every vendor, in a child process ----------------------------------------------------------
def serve(conn: Connection, kinds: list[str], users: int, workdir: str) -> None:
    ca = TestCA.create(Path(workdir) / "ca")
    tenants = tuple(tenant_id(i) for i in range(len(kinds)))
    graph = GraphSimulator(ca, tenants=tenants)
    k = 0
    for i, tenant in enumerate(tenants):
        ids = graph.seed(tenant, users, seed=i + 1, domain=f"tenant{i}.test")
        if kinds[i] == "entra-groups":
            graph.add_group(tenant, "Staff", ids[:GROUP_MEMBERS])
        elif kinds[i] == "ad":  # password sync: every AD user has a licensed match (by UPN)
            for j in range(AD_USERS):
                graph.add_user(tenant, ad_upn(k, j))
            k += 1
    hooks = {
        "itglue": itglue_hookup(ca),
        "hudu": hudu_hookup(ca),
        "connectwise": connectwise_hookup(ca),
        "autotask": autotask_hookup(ca),
    }
    sims: dict[str, Any] = {k: h.simulator for k, h in hooks.items()}
    sims["itglue"].add_category("Office 365")
    sims["itglue"].add_category("Active Directory")  # the AD customers' accounts
    links: list[dict[str, str]] = []
    for i in range(len(kinds)):
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
        if command == "totals":  # requests answered so far, per vendor (the budget windows)
            conn.send({kind: len(sim.requests) for kind, sim in sims.items()})
            continue
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
                for r in later:
                    if not r.path.startswith("/v1.0/"):
                        out["identity"] += 1
                        continue
                    if r.path.startswith("/v1.0/users/delta"):
                        what = "users_delta"
                    elif r.path.startswith("/v1.0/groups/delta"):
                        what = "group_delta"
                    else:
                        what = "other"
                    out[f"graph_{what}"] += 1
                    out[f"graph_{what}@{_kind_of_request(graph, r, kinds)}"] += 1
                continue
            method, fragment = LISTING[kind]
            listing = sum(1 for r in later if r.method == method and fragment in r.path)
            out[f"{kind}_listing"] += listing
            out[f"{kind}_other"] += len(later) - listing
        conn.send(out)


def _kind_of_request(graph: GraphSimulator, r: Any, kinds: list[str]) -> str:
    """The kind of the customer whose tenant the request's bearer token is for."""
    grant = graph.identity._tokens.get(r.headers.get("authorization", "")[len("Bearer ") :])
    return kinds[int(grant[0].rsplit("-", 1)[1])] if grant else "unknown"


class Vendors:
    def __init__(self, kinds: list[str], users: int, workdir: str) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=serve, args=(child, kinds, users, workdir), daemon=True)
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

    def totals(self) -> dict[str, int]:
        self.conn.send(("totals", None))
        out: dict[str, int] = self.conn.recv()
        return out

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.conn.recv()
        self.proc.join(10)


def _rewrite(path: Path, change: Any) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def write_config(
    root: Path,
    kinds: list[str],
    users: int,
    vendors: Vendors,
    verify_hours: float,
    dc: samba.SambaDC | None,
    unlimited: bool = False,
) -> None:
    customers = len(kinds)
    write_fleet(root, customers, users, daemon=DAEMON, graph=vendors.graph())
    (root / "secrets").mkdir()
    for name, value in vendors.secrets.items():
        (root / "secrets" / name).write_text(value)

    def settings(doc: dict[str, Any]) -> None:
        spec = doc["spec"]
        spec["features"] = {"passwordManager": True}
        spec["verifyLinksEveryHours"] = verify_hours
        spec["connections"].update(yaml.safe_load("connections:\n" + vendors.settings)["connections"])
        for kind, limit in CLIENT_LIMITS.items():
            spec["connections"][kind].update(limit)  # measured here: requests, not real-time waits
        if unlimited:
            spec["budgets"] = {kind: {"unlimited": True} for kind in DEFAULT_BUDGETS}

    _rewrite(root / "settings.yaml", settings)
    entra = yaml.safe_load((root / "policies" / "entra.yaml").read_text())
    entra["spec"]["options"] = {"passwordEntryMatching": True, "contactMatching": True}
    entra["spec"]["schedule"] = {"intervalMinutes": 5}
    policies: dict[str, dict[str, Any]] = {"entra": {}, "entra-groups": {"groups": ["Staff"]}}
    if dc is not None:
        policies.update(AD_POLICIES)
        (root / "ad-ca.pem").write_bytes(dc.ca_file.read_bytes())
        os.environ[AD_USER_ENV], os.environ[AD_PASSWORD_ENV] = READER_UPN, READER_PASSWORD
    for label, selection in policies.items():
        doc = yaml.safe_load(yaml.safe_dump(entra))
        doc["metadata"]["name"] = f"{label}-fleet"
        doc["spec"]["appliesTo"] = {"labelSelector": {"matchLabels": {"fleet": label}}}
        if label.startswith("ad"):
            doc["spec"]["source"] = "activeDirectory"
            doc["spec"]["passwordSync"] = True
        if selection:
            doc["spec"]["selection"] = selection
        (root / "policies" / f"{label}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    k = 0
    for i in range(customers):
        path = root / "customers" / f"{customer_name(i)}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["integrations"] = vendors.links[i]
        doc["metadata"]["labels"]["fleet"] = kinds[i]
        if kinds[i] == "ad":
            assert dc is not None
            doc["metadata"]["labels"]["fleet"] = "ad-ou" if k % 2 == 0 else "ad-group"
            doc["spec"]["directories"]["activeDirectory"] = fleet_ad(dc, k)
            k += 1
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


class Windows:
    """The vendors' request totals at every cycle that started runs (fake clock), for the
    most requests in any sliding window of each default budget's length."""

    def __init__(self, vendors: Vendors) -> None:
        self.vendors = vendors
        self.samples: list[tuple[float, dict[str, int]]] = []

    def sample(self, now: float) -> None:
        self.samples.append((now, self.vendors.totals()))

    def peak(self, vendor: str, window: float) -> int:
        best, lo = 0, 0
        for t, totals in self.samples:
            # the requests of cycles in (t - window, t]: totals now less totals before the window
            while lo < len(self.samples) and self.samples[lo][0] <= t - window:
                lo += 1
            base = self.samples[lo - 1][1][vendor] if lo > 0 else 0
            best = max(best, totals[vendor] - base)
        return best


def simulate(
    sched: Scheduler, clock: FakeClock, seconds: float, kinds: dict[str, str], windows: Windows
) -> tuple[Counter[str], float]:
    """Run the scheduler for `seconds` of simulated time: (runs started by customer kind, CPU of
    cycles that started runs, i.e. the runs themselves plus their scheduling)."""
    end = clock.now() + seconds
    runs: Counter[str] = Counter()
    cpu = 0.0
    while clock.now() < end:
        c0 = time.process_time()
        delay = sched.cycle()
        started = sched.in_flight()
        sched.drain()
        if started:
            cpu += time.process_time() - c0
            runs.update(kinds[n] for n in started)
            windows.sample(clock.now())  # after the CPU: the measurement is not the fleet's
        clock.advance(max(min(delay, end - clock.now()), 0.001))
    return runs, cpu


def ldap_counts(mark: Counter[str]) -> Counter[str]:
    now = Counter(ldap_totals())
    out = now - mark
    mark.clear()
    mark.update(now)
    return out


def deferred_total(sched: Scheduler) -> int:
    """Customers the budgets deferred: before their run (the scheduler's estimate) plus runs
    that a budget refused at their first request (result `deferred`)."""
    before = sum(
        s.value for f in sched.budgets.deferred.collect() for s in f.samples if s.name.endswith("_total")
    )
    refused = sum(
        s.value
        for f in sched.metrics.runs.collect()
        for s in f.samples
        if s.name.endswith("_total") and s.labels.get("result") == "deferred"
    )
    return int(before + refused)


def run(
    root: Path, kinds: list[str], minutes: float, vendors: Vendors, keep: bool, settle: float = 60.0
) -> dict[str, Any]:
    customers = len(kinds)
    by_name = {customer_name(i): k for i, k in enumerate(kinds)}
    clock = FakeClock()
    source = ConfigSource(root, clock)
    path = root / ".reconciler" / "state.db"
    store, state = SqliteStore(path), DaemonState(path)
    sched = Scheduler(source, store, state, clock, DaemonMetrics(), random.Random(42))
    windows = Windows(vendors)
    previous = clientpool.use(sched.clients if keep else None)  # what run_forever does
    mark: Counter[str] = Counter()
    ldap_counts(mark)
    t0, start = time.process_time(), clock.now()
    # the initial import: until every customer has run to the end (a run the budgets defer
    # runs again when they cover it)
    while sum(1 for r in state.all().values() if r.last_result not in (None, "", "deferred")) < customers:
        simulate(sched, clock, 10, by_name, windows)
    import_minutes = (clock.now() - start) / 60
    initial_cpu = time.process_time() - t0
    bad = {n: r.last_message for n, r in state.all().items() if r.last_result not in ("applied", "in-sync")}
    assert not bad, list(bad.items())[:3]
    initial = vendors.counts() + ldap_counts(mark)
    simulate(sched, clock, settle * 60, by_name, windows)  # settle
    vendors.counts()
    ldap_counts(mark)
    deferred_before = deferred_total(sched)
    runs, cpu = simulate(sched, clock, minutes * 60, by_name, windows)
    steady = vendors.counts() + ldap_counts(mark)
    deferred_steady = deferred_total(sched) - deferred_before
    results = Counter(r.last_result for r in state.all().values())
    clock.advance(24 * 3600)  # a day on: every customer's verification is due
    vruns, vcpu = simulate(sched, clock, 300, by_name, windows)
    verify = vendors.counts() + ldap_counts(mark)
    clientpool.use(previous)
    deferred = deferred_total(sched)
    sched.shutdown(5)
    store.close()
    state.close()
    n_runs, n_vruns = sum(runs.values()), sum(vruns.values())
    return {
        "initial_cpu_s": initial_cpu,
        "import_minutes": import_minutes,
        "initial_deferred": deferred_before,
        "initial": initial,
        "runs": runs,
        "results": dict(results),
        "steady": steady,
        "cpu_ms_per_run": 1000 * cpu / max(n_runs, 1),
        "verify_runs": n_vruns,
        "verify": verify,
        "verify_cpu_ms_per_run": 1000 * vcpu / max(n_vruns, 1),
        "peaks": {v: windows.peak(v, w) for v, (_, w) in DEFAULT_BUDGETS.items()},
        "peak_connectwise_60s": windows.peak("connectwise", 60.0),
        "deferred": deferred,
        "deferred_steady": deferred_steady,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated steady state measured")
    ap.add_argument(
        "--settle-minutes", type=float, default=60.0, help="simulated time before the measurement"
    )
    ap.add_argument("--group-share", type=float, default=0.3, help="Entra customers selecting by group")
    ap.add_argument(
        "--ad-share",
        type=float,
        default=None,
        help="AD customers with password sync (default 0.2 when the Samba DC can be started, else 0)",
    )
    ap.add_argument(
        "--unlimited-budgets",
        action="store_true",
        help="no MSP-wide budgets (an initial import at full speed; the peaks are still reported)",
    )
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
    dc = start_dc(required=True) if a.ad_share else None if a.ad_share == 0 else start_dc(required=False)
    ad_share = 0.0 if dc is None else (0.2 if a.ad_share is None else a.ad_share)
    kinds = kinds_of(n, ad_share, a.group_share)
    count = Counter(kinds)
    if count["ad"] > MAX_AD:
        raise SystemExit(f"{count['ad']} AD customers: the fleet's DC has OUs for {MAX_AD}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            vendors = Vendors(kinds, a.users, tmp)
            root = Path(tmp) / "fleet"
            try:
                write_config(root, kinds, a.users, vendors, a.verify_hours, dc, a.unlimited_budgets)
                r = run(root, kinds, a.minutes, vendors, not a.no_kept_connections, a.settle_minutes)
            finally:
                vendors.stop()
    finally:
        if dc is not None:
            samba.release(dc)
    report(a, kinds, r)


def report(a: argparse.Namespace, kinds: list[str], r: dict[str, Any]) -> None:
    n = len(kinds)
    count = Counter(kinds)
    share = {v: sum(1 for i in range(n) if v in (vault_of(i), psa_of(i))) for v in VENDORS}
    print(
        f"fleet: {n} customers: {count['entra']} Entra-only (licensed users), {count['entra-groups']} "
        f"Entra-only selecting a group, {count['ad']} AD + password sync (own OU on the Samba DC, "
        f"{AD_USERS} users); {a.users} Entra users a tenant; "
        + ", ".join(f"{share[v]} on {v}" for v in VENDORS)
        + f"; 5-minute schedule, verifyLinksEveryHours {a.verify_hours:g}"
    )
    print(
        f"initial import: {r['import_minutes']:.1f} simulated minutes ({r['initial_deferred']} customer "
        f"runs deferred by a budget up to the end of settling), {r['initial_cpu_s']:.1f} s CPU; requests"
        f" {dict(sorted(r['initial'].items()))}"
    )
    runs: Counter[str] = r["runs"]
    total = sum(runs.values())
    print(
        f"steady state: {total} runs in {a.minutes:g} simulated minutes ("
        + ", ".join(f"{runs[k]} {k}" for k in KINDS)
        + f"), last results {r['results']}"
    )
    st = r["steady"]
    per: dict[str, float] = {}
    for k in KINDS:
        if not runs[k]:
            continue
        per[f"{k}_users_delta"] = st[f"graph_users_delta@{k}"] / runs[k]
        per[f"{k}_group_delta"] = st[f"graph_group_delta@{k}"] / runs[k]
        per[f"{k}_graph_other"] = st[f"graph_other@{k}"] / runs[k]
        print(
            f"  {k} customers, Graph per customer per cycle: {per[f'{k}_users_delta']:.2f} users delta, "
            f"{per[f'{k}_group_delta']:.2f} group delta, {per[f'{k}_graph_other']:.2f} other"
        )
    if runs["ad"]:
        per["ad_ldap_searches"] = st["searches"] / runs["ad"]
        print(
            f"  ad customers, LDAP per customer per cycle: {per['ad_ldap_searches']:.2f} searches, "
            f"{st['requests'] / runs['ad']:.2f} search requests (pages), {st['binds'] / runs['ad']:.2f} binds, "
            f"{st['entries'] / runs['ad']:.2f} entries"
        )
    unknown = sum(v for key, v in st.items() if key.endswith("@unknown"))
    print(
        f"  identity {st['identity'] / total:.3f} per customer per cycle; Graph requests of no tenant {unknown}"
    )
    for v in VENDORS:
        cycles = total * share[v] / n  # runs of the customers on this vendor
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
    peaks = r["peaks"]
    within = all(peaks[v] <= DEFAULT_BUDGETS[v][0] for v in peaks)
    print(
        "budgets (MSP-wide defaults), most requests in any window over the whole run: "
        + ", ".join(f"{v} {peaks[v]} / {b} per {w:g} s" for v, (b, w) in DEFAULT_BUDGETS.items())
        + f", connectwise {r['peak_connectwise_60s']} per 60 s (no default budget); "
        f"{'never exceeded' if within else 'EXCEEDED'}"
        f"{' (budgets unlimited in this run)' if a.unlimited_budgets else ''}; customers deferred by a budget: {r['deferred']} "
        f"({r['deferred_steady']} in the steady state)"
    )
    listings = sum(st[f"{v}_listing"] for v in VENDORS)
    print(
        f"customers={n} users={a.users} entra={count['entra']} entra_groups={count['entra-groups']} "
        f"ad={count['ad']} verify_hours={a.verify_hours:g} kept={not a.no_kept_connections} runs={total} "
        + "".join(f"{k.replace('-', '_')}={v:.2f} " for k, v in per.items())
        + f"graph_connections_per_run={st['graph_connections'] / total:.3f} "
        f"steady_listings={listings} cpu_ms_per_run={r['cpu_ms_per_run']:.1f} "
        f"verify_listings={sum(ver[f'{v}_listing'] for v in VENDORS)} "
        f"verify_cpu_ms_per_run={r['verify_cpu_ms_per_run']:.1f} initial_cpu_s={r['initial_cpu_s']:.1f} "
        + "".join(f"peak_{v}={peaks[v]} " for v in peaks)
        + f"budgets_within={within} unlimited_budgets={a.unlimited_budgets} deferred={r['deferred']}"
    )


if __name__ == "__main__":
    main()
