"""Benchmark: Graph requests of an Entra selection by group and role (issue 15).

A simulated tenant of 50,000 users (every 10th unlicensed, every 20th disabled)
with 20 selected security groups of 2,000 direct members each, five of them
with a nested group of 500 more; a Global Administrator role held by 3 users and
a group. The customer imports the licensed members of the 20 groups (nested
included), less an exclusion group, and its administrators by role. The real
client (MSAL + httpx) reads over HTTPS on loopback, the state in SQLite.

Measured, requests by endpoint:

- full read (first run): users (51 pages + the delta anchor), group resolution,
  transitiveMembers pages, group delta anchor, role assignments, subscribedSkus;
- a no-change cycle: floor 1 users delta + 1 group delta;
- a cycle after 10 direct membership changes in 2 groups: + the 2 groups re-read.

    python benchmarks/entra_selection.py [USERS]

The last line is machine-readable.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.providers.base import ProviderContext
from reconciler.providers.graph import forget_apps, open_entra
from reconciler.reading import scope_for
from reconciler.state.store import SqliteStore
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

TENANT = "0be4c7e1-5a1e-4c1b-9b7a-1500000000aa"
SECRET_ENV = "BENCH_GRAPH_SECRET"
GROUPS = 20
PER_GROUP = 2000
NESTED = 500
GA = "62e90394-69f5-4237-9190-012177145e10"
E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def write_config(root: Path, sim: GraphSimulator, ca: TestCA) -> None:
    graph = {
        "clientId": sim.identity.client_id,
        "credential": {"clientSecret": {"env": SECRET_ENV}},
        "authorityHost": sim.url,
        "graphUrl": sim.url,
        "caFile": str(ca.ca_file),
    }
    selection = {
        "groups": [f"Staff {i:02d}" for i in range(GROUPS)],
        "skus": ["ENTERPRISEPACK"],
        "exclude": {"groups": ["Shared Mailboxes"], "upns": ["svc-*"]},
    }
    spec = {
        "directories": {"entra": {"tenantId": TENANT}},
        "import": {"source": "entra", "selection": selection},
        "adminImport": {"source": "entra", "selection": {"roles": ["Global Administrator"]}},
    }
    docs = [
        {"apiVersion": "reconciler.dev/v1", "kind": "Settings", "metadata": {"name": "bench"},
         "spec": {"connections": {"graph": graph}}},
        {"apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"}, "spec": spec},
    ]  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def build(sim: GraphSimulator, n: int) -> list[str]:
    d = sim.directory
    ids = sim.seed(TENANT, n)
    d.add_sku(TENANT, E3, "ENTERPRISEPACK")
    pos = 0
    groups: list[str] = []
    for i in range(GROUPS):
        members = ids[pos : pos + PER_GROUP]
        pos += PER_GROUP
        if i < 5:
            nested = sim.add_group(TENANT, f"Staff {i:02d} nested", ids[pos : pos + NESTED])
            pos += NESTED
            members = [*members, nested]
        groups.append(sim.add_group(TENANT, f"Staff {i:02d}", members))
    sim.add_group(TENANT, "Shared Mailboxes", ids[:50])
    admins = sim.add_group(TENANT, "Tier0", ids[-10:])
    for uid in ids[-3:]:
        d.assign_role(TENANT, GA, uid)
    d.assign_role(TENANT, GA, admins)
    return groups


def categorize(paths: list[str]) -> dict[str, int]:
    out: collections.Counter[str] = collections.Counter()
    for p in paths:
        if p.startswith("/v1.0/users/delta"):
            out["users delta"] += 1
        elif p == "/v1.0/users":
            out["users pages"] += 1
        elif p.startswith("/v1.0/groups/delta"):
            out["group delta"] += 1
        elif p.endswith("/microsoft.graph.user"):
            out["group members"] += 1
        elif p == "/v1.0/groups":
            out["group lookup"] += 1
        elif "roleManagement" in p:
            out["role assignments"] += 1
        elif p == "/v1.0/subscribedSkus":
            out["subscribedSkus"] += 1
        else:
            out[p] += 1
    return dict(out)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = TestCA.create(root / "ca")
        sim = GraphSimulator(ca, tenants=(TENANT,))
        sim.start()
        os.environ[SECRET_ENV] = sim.identity.client_secret
        groups = build(sim, n)
        write_config(root, sim, ca)
        store = SqliteStore(root / "state.db")
        forget_apps()
        eff = effective_customers(load_config(root))["bench"]
        ctx = ProviderContext(root, load_config(root).settings_doc.spec, eff, store)

        def cycle() -> tuple[dict[str, int], float, int, int]:
            mark = len(sim.requests)
            t0 = time.perf_counter()
            snap = open_entra(ctx).read(scope_for(eff, False))
            desired = desired_accounts(eff, LiveDirectories(entra=snap))
            seconds = time.perf_counter() - t0
            paths = [r.path for r in sim.requests[mark:] if r.path.startswith("/v1.0/")]
            return categorize(paths), seconds, len(desired.accounts), len(desired.notes)

        rows: list[tuple[str, dict[str, int], float, int, int]] = []
        rows.append(("full read (first run)", *cycle()))
        rows.append(("no-change cycle", *cycle()))
        uids = sorted(sim.directory.tenant(TENANT).users)
        for k in range(5):
            sim.directory.add_member(TENANT, groups[7], uids[-100 - k])
            sim.directory.remove_member(
                TENANT, groups[12], sim.directory.tenant(TENANT).members[groups[12]][0]
            )
        rows.append(("cycle after 10 membership changes in 2 groups", *cycle()))
        sim.stop()
        store.close()
    print(f"tenant: {n} users, {GROUPS} selected groups ({PER_GROUP} direct members, 5 with {NESTED} nested)")
    print("| run | requests | by endpoint | seconds | accounts | skipped |")
    print("|---|---:|---|---:|---:|---:|")
    machine: dict[str, Any] = {}
    for name, counts, seconds, accounts, notes in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        total = sum(counts.values())
        print(f"| {name} | {total} | {detail} | {seconds:.2f} | {accounts} | {notes} |")
        machine[name] = total
    print("RESULT", machine)


if __name__ == "__main__":
    main()
