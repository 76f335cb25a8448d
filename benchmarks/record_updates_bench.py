"""Benchmark: what keeping linked records up to date (R25) adds to planning.

One customer of N licensed Entra users, each already linked to an IT Glue entry
and a ConnectWise contact (created by reconciler: they carry its marker), the
state from the previous run. Planned (desired + matching + diff + record field
diffs, no I/O, CPU time) in one process per case:

- `off`:   every field owned by the integration (what planning cost before R25);
- `same`:  every field owned by the directory, nothing differs (0 updates);
- `1pct`:  every field owned by the directory, 1% of the users renamed;
- `all`:   every field owned by the directory, every user renamed.

    python benchmarks/record_updates_bench.py [N]

The last line is machine-readable.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from typing import Any

from reconciler.config.models import CustomerDoc, ImportPolicyDoc, Safety
from reconciler.config.resolve import EffectiveCustomer, ImportBinding
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import (
    DirectorySnapshot,
    DirectoryUser,
    DirSource,
    IntegrationKind,
    Link,
    ManagedState,
    PasswordEntry,
    PsaContact,
    marker_for,
)
from reconciler.core.plan import ChangeKind
from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer
from reconciler.gcpause import gc_paused

FIELDS = ("entryName", "username", "firstName", "lastName", "contactEmail")


def build(n: int, case: str) -> tuple[EffectiveCustomer, CustomerLive, ManagedState]:
    owner = "integration" if case == "off" else "directory"
    spec = {
        "source": "entra",
        "options": {"passwordEntryMatching": True, "contactMatching": True},
        "recordFields": dict.fromkeys(FIELDS, owner),
    }
    policy = ImportPolicyDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "ImportPolicy", "metadata": {"name": "p"}, "spec": spec}
    )
    doc = CustomerDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"}}
    )
    cust = EffectiveCustomer("bench", doc, ImportBinding(policy.spec, "policy p", "p", False), None, Safety())

    def user(i: int, renamed: bool) -> DirectoryUser:
        name = f"Renamed{i}" if renamed else f"Given{i}"
        return DirectoryUser(
            DirSource.ENTRA, f"0000{i:08d}", f"user{i}@bench.example", mail=f"user{i}@bench.example",
            given_name=name, surname=f"Sur{i}", display_name=f"{name} Sur{i}", licensed=True,
        )  # fmt: skip

    before = LiveDirectories(entra=DirectorySnapshot(tuple(user(i, False) for i in range(n))))
    accounts = desired_accounts(cust, before).accounts
    keys = sorted(accounts, key=lambda k: accounts[k].upn)
    entries, contacts, links = [], [], {}
    for i, key in enumerate(sorted(keys, key=lambda k: int(accounts[k].upn[4:].split("@")[0]))):
        marker = marker_for("bench", key)
        entries.append(PasswordEntry(IntegrationKind.ITGLUE, f"e{i}", f"Given{i} Sur{i}",
                                     f"user{i}@bench.example", "Office 365", marker=marker))  # fmt: skip
        contacts.append(PsaContact(IntegrationKind.CONNECTWISE, f"c{i}", f"Given{i}", f"Sur{i}",
                                   (f"user{i}@bench.example",), marker=marker))  # fmt: skip
        for kind, rid in ((IntegrationKind.ITGLUE, f"e{i}"), (IntegrationKind.CONNECTWISE, f"c{i}")):
            links[(key, kind)] = Link(key, kind, rid)
    every = {"off": 0, "same": 0, "1pct": 100, "all": 1}[case]
    now = LiveDirectories(
        entra=DirectorySnapshot(tuple(user(i, bool(every) and i % every == 0) for i in range(n)))
    )
    live = CustomerLive(
        now, tuple(entries), IntegrationKind.ITGLUE, tuple(contacts), IntegrationKind.CONNECTWISE
    )
    return cust, live, ManagedState(serial=1, accounts=dict(accounts), links=links)


def run(n: int, case: str) -> dict[str, Any]:
    cust, live, state = build(n, case)
    started = time.process_time()
    with gc_paused():
        plan = plan_customer(cust, live, state, PlanOptions(allow_mass_update=True))
    return {
        "case": case,
        "n": n,
        "plan_s": time.process_time() - started,
        "updates": plan.count(ChangeKind.UPDATE_RECORD),
    }


def main(n: int) -> None:
    print(f"machine: {platform.machine()}, python {platform.python_version()}, N={n}")
    rows = {}
    for case in ("off", "same", "1pct", "all"):
        out = subprocess.run([sys.executable, __file__, "--child", case, str(n)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        rows[case] = json.loads(out.stdout.strip().splitlines()[-1])
        r = rows[case]
        ratio = r["plan_s"] / max(rows["off"]["plan_s"], 1e-9)
        print(
            f"{case:>5}: plan {r['plan_s']:.3f}s cpu, {r['updates']} update-record changes, {ratio:.2f}x off"
        )
    print(" ".join(f"{c}_s={r['plan_s']:.3f}" for c, r in rows.items()) + f" n={n}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(run(int(sys.argv[3]), sys.argv[2])))
    else:
        main(int(sys.argv[1]) if sys.argv[1:] else 100_000)
