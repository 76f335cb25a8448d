"""Benchmark: reading a 50,000-user Entra tenant through our Graph client.

Against the Graph simulator on loopback (TLS, real MSAL + httpx, the SQLite
state store as the delta cache), count API calls and time:

- a full sync (floor: ceil(50,000 / 999) = 51 pages of /users);
- an incremental run with no change (floor: 1 delta call);
- an incremental run after 100 changes (50 updates, 25 new users, 25 removals);
- in the same run, a bare httpx loop fetching the same /users pages (same
  $select, $top=999, JSON decoded, nothing else): our full-sync wall time
  divided by its time is our overhead ratio. Each is timed REPEAT times and the
  best run is kept, alternating the two so neither gets a warmer server.

The simulator runs in a child process (as Graph is a remote service), so its
work does not compete with the client for this process's GIL.

    python benchmarks/graph_sync.py [USERS]

The last line is machine-readable.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import ssl
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import yaml

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.providers.base import DirectoryScope, ProviderContext
from reconciler.providers.graph import cache, forget_apps, open_entra
from reconciler.providers.graph.cache import USERS_CURSOR
from reconciler.providers.graph.client import PAGE_SIZE, USER_SELECT
from reconciler.providers.graph.reader import EntraReader
from reconciler.state.store import SqliteStore
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

TENANT = "bench-tenant"
REPEAT = 3
SECRET_ENV = "BENCH_GRAPH_SECRET"


def write_config(root: Path, url: str, client_id: str, ca_file: str) -> None:
    graph = {
        "clientId": client_id,
        "credential": {"clientSecret": {"env": SECRET_ENV}},
        "authorityHost": url,
        "graphUrl": url,
        "caFile": ca_file,
    }
    docs = [
        {"apiVersion": "reconciler.dev/v1", "kind": "Settings", "metadata": {"name": "bench"},
         "spec": {"connections": {"graph": graph}}},
        {"apiVersion": "reconciler.dev/v1", "kind": "Customer", "metadata": {"name": "bench"},
         "spec": {"directories": {"entra": {"tenantId": TENANT}}, "import": {"source": "entra"}}},
    ]  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def serve(conn: Connection, n: int, workdir: str) -> None:
    """Child process: run the simulator and answer the parent's commands."""
    ca = TestCA.create(Path(workdir) / "ca")
    sim = GraphSimulator(ca, tenants=(TENANT,))
    sim.start()
    t0 = time.perf_counter()
    ids = sim.seed(TENANT, n)
    seed_s = time.perf_counter() - t0
    conn.send((sim.url, str(ca.ca_file), sim.identity.client_id, sim.identity.client_secret, seed_s))
    while True:
        command, arg = conn.recv()
        if command == "mark":
            conn.send(len(sim.requests))
        elif command == "calls":  # (Graph calls, identity calls) since a mark
            later = sim.requests[arg:]
            graph = sum(1 for r in later if r.path.startswith("/v1.0/"))
            conn.send((graph, len(later) - graph))
        elif command == "change100":
            for user_id in ids[:50]:
                sim.update_user(TENANT, user_id, surname="Changed", jobTitle="Bench")
            for user_id in ids[50:75]:
                sim.remove_user(TENANT, user_id)
            for k in range(25):
                sim.add_user(TENANT, f"new{k}@contoso.test")
            conn.send(True)
        else:
            sim.stop()
            conn.send(True)
            return


class Remote:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def ask(self, command: str, arg: Any = None) -> Any:
        self.conn.send((command, arg))
        return self.conn.recv()


def bare_loop(url: str, verify: ssl.SSLContext, token: str) -> tuple[int, int, float, float]:
    """(users, calls, seconds, CPU seconds) of the simplest correct client of the same pages."""
    started, cpu = time.perf_counter(), time.process_time()
    users = calls = 0
    with httpx.Client(verify=verify, headers={"Authorization": f"Bearer {token}"}) as http:
        next_url: str | None = f"{url}/v1.0/users"
        params: dict[str, str] | None = {"$select": ",".join(USER_SELECT), "$top": str(PAGE_SIZE)}
        while next_url:
            body = http.get(next_url, params=params).json()
            calls += 1
            users += len(body["value"])
            next_url, params = body.get("@odata.nextLink"), None
    return users, calls, time.perf_counter() - started, time.process_time() - cpu


def run(
    ctx: ProviderContext, remote: Remote, scope: DirectoryScope
) -> tuple[EntraReader, int, int, float, float]:
    """One read: (reader, Graph calls, identity calls, seconds, CPU seconds of this process)."""
    mark = remote.ask("mark")
    reader = open_entra(ctx)
    started, cpu = time.perf_counter(), time.process_time()
    snap = reader.read(scope)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(snap.users) == reader.last.users
    graph, identity = remote.ask("calls", mark)
    return reader, graph, identity, seconds, cpu


