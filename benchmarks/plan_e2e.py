"""Benchmark: `reconciler plan -c DIR -o plan.json` end to end on a snapshot of N accounts.

The customer and data are those of `plan_bench.py` (N licensed Entra users, N IT
Glue entries, N ConnectWise contacts, a state from a previous run with 1% of the
accounts changed since), written as an offline snapshot directory and a SQLite
state. In one run:

- the real CLI in a child process (`plan -c DIR -o plan.json`, text to
  /dev/null): its CPU (user + sys);
- the core plan (`plan_bench.py`'s measure: desired + matching + diff, no I/O)
  in another child, for the ratio;
- a per-stage breakdown in a third child, calling the stages the CLI calls in
  the same order: config load, snapshot load, state load, core plan, text
  render, JSON save.

    python benchmarks/plan_e2e.py [N]

The last line is machine-readable.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from plan_bench import build

from reconciler.providers import files
from reconciler.state.store import SqliteStore

SETTINGS = """apiVersion: reconciler.dev/v1
kind: Settings
metadata: {name: bench}
spec:
  state: {backend: sqlite, path: state.db}
  snapshot: {dir: live}
  features: {passwordManager: true}
"""
POLICY = """apiVersion: reconciler.dev/v1
kind: ImportPolicy
metadata: {name: p}
spec:
  appliesTo: {labelSelector: {matchLabels: {plan: p}}}
  source: entra
  options: {passwordEntryMatching: true, contactMatching: true, selfServe: true}
"""
CUSTOMER = """apiVersion: reconciler.dev/v1
kind: Customer
metadata: {name: bench, labels: {plan: p}}
spec:
  directories: {entra: {tenantId: 11111111-1111-1111-1111-111111111111}}
  integrations: {itglueOrganizationId: 4001, connectwiseCompanyId: 77}
"""


def write_snapshot(root: Path, n: int) -> None:
    _, live, state = build(n)
    (root / "settings.yaml").write_text(SETTINGS)
    (root / "policy.yaml").write_text(POLICY)
    (root / "bench.yaml").write_text(CUSTOMER)
    base = root / "live" / "bench"
    entra = live.directories.entra
    assert entra is not None and live.entries is not None and live.contacts is not None
    files.dump_directory(base / "entra.json", entra)
    files.dump_entries(base / "itglue.json", list(live.entries))
    files.dump_contacts(base / "connectwise.json", list(live.contacts))
    store = SqliteStore(root / "state.db")
    with store.batch():
        for account in state.accounts.values():
            store.put_account("bench", account)
        store.bump_serial("bench")
    store.close()


def cli_cpu(root: Path) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "reconciler.cli", "plan", "-c", str(root), "-o", str(root / "plan.json")]
    with open(os.devnull, "w") as null:
        rc = subprocess.run(cmd, stdout=null, stderr=subprocess.PIPE, text=True).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, rc


def stages(root: Path) -> dict[str, float]:
    """The CLI's stages, timed one by one (CPU seconds of this process)."""
    out: dict[str, float] = {}
    t = time.process_time()

    def mark(name: str) -> None:
        nonlocal t
        now = time.process_time()
        out[name] = now - t
        t = now

    from reconciler.cli.plan import render, save_plan
    from reconciler.config import load_valid_config
    from reconciler.core.plan import Plan
    from reconciler.core.planning import plan_customer
    from reconciler.engine import Engine
    from reconciler.gcpause import gc_paused
    from reconciler.reading import read_live

    mark("imports")
    engine = Engine.open(load_valid_config(root))
    eff = engine.customers()[0]
    mark("config")
    providers = engine.providers(eff)
    with gc_paused():  # as Engine.plan_one runs them
        live = read_live(providers, eff)
    providers.close()
    mark("snapshot load")
    with gc_paused():
        managed = engine.store.load(eff.name)
    mark("state load")
    with gc_paused():
        cp = plan_customer(eff, live, managed, engine.plan_options())
    mark("core plan")
    plan = Plan(engine.config.digest, "2026-01-01T00:00:00+00:00", (cp,))
    with gc_paused():  # as the CLI runs them
        render(plan, "text")
        mark("text render")
        save_plan(plan, root / "stages.json")
        mark("json save")
    return out


def core_cpu(n: int) -> float:
    bench = Path(__file__).parent / "plan_bench.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--child", "ours", str(n)], capture_output=True, text=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["plan_s"])


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_snapshot(root, n)
        size = sum(p.stat().st_size for p in (root / "live" / "bench").iterdir()) / 1e6
        print(
            f"snapshot: {n} users, {n} entries, {n} contacts ({size:.0f} MB of JSON), state of {n} accounts"
        )
        e2e, rc = cli_cpu(root)
        core = core_cpu(n)
        child = subprocess.run(
            [sys.executable, __file__, "--stages", str(root)], capture_output=True, text=True, check=True
        )
        parts: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    for name, secs in parts.items():
        print(f"  {name:<14} {secs:6.2f} s")
    print(f"  {'sum':<14} {sum(parts.values()):6.2f} s")
    print(f"e2e CLI plan: {e2e:.2f} s CPU (exit {rc}); core plan {core:.2f} s CPU; ratio {e2e / core:.2f}")
    print(f"accounts={n} e2e_cpu_s={e2e:.2f} core_cpu_s={core:.2f} ratio={e2e / core:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stages"]:
        print(json.dumps(stages(Path(sys.argv[2]))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
