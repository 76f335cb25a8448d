"""Benchmark: a fleet spending the MSP-wide request budgets (#16) on one state.

N customers (default 1,000) on a 5-minute cycle, linked in proportion to IT
Glue (40 %), Hudu (30 %), Autotask (50 %) and ConnectWise (20 %, unlimited by
default); each run wants a listing of its linked integrations (one page plus two
lookups, the worst case where every run reads every integration) and one run in
ten also creates a few records. Two "replicas" (two `Budgets`, each on its own
connection to the same ledger) take alternate customers, their runs spread over
each cycle; the clock is simulated (two hours), the ledger is the real one:
SQLite (the state file), and PostgreSQL with `--postgres` (a throwaway cluster,
or $RECONCILER_TEST_PG_DSN). The spending code is the one the HTTP seam calls
(`providers.budget`): a customer whose listing the budget cannot cover is
deferred before its first request, an apply goes as far as the budget goes.

Reported per integration: requests wanted and sent, the most sent in any window
of the budget (which must not exceed it), runs deferred; and the ledger's cost
per reservation.

    python benchmarks/budget_fleet.py [N] [--postgres]

The last line is machine-readable.
"""

from __future__ import annotations

import bisect
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.config.models import SettingsSpec
from reconciler.core.model import IntegrationKind
from reconciler.errors import BudgetExhausted
from reconciler.providers.budget import Budgets, limits_of
from reconciler.state.backend import open_backend
from reconciler.state.ledger import open_ledger

CYCLE = 300.0
HOURS = 2.0
SHARE = {
    IntegrationKind.ITGLUE: 0.4,
    IntegrationKind.HUDU: 0.3,
    IntegrationKind.AUTOTASK: 0.5,
    IntegrationKind.CONNECTWISE: 0.2,
}


@contextmanager
def state(postgres: bool) -> Iterator[tuple[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        if not postgres:
            yield tmp, SettingsSpec.model_validate({"state": {"path": "state.db"}})
            return
        from reconciler.testing import pgcluster

        def spec() -> SettingsSpec:
            return SettingsSpec.model_validate(
                {"state": {"backend": "postgres", "dsn": {"env": "BENCH_DSN"}, "schema": "bench"}}
            )

        if pgcluster.external():
            os.environ["BENCH_DSN"] = str(pgcluster.external())
            yield tmp, spec()
            return
        with pgcluster.cluster() as cluster:
            os.environ["BENCH_DSN"] = cluster.dsn
            yield tmp, spec()


def run(n: int, postgres: bool) -> dict[str, Any]:
    rng = random.Random(16)
    links = {i: [k for k, share in SHARE.items() if rng.random() < share] for i in range(n)}
    with state(postgres) as (tmp, spec):
        backends = [open_backend(Path(tmp), spec, "bench") for _ in range(2)]
        limits = limits_of(spec)
        now = [1_800_000_000.0]  # the simulated wall clock, shared by both replicas
        replicas = []
        for b in backends:
            ledger = open_ledger(b.store, "bench")
            budgets = Budgets(ledger, limits, clock=lambda: now[0])
            replicas.append(budgets)
        wanted: dict[IntegrationKind, int] = dict.fromkeys(SHARE, 0)
        sent: dict[IntegrationKind, list[float]] = {k: [] for k in SHARE}
        deferred: dict[IntegrationKind, int] = dict.fromkeys(SHARE, 0)
        reservations = 0
        ledger_seconds = 0.0
        cycles = int(HOURS * 3600 / CYCLE)
        for cycle in range(cycles):
            for i in range(n):
                now[0] = 1_800_000_000.0 + cycle * CYCLE + i * CYCLE / n
                budgets = replicas[i % 2]
                creates = rng.randint(1, 5) if rng.random() < 0.1 else 0
                for kind in links[i]:
                    want = 3 + creates
                    wanted[kind] += want
                    spend = budgets.customer(f"c{i}", {kind: 3})
                    spender = spend.spender(kind.value, f"c{i}: {kind.value}")
                    if spender is None:  # unlimited: sent as wanted
                        sent[kind] += [now[0]] * want
                        continue
                    t0 = time.perf_counter()
                    try:
                        for _ in range(want):
                            spender.take()
                            sent[kind].append(now[0])
                    except BudgetExhausted:
                        deferred[kind] += 1
                    finally:
                        spender.close()
                    ledger_seconds += time.perf_counter() - t0
                    reservations += 1
        for b in replicas:
            if b.ledger is not None:
                b.ledger.close()
        for backend in backends:
            backend.close()
    out: dict[str, Any] = {"customers": n, "cycles": cycles, "backend": "postgres" if postgres else "sqlite"}
    out["per_run_ms"] = 1000 * ledger_seconds / max(1, reservations)
    out["rows"] = []
    for kind in SHARE:
        limit = limits.get(kind)
        peak = max_in_window(sent[kind], limit.window if limit else 3600.0)
        out["rows"].append(
            {
                "integration": kind.value,
                "budget": f"{limit.requests}/{limit.window:g}s" if limit else "unlimited",
                "wanted": wanted[kind],
                "sent": len(sent[kind]),
                "peak": peak,
                "limit": limit.requests if limit else None,
                "deferred": deferred[kind],
            }
        )
    return out


def max_in_window(times: list[float], window: float) -> int:
    """The most requests in any window of `window` seconds (a sliding one)."""
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect.bisect_left(times, t + window) - i)
    return best


def main(argv: list[str]) -> None:
    postgres = "--postgres" in argv
    args = [a for a in argv if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    r = run(n, postgres)
    print(f"{r['customers']} customers, {r['cycles']} cycles of 5 min, ledger on {r['backend']}")
    print("| integration | budget | wanted | sent | most in one window | runs deferred |")
    print("|---|---|---:|---:|---:|---:|")
    ok = True
    for row in r["rows"]:
        within = row["limit"] is None or row["peak"] <= row["limit"]
        ok = ok and within
        print(
            f"| {row['integration']} | {row['budget']} | {row['wanted']:,} | {row['sent']:,} | "
            f"{row['peak']:,}{'' if within else ' OVER'} | {row['deferred']:,} |"
        )
    print(f"ledger cost per customer run and integration: {r['per_run_ms']:.2f} ms")
    print(
        f"customers={r['customers']} backend={r['backend']} within_budget={ok} "
        f"per_run_ms={r['per_run_ms']:.2f} "
        + " ".join(f"{row['integration']}_peak={row['peak']}" for row in r["rows"])
    )


if __name__ == "__main__":
    main(sys.argv[1:])
