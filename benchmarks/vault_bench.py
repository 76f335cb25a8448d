"""Benchmark: listing one customer's password entries through the real IT Glue and
Hudu clients against their simulators (HTTPS on loopback), N entries.

Reports requests made against the floor (ceil(N / page size)), wall time and
entries per second. Hudu is measured with page_size honoured and with a server
that caps pages at 100 (a live instance was seen ignoring page_size).

    python benchmarks/vault_bench.py [N]

The last line is machine-readable.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reconciler.config import load_valid_config
from reconciler.config.resolve import effective_customers
from reconciler.integrations.hudu.client import open_hudu
from reconciler.integrations.itglue.client import open_itglue
from reconciler.providers.base import ProviderContext
from reconciler.testing.httpsim import TestCA
from reconciler.testing.hudu import HuduSimulator
from reconciler.testing.itglue import ItGlueSimulator

KEY = "bench-key"


class _Cursors:
    def get_cursor(self, customer: str, name: str) -> str | None:
        return None

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        pass


def _context(root: Path, kind: str, conn: dict[str, Any], link: dict[str, str]) -> ProviderContext:
    (root / "key").write_text(KEY)
    conn_yaml = ", ".join(f"{k}: {json.dumps(v)}" for k, v in conn.items())
    (root / "config.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: bench}\n"
        f"spec: {{connections: {{{kind}: {{apiKey: {{file: key}}, {conn_yaml}}}}}}}\n---\n"
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: big}\n"
        f"spec: {{integrations: {json.dumps(link)}}}\n"
    )
    config = load_valid_config(root)
    return ProviderContext(root, config.settings_doc.spec, effective_customers(config)["big"], _Cursors())


def bench_itglue(ca: TestCA, root: Path, n: int) -> dict[str, Any]:
    with ItGlueSimulator(ca, api_key=KEY) as sim:
        assert isinstance(sim, ItGlueSimulator)
        sim.add_category("Office 365")
        org = sim.add_organization("Big")
        for i in range(n):
            sim.add_password(org, f"entry {i}", f"user{i}@big.test", "Office 365")
        ctx = _context(
            root,
            "itglue",
            {"baseUrl": sim.url, "caFile": str(ca.ca_file)},
            {"itglueOrganizationId": str(org)},
        )
        vault = open_itglue(ctx)
        start = time.perf_counter()
        entries = vault.list_entries()
        seconds = time.perf_counter() - start
        assert len(entries) == n
        return _row("IT Glue", n, 1000, sim.count(), seconds)


def bench_hudu(ca: TestCA, root: Path, n: int, cap: int | None) -> dict[str, Any]:
    with HuduSimulator(ca, api_key=KEY, max_page_size=cap) as sim:
        assert isinstance(sim, HuduSimulator)
        company = sim.add_company("Big")
        for i in range(n):
            sim.add_password(company, f"entry {i}", f"user{i}@big.test", "Office 365")
        conn = {"baseUrl": f"{sim.url}/api/v1", "caFile": str(ca.ca_file), "pageSize": 1000}
        vault = open_hudu(_context(root, "hudu", conn, {"huduCompanyId": str(company)}))
        start = time.perf_counter()
        entries = vault.list_entries()
        seconds = time.perf_counter() - start
        assert len(entries) == n
        label = "Hudu" if cap is None else f"Hudu, server caps pages at {cap}"
        return _row(label, n, cap or 1000, sim.count(), seconds)


def _row(label: str, n: int, page: int, requests: int, seconds: float) -> dict[str, Any]:
    return {
        "vendor": label,
        "entries": n,
        "page_size": page,
        "requests": requests,
        "floor": math.ceil(n / page),
        "seconds": round(seconds, 2),
        "entries_per_second": round(n / seconds),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ca = TestCA.create(base / "ca")
        rows = []
        for i, (kind, cap) in enumerate((("itglue", None), ("hudu", None), ("hudu", 100))):
            root = base / f"cfg{i}"
            root.mkdir()
            rows.append(bench_itglue(ca, root, n) if kind == "itglue" else bench_hudu(ca, root, n, cap))
    print(f"python {platform.python_version()}, {platform.machine()}, one customer, {n} entries")
    print(f"{'vendor':<34} {'requests':>8} {'floor':>6} {'seconds':>8} {'entries/s':>10}")
    for r in rows:
        print(
            f"{r['vendor']:<34} {r['requests']:>8} {r['floor']:>6} {r['seconds']:>8} {r['entries_per_second']:>10}"
        )
    print(json.dumps({"n": n, "rows": rows}))


if __name__ == "__main__":
    main()
