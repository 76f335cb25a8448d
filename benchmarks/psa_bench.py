"""Benchmark: reading one customer's PSA contacts (N of them) through the real clients.

The ConnectWise and Autotask simulators run on loopback over TLS, seeded with N
contacts of one company (and as many of another company, which must not be
read). For each PSA: requests made vs. the floor (one discovery request plus
ceil(N / page size)), and wall time of a cold read (discovery included) and of
a warm one (discovery cached), and the client's own CPU time in the cold read
(the calling thread only; the simulator serves from its own threads).

    python benchmarks/psa_bench.py [N]          # default 20000

The last line is machine-readable.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.config.models import CustomerDoc, Safety, SettingsSpec
from reconciler.config.resolve import EffectiveCustomer
from reconciler.integrations.autotask.client import MAX_RECORDS, open_autotask
from reconciler.integrations.connectwise.client import PAGE_SIZE, open_connectwise
from reconciler.providers.base import ProviderContext
from reconciler.state.store import SqliteStore
from reconciler.testing.autotask import AutotaskSimulator
from reconciler.testing.connectwise import ConnectWiseSimulator
from reconciler.testing.httpsim import Simulator, TestCA


def context(
    root: Path, store: SqliteStore, connections: dict[str, Any], integrations: dict[str, str]
) -> ProviderContext:
    doc = CustomerDoc.model_validate(
        {"apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"},
         "spec": {"integrations": integrations}}
    )  # fmt: skip
    settings = SettingsSpec.model_validate({"connections": connections})
    return ProviderContext(root, settings, EffectiveCustomer("bench", doc, None, None, Safety()), store)


def measure(name: str, sim: Simulator, open_book: Any, n: int, page: int) -> dict[str, Any]:
    start, cpu = time.perf_counter(), time.thread_time()
    contacts = open_book().list_contacts()
    cold = time.perf_counter() - start
    client_cpu = time.thread_time() - cpu  # this thread only: the simulator serves from others
    cold_requests = len(sim.requests)
    assert len(contacts) == n, (name, len(contacts))
    start = time.perf_counter()
    open_book().list_contacts()
    warm = time.perf_counter() - start
    return {
        "psa": name,
        "contacts": n,
        "requests": cold_requests,
        "floor": 1 + math.ceil(n / page),
        "warm_requests": len(sim.requests) - cold_requests,
        "cold_seconds": round(cold, 2),
        "warm_seconds": round(warm, 2),
        "client_cpu_seconds": round(client_cpu, 2),
    }


def main(n: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = TestCA.create(root / "ca")
        store = SqliteStore(root / "state.db")

        with ConnectWiseSimulator(ca) as cw:
            assert isinstance(cw, ConnectWiseSimulator)
            for company in (5, 6):
                cw.add_company(company, f"Company {company}")
                for i in range(n):
                    cw.add_contact(company, f"First{i}", f"Last{i}", [f"u{i}@c{company}.example"])
            os.environ.update(BENCH_P=cw.public_key, BENCH_K=cw.private_key, BENCH_C=cw.client_id)
            conn = {
                "site": cw.url.removeprefix("https://"), "companyId": cw.company_id, "caFile": str(ca.ca_file),
                "publicKey": {"env": "BENCH_P"}, "privateKey": {"env": "BENCH_K"}, "clientId": {"env": "BENCH_C"},
            }  # fmt: skip
            ctx = context(root, store, {"connectwise": conn}, {"connectwiseCompanyId": "5"})
            results.append(measure("connectwise", cw, lambda: open_connectwise(ctx), n, PAGE_SIZE))

        with AutotaskSimulator(ca) as at:
            assert isinstance(at, AutotaskSimulator)
            for company in (123, 124):
                at.add_company(company, f"Company {company}")
                for i in range(n):
                    at.add_contact(company, f"First{i}", f"Last{i}", [f"u{i}@c{company}.example"])
            os.environ.update(BENCH_U=at.username, BENCH_S=at.secret, BENCH_I=at.integration_code)
            conn = {
                "username": {"env": "BENCH_U"}, "secret": {"env": "BENCH_S"}, "integrationCode": {"env": "BENCH_I"},
                "zoneDiscoveryUrl": f"{at.url}/ATServicesRest/", "caFile": str(ca.ca_file),
            }  # fmt: skip
            ctx = context(root, store, {"autotask": conn}, {"autotaskCompanyId": "123"})
            results.append(measure("autotask", at, lambda: open_autotask(ctx), n, MAX_RECORDS))
        store.close()
    return results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rows = main(count)
    print(
        f"{'psa':<12} {'contacts':>8} {'requests':>8} {'floor':>6} {'warm req':>8} {'cold s':>7} {'warm s':>7}"
    )
    for r in rows:
        print(
            f"{r['psa']:<12} {r['contacts']:>8} {r['requests']:>8} {r['floor']:>6} {r['warm_requests']:>8} "
            f"{r['cold_seconds']:>7} {r['warm_seconds']:>7} {r['client_cpu_seconds']:>12}"
        )
    print(json.dumps(rows))