def breakdown(reader: EntraReader, store: SqliteStore) -> dict[str, float]:
    """CPU-bound parts of a read, timed alone on the stored cache."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    cached, _ = cache.load(store, "bench", reader._selection_key(DirectoryScope()))
    out["load_cache_s"] = time.perf_counter() - t
    assert cached is not None
    t = time.perf_counter()
    tuple(cache.user_of(cached.rows[i]) for i in sorted(cached.rows))
    out["build_snapshot_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cache.save(store, "bench", cached, users_changed=True)
    out["save_cache_s"] = time.perf_counter() - t
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.Process(target=serve, args=(child, n, tmp), daemon=True)
        server.start()
        remote = Remote(parent)
        url, ca_file, client_id, secret, seed_s = parent.recv()
        os.environ[SECRET_ENV] = secret
        root = base / "config"
        root.mkdir()
        write_config(root, url, client_id, ca_file)
        config = load_config(root)
        eff = effective_customers(config)["bench"]
        store = SqliteStore(base / "state.db")
        ctx = ProviderContext(root, config.settings_doc.spec, eff, store)
        verify = ssl.create_default_context(cafile=ca_file)
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        form["scope"] = f"{url}/.default"
        token = httpx.post(f"{url}/{TENANT}/oauth2/v2.0/token", data=form, verify=verify).json()[
            "access_token"
        ]

        full_times: list[tuple[float, float]] = []
        bare_times: list[tuple[float, float]] = []
        full_calls = bare_calls = identity_calls = 0
        for i in range(REPEAT):
            users, bare_calls, seconds, cpu = bare_loop(url, verify, token)
            assert users == n
            bare_times.append((seconds, cpu))
            forget_apps()  # each full run pays for discovery + token, as a fresh process would
            reader, full_calls, identity_calls, seconds, cpu = run(
                ctx, remote, DirectoryScope(full_sync=i > 0)
            )
            assert reader.last.mode == "full" and reader.last.users == n
            full_times.append((seconds, cpu))

        reader, nochange_calls, _, nochange_s, _ = run(ctx, remote, DirectoryScope())
        assert reader.last.mode == "delta" and reader.last.changes == 0

        remote.ask("change100")
        reader, changed_calls, _, changed_s, _ = run(ctx, remote, DirectoryScope())
        assert reader.last.mode == "delta" and reader.last.changes == 100 and reader.last.users == n
        cache_mb = len(store.get_cursor("bench", USERS_CURSOR) or "") / 1e6
        parts = breakdown(reader, store)
        remote.ask("stop")
        server.join(10)

    (full_s, full_cpu), (bare_s, bare_cpu) = min(full_times), min(bare_times)
    ratio = full_s / bare_s
    cpu_ratio = full_cpu / bare_cpu
    load1 = os.getloadavg()[0]
    floor = math.ceil(n / PAGE_SIZE)
    print(
        f"Graph sync benchmark: {n:,} users in one simulated tenant (HTTPS on loopback), page size {PAGE_SIZE}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    print(f"seeding the simulator: {seed_s:.2f} s (simulator in a child process)")
    print(f"full sync:           {full_calls} Graph calls ({floor} /users pages + 1 delta anchor), "
          f"{identity_calls} identity calls, best of {REPEAT}: {full_s:.2f} s")  # fmt: skip
    print(f"bare httpx loop:     {bare_calls} calls (the same pages), best of {REPEAT}: {bare_s:.2f} s")
    print(
        f"overhead ratio:      {ratio:.2f} wall time (full sync / bare loop; ours also converts, caches, stores)"
    )
    print(
        f"client CPU:          {full_cpu:.2f} s vs {bare_cpu:.2f} s bare, ratio {cpu_ratio:.2f} (load avg {load1:.1f})"
    )
    print("  of which, alone:   " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(f"no-change delta:     {nochange_calls} Graph call, {nochange_s:.2f} s (mostly loading the cache)")
    print(f"after 100 changes:   {changed_calls} Graph call, {changed_s:.2f} s")
    print(f"delta cache stored:  {cache_mb:.1f} MB (zlib + base64 in the state store)")
    print(
        f"users={n} full_calls={full_calls} full_pages={floor} identity_calls={identity_calls} "
        f"nochange_calls={nochange_calls} changes100_calls={changed_calls} full_s={full_s:.2f} "
        f"bare_s={bare_s:.2f} overhead_ratio={ratio:.2f} nochange_s={nochange_s:.2f} "
        f"changes100_s={changed_s:.2f} cache_mb={cache_mb:.1f} full_cpu_s={full_cpu:.2f} bare_cpu_s={bare_cpu:.2f} "
        f"cpu_ratio={cpu_ratio:.2f} load1={load1:.1f}"
    )


if __name__ == "__main__":
    main()
