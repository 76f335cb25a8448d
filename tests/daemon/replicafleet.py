"""A fleet of offline customers for the replica tests: copies of the quickstart's
contoso (Entra users, IT Glue password entries, welcome emails, all file-backed),
with state on a fresh PostgreSQL schema, and helpers to run real `reconciler
daemon` replicas on it and to count what ended up in the integrations."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from reconciler.config import load_valid_config
from reconciler.state.api import Claim
from reconciler.state.backend import open_state
from tests.pgstate import use_postgres

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
EXE = Path(sys.executable).with_name("reconciler")
TOKEN = "replica-t0ken-for-tests"
LEASE_SECONDS = 15  # the minimum: takeovers in the tests are this quick


def write_fleet(
    root: Path, customers: int = 6, users: int = 40, batch: int = 4, in_flight: int = 2
) -> list[str]:
    root.mkdir(parents=True)
    for part in ("templates", "policies"):
        shutil.copytree(QUICKSTART / part, root / part)
    for p in (root / "policies").iterdir():
        if p.name != "entra-standard.yaml":
            p.unlink()
    settings = yaml.safe_load((QUICKSTART / "settings.yaml").read_text())
    settings["spec"]["applyBatchSize"] = batch
    settings["spec"]["daemon"] = {
        "jitterPercent": 0,
        "maxInFlight": in_flight,
        "token": {"env": "RECONCILER_TEST_TOKEN"},
        "shutdownGraceSeconds": 0,
    }
    (root / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    use_postgres(root, leaseSeconds=LEASE_SECONDS)
    names = [f"r{i:02d}" for i in range(customers)]
    for i, name in enumerate(names):
        doc = {
            "apiVersion": "reconciler.dev/v1",
            "kind": "Customer",
            "metadata": {"name": name, "labels": {"plan": "standard"}},
            "spec": {
                "directories": {"entra": {"tenantId": f"00000000-0000-4000-8000-{i:012d}"}},
                "integrations": {"itglueOrganizationId": 5000 + i},
            },
        }
        (root / "customers").mkdir(exist_ok=True)
        (root / "customers" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        live = root / "live" / name
        live.mkdir(parents=True)
        entra = [
            {
                "display_name": f"User {n}",
                "enabled": True,
                "given_name": "User",
                "id": f"{n:08d}-0000-4000-8000-{i:012d}",
                "licensed": True,
                "mail": f"user{n}@{name}.example",
                "proxy_addresses": [f"SMTP:user{n}@{name}.example"],
                "surname": f"Number{n}",
                "upn": f"user{n}@{name}.example",
            }
            for n in range(users)
        ]
        (live / "entra.json").write_text(json.dumps({"format": 1, "users": entra}, indent=1))
        (live / "itglue.json").write_text(json.dumps({"format": 1, "entries": []}, indent=1))
    return names


@dataclass
class Replica:
    proc: subprocess.Popen[str]
    log: Path
    stopped: bool = False
    _out: IO[str] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "raw", "message": line})
        return out


def start(root: Path, n: int) -> Replica:
    log = root.parent / f"replica-{n}.log"
    out = log.open("w")
    env = {**os.environ, "RECONCILER_TEST_TOKEN": TOKEN}
    cmd = [str(EXE), "daemon", "-c", str(root), "--listen", "127.0.0.1:0", "--log-format", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out, text=True, env=env)
    return Replica(proc, log, _out=out)


def stop_all(replicas: list[Replica]) -> None:
    for r in replicas:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGCONT)
            r.proc.send_signal(signal.SIGTERM)
    for r in replicas:
        try:
            r.proc.wait(30)
        except subprocess.TimeoutExpired:
            r.kill()
        if r._out is not None:
            r._out.close()


def converged(root: Path) -> bool:
    done = subprocess.run(
        [str(EXE), "plan", "-c", str(root), "--detailed-exitcode"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode == 0


def wait_converged(root: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not converged(root):
        assert time.monotonic() < deadline, "the fleet did not converge"
        time.sleep(1.0)


def duplicates(root: Path, names: list[str]) -> tuple[list[str], list[str], int, int]:
    """(duplicate IT Glue entries, double welcome emails, entries, emails) over the fleet."""
    dup_entries: list[str] = []
    dup_mails: list[str] = []
    entries = mails = 0
    for name in names:
        live = root / "live" / name
        users = Counter(e["username"] for e in json.loads((live / "itglue.json").read_text())["entries"])
        dup_entries += [f"{name}: {u} x{n}" for u, n in users.items() if n > 1]
        entries += len(users)
        outbox = live / "outbox"
        sent = sorted(p.name for p in outbox.iterdir()) if outbox.is_dir() else []
        dup_mails += [f"{name}: {p}" for p in sent if p.count(".") > 1]  # marker.2.eml, ...
        mails += len(sent)
    return dup_entries, dup_mails, entries, mails


def claims(root: Path, names: list[str]) -> dict[str, list[Claim]]:
    backend = open_state(load_valid_config(root))
    try:
        return {n: backend.store.claims(n) for n in names}
    finally:
        backend.close()


def overlapping(claims_by_customer: dict[str, list[Claim]]) -> list[str]:
    """Epochs of one customer that wrote after the next epoch was acquired."""
    bad: list[str] = []
    for name, cs in claims_by_customer.items():
        for a, b in itertools.pairwise(cs):
            if a.last_write_at is not None and a.last_write_at > b.acquired_at:
                bad.append(f"{name}: epoch {a.epoch} wrote at {a.last_write_at} after epoch {b.epoch} began")
    return bad
