"""Benchmark: `reconciler plan` + `apply` of N new accounts against the vendors' simulators.

One customer: N licensed users in its tenant on the Graph simulator, none yet in
the state, an IT Glue organization and a ConnectWise company with no records,
password entry and contact matching on. The real CLI in child processes:

1. `plan -c DIR -o plan.json` (N account additions, N IT Glue entries, N
   ConnectWise contacts to create);
2. `apply -c DIR plan.json --auto-approve`: the real clients over HTTPS (TLS
   verified against the test CA), the real SQLite state;
3. `plan --detailed-exitcode` again: must leave nothing to do.

The vendors run in another process (remote services; their CPU is not counted)
and count what they answer. The reference, in the same run: the requests the
apply sent, replayed as they were (same method, path, headers and body) by a bare
`httpx.Client` per vendor (one kept connection, TLS verified), plus the store's
bulk write of every row the apply left (`apply_bench.py`'s "everything": accounts,
links, fingerprints, journal entries opened and closed, the serial). The ratio
apply / reference is what the apply costs over sending the same requests and
writing the same rows; growth is apply(N_max) / apply(N_min).

Budgets are raised out of the way (this measures CPU, not the MSP's budget
pacing; `budget_fleet.py` measures that).

    python benchmarks/apply_http.py [N ...]     (default: 1000 10000)

The last line is machine-readable.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.core.model import IntegrationKind
from reconciler.gcpause import gc_paused
from reconciler.integrations.connectwise.sandbox import hookup as connectwise_hookup
from reconciler.integrations.itglue.sandbox import hookup as itglue_hookup
from reconciler.state.store import SqliteStore
from reconciler.testing.fleet import customer_name, tenant_id, write_fleet
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

SECRET_ENV = "BENCH_APPLY_HTTP_GRAPH_SECRET"
VENDORS = ("itglue", "connectwise")
UNLIMITED = {"itglue": {"requestsPer5Minutes": 1_000_000}}


# --- the vendors, in a child process -----------------------------------------------------------
def serve(conn: Connection, users: int, workdir: str) -> None:
    ca = TestCA.create(Path(workdir) / "ca")
    graph = GraphSimulator(ca, tenants=(tenant_id(0),))
    graph.seed(tenant_id(0), users, seed=1, domain="tenant0.test")
    hooks = {"itglue": itglue_hookup(ca), "connectwise": connectwise_hookup(ca)}
    sims: dict[str, Any] = {k: h.simulator for k, h in hooks.items()}
    sims["itglue"].add_category("Office 365")
    org = sims["itglue"].add_organization(customer_name(0))
    sims["connectwise"].add_company(1000, customer_name(0))
    graph.start()
    for sim in sims.values():
        sim.start()
    conn.send(
        (
            graph.url,
            str(ca.ca_file),
            graph.identity.client_id,
            graph.identity.client_secret,
            "".join(h.settings(str(ca.ca_file)) for h in hooks.values()),
            {k: v for h in hooks.values() for k, v in h.secrets.items()},
            {"itglueOrganizationId": str(org), "connectwiseCompanyId": "1000"},
            {k: sim.url for k, sim in sims.items()},
        )
    )
    marks = dict.fromkeys((*VENDORS, "graph"), 0)
    while True:
        command = conn.recv()
        if command == "stop":
            graph.stop()
            for sim in sims.values():
                sim.stop()
            conn.send(True)
            return
        counts: Counter[str] = Counter()
        posts: dict[str, list[tuple[str, dict[str, list[str]], dict[str, str], bytes]]] = {}
        for kind, sim in (*sims.items(), ("graph", graph)):
            with sim._lock:
                later = sim.requests[marks[kind] :]
                marks[kind] = len(sim.requests)
            for r in later:
                counts[f"{kind} {r.method}"] += 1
            posts[kind] = [(r.path, r.query, r.headers, r.body) for r in later if r.method == "POST"]
        conn.send((counts, posts if command == "posts" else {}))


class Vendors:
    def __init__(self, users: int, workdir: str) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=serve, args=(child, users, workdir), daemon=True)
        self.proc.start()
        (
            self.url,
            self.ca_file,
            self.client_id,
            secret,
            self.settings,
            self.secrets,
            self.links,
            self.urls,
        ) = self.conn.recv()
        os.environ[SECRET_ENV] = secret

    def counts(self, posts: bool = False) -> tuple[Counter[str], dict[str, list[Any]]]:
        self.conn.send("posts" if posts else "count")
        out: tuple[Counter[str], dict[str, list[Any]]] = self.conn.recv()
        return out

    def stop(self) -> None:
        self.conn.send("stop")
        self.conn.recv()
        self.proc.join(10)


def write_config(root: Path, users: int, vendors: Vendors) -> None:
    graph = {
        "clientId": vendors.client_id,
        "credential": {"clientSecret": {"env": SECRET_ENV}},
        "authorityHost": vendors.url,
        "graphUrl": vendors.url,
        "caFile": vendors.ca_file,
    }
    write_fleet(root, 1, users, graph=graph)
    (root / "secrets").mkdir()
    for name, value in vendors.secrets.items():
        (root / "secrets" / name).write_text(value)
    path = root / "settings.yaml"
    doc = yaml.safe_load(path.read_text())
    spec = doc["spec"]
    spec["features"] = {"passwordManager": True}
    spec["connections"].update(yaml.safe_load("connections:\n" + vendors.settings)["connections"])
    for kind, budget in UNLIMITED.items():
        spec["connections"][kind].update(budget)  # the client's pacing to the vendor's limit
    spec["budgets"] = {kind: {"unlimited": True} for kind in UNLIMITED}  # the MSP-wide budget
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path = root / "policies" / "entra.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["options"] = {"passwordEntryMatching": True, "contactMatching": True}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path = root / "customers" / f"{customer_name(0)}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["integrations"] = vendors.links
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def cli(root: Path, *args: str) -> tuple[float, float, int, str]:
    """Run `reconciler ARGS -c ROOT` in a child: (CPU s of the child, wall s, exit code, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args, "-c", str(root)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, out.returncode, out.stderr[-2000:]


# --- the reference, in its own child ---------------------------------------------------------
def reference(job: dict[str, Any]) -> dict[str, float]:
    """Replay the apply's POSTs with a bare client per vendor, then write its rows in bulk."""
    started = time.process_time()
    for kind, posts in job["posts"].items():
        if kind not in job["urls"]:
            continue
        with httpx.Client(base_url=job["urls"][kind], verify=job["ca_file"], timeout=30) as client:
            for path, query, headers, body in posts:
                keep = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
                response = client.post(path, params=query, headers=keep, content=body.encode("latin-1"))
                assert response.status_code < 300, (kind, response.status_code, response.text[:200])
    replay = time.process_time() - started
    applied = SqliteStore(Path(job["state"]))
    managed = applied.load(customer_name(0))
    journal = [
        (f"create {kind.value}", f"marker {i}")
        for kind in (IntegrationKind.ITGLUE, IntegrationKind.CONNECTWISE)
        for i in range(job["records"] // 2)
    ]
    store = SqliteStore(Path(job["state"]).with_name("everything.db"))
    started = time.process_time()
    with gc_paused(), store.batch():
        store.put_accounts("c", list(managed.accounts.values()))
        store.put_links("c", list(managed.links.values()))
        store.put_fingerprints("c", [(k, kind, fp) for (k, kind), fp in managed.fingerprints.items()])
        ids = store.journal_open_many("c", journal)
        store.journal_close_many([(i, "done", str(i)) for i in ids])
        store.bump_serial("c")
    return {"replay_s": replay, "rows_s": time.process_time() - started}


def one(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        vendors = Vendors(n, tmp)
        root = Path(tmp) / "msp"
        try:
            write_config(root, n, vendors)
            plan_cpu, plan_wall, rc, err = cli(root, "plan", "-o", "plan.json")
            assert rc == 0, err
            listing, _ = vendors.counts()
            apply_cpu, apply_wall, rc, err = cli(root, "apply", "plan.json", "--auto-approve")
            assert rc == 0, err
            sent, posts = vendors.counts(posts=True)
            _, _, rc, err = cli(root, "plan", "--detailed-exitcode")
            assert rc == 0, f"the replan left changes (exit {rc}): {err}"
            replan, _ = vendors.counts()
            records = sum(len(p) for k, p in posts.items() if k in VENDORS)
            job = {
                "posts": {
                    k: [(path, q, h, body.decode("latin-1")) for path, q, h, body in p]
                    for k, p in posts.items()
                },
                "urls": vendors.urls,
                "ca_file": vendors.ca_file,
                "state": str(root / ".reconciler" / "state.db"),
                "records": records,
            }
            (Path(tmp) / "job.json").write_text(json.dumps(job))
            out = subprocess.run(
                [sys.executable, __file__, "--reference", str(Path(tmp) / "job.json")],
                capture_output=True,
                text=True,
                check=True,
            )
            ref = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            vendors.stop()
    return {
        "n": n,
        "plan_cpu": plan_cpu,
        "plan_wall": plan_wall,
        "apply_cpu": apply_cpu,
        "apply_wall": apply_wall,
        "records": records,
        "listing": dict(listing),
        "sent": dict(sent),
        "replan": dict(replan),
        **ref,
    }


def main(sizes: list[int]) -> None:
    print(f"machine: {os.cpu_count()} CPUs {platform.machine()}, python {platform.python_version()}")
    rows = []
    for n in sizes:
        r = one(n)
        rows.append(r)
        ref = r["replay_s"] + r["rows_s"]
        print(
            f"N={n:>7}: plan {r['plan_cpu']:.2f} s CPU ({r['plan_wall']:.1f} s wall), requests {r['listing']}"
        )
        print(
            f"  apply {r['apply_cpu']:.2f} s CPU ({r['apply_wall']:.1f} s wall) for {n} accounts and "
            f"{r['records']} records, {1000 * r['apply_cpu'] / max(r['records'], 1):.2f} ms CPU per record; "
            f"requests {r['sent']}"
        )
        print(
            f"  reference: the same POSTs replayed {r['replay_s']:.2f} s + the rows in bulk "
            f"{r['rows_s']:.2f} s = {ref:.2f} s; apply / reference {r['apply_cpu'] / ref:.2f}; "
            f"replan requests {r['replan']}"
        )
    growth = rows[-1]["apply_cpu"] / rows[0]["apply_cpu"]
    print(f"apply {sizes[0]} -> {sizes[-1]} grows x{growth:.1f} (work x{sizes[-1] / sizes[0]:.0f})")
    print(
        " ".join(
            f"n{r['n']}_apply_s={r['apply_cpu']:.2f} n{r['n']}_ratio={r['apply_cpu'] / (r['replay_s'] + r['rows_s']):.2f}"
            for r in rows
        )
        + f" growth={growth:.1f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reference"]:
        print(json.dumps(reference(json.loads(Path(sys.argv[2]).read_text()))))
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000, 10_000])
