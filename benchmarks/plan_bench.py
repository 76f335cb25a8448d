"""Benchmark: plan computation (desired + matching + diff, no I/O) for one customer of N users.

Synthetic customer: N licensed Entra users, N IT Glue entries and N ConnectWise
contacts (each matching one user, a few duplicates that conflict), and a state
holding the accounts of a previous run with 1% of them changed since. Each N runs
in a fresh subprocess so peak RSS is that N's own. In the same run, a naive
baseline (pairwise matching + deepdiff of the account lists) is timed on the
largest N it finishes in reasonable time, and compared with ours at that N.

    python benchmarks/plan_bench.py [N ...]

The last line is machine-readable.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from typing import Any

from reconciler.config.models import CustomerDoc, ImportPolicyDoc, Safety
from reconciler.config.resolve import EffectiveCustomer, ImportBinding
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import (
    Account,
    DirectorySnapshot,
    DirectoryUser,
    DirSource,
    IntegrationKind,
    ManagedState,
    PasswordEntry,
    PsaContact,
)
from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer
from reconciler.gcpause import gc_paused

BASELINE_N = 5_000


def build(n: int) -> tuple[EffectiveCustomer, CustomerLive, ManagedState]:
    spec = {
        "source": "entra",
        "options": {
            "passwordEntryMatching": True,
            "contactMatching": True,
            "welcomeEmail": True,
            "selfServe": True,
        },
    }
    policy = ImportPolicyDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "ImportPolicy", "metadata": {"name": "p"}, "spec": spec}
    )
    doc = CustomerDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"}}
    )
    cust = EffectiveCustomer("bench", doc, ImportBinding(policy.spec, "policy p", "p", False), None, Safety())
    users = tuple(
        DirectoryUser(
            DirSource.ENTRA,
            f"0000{i:08d}",
            f"user{i}@bench.example",
            mail=f"user{i}@bench.example",
            given_name=f"Given{i}",
            surname=f"Sur{i}",
            display_name=f"User {i}",
            licensed=i % 50 != 0,
            proxy_addresses=(f"SMTP:user{i}@bench.example",),
        )
        for i in range(n)
    )
    entries = tuple(
        PasswordEntry(IntegrationKind.ITGLUE, str(i), f"User {i}", f"USER{i}@bench.example", "Office 365")
        for i in range(n)
    ) + tuple(  # 0.1% duplicates -> conflicts
        PasswordEntry(IntegrationKind.ITGLUE, f"d{i}", f"dup {i}", f"user{i}@bench.example", "Azure AD")
        for i in range(1, n, 1000)
    )
    contacts = tuple(
        PsaContact(IntegrationKind.CONNECTWISE, str(i), f"Given{i}", f"Sur{i}", (f"user{i}@bench.example",))
        for i in range(n)
    )
    live = CustomerLive(
        LiveDirectories(entra=DirectorySnapshot(users)),
        entries,
        IntegrationKind.ITGLUE,
        contacts,
        IntegrationKind.CONNECTWISE,
    )
    previous = desired_accounts(cust, live.directories).accounts
    state: dict[str, Account] = {}
    for i, (key, acct) in enumerate(previous.items()):
        if i % 100 == 0:  # 1% changed since the last run
            acct = Account(
                **{**{f: getattr(acct, f) for f in acct.__dataclass_fields__}, "display_name": "Old name"}
            )
        state[key] = acct
    return cust, live, ManagedState(serial=1, accounts=state)


def ours(n: int) -> dict[str, Any]:
    cust, live, state = build(n)
    started = time.process_time()
    with gc_paused():  # as the engine runs it
        plan = plan_customer(cust, live, state, PlanOptions())
    elapsed = time.process_time() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "plan_s": elapsed,
        "peak_rss_mb": rss_mb,
        "changes": len(plan.changes),
        "conflicts": len(plan.conflicts),
    }


def naive(n: int) -> dict[str, Any]:
    """What a straightforward implementation does: scan every record for every account,
    and diff the account lists with deepdiff."""
    from deepdiff import DeepDiff

    cust, live, state = build(n)
    started = time.process_time()
    desired = list(desired_accounts(cust, live.directories).accounts.values())
    DeepDiff(
        [a.to_dict() for a in state.accounts.values()], [a.to_dict() for a in desired], ignore_order=True
    )
    assert live.entries is not None and live.contacts is not None
    for acct in desired:
        [e for e in live.entries if e.username and e.username.lower() == acct.upn.lower()]
        [c for c in live.contacts if acct.mail and acct.mail.lower() in (x.lower() for x in c.emails)]
    return {"n": n, "plan_s": time.process_time() - started}


def child(kind: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int]) -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}")
    rows = []
    for n in sizes:
        r = child("ours", n)
        rows.append(r)
        print(
            f"ours   N={n:>7}: plan {r['plan_s']:.3f}s cpu, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['changes']} changes, {r['conflicts']} conflicts"
        )
    base = child("naive", BASELINE_N)
    same = child("ours", BASELINE_N)
    ratio = base["plan_s"] / max(same["plan_s"], 1e-9)
    print(f"naive  N={BASELINE_N:>7}: {base['plan_s']:.3f}s cpu (pairwise matching + deepdiff)")
    print(f"ours   N={BASELINE_N:>7}: {same['plan_s']:.3f}s cpu -> naive is {ratio:.0f}x slower")
    big = rows[-1]
    print(
        f"accounts={big['n']} plan_s={big['plan_s']:.2f} peak_rss_mb={big['peak_rss_mb']:.0f} "
        f"baseline_n={BASELINE_N} baseline_ratio={ratio:.0f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, n = sys.argv[2], int(sys.argv[3])
        print(json.dumps(ours(n) if kind == "ours" else naive(n)))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
