"""Daemon test rig: a scratch copy of the quickstart, a fake clock, a real scheduler."""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.daemon.clock import SystemClock
from reconciler.daemon.configsource import ConfigSource, GitRepo
from reconciler.daemon.listener import DaemonHttpServer
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.scheduler import Scheduler
from reconciler.state.api import CustomerRecord, DaemonStore, StateStore
from reconciler.state.backend import open_state
from reconciler.testing.clock import FakeClock
from tests.pgstate import use_postgres

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
TOKEN = "t0ken-for-tests-only"


def edit_yaml(path: Path, change: Any) -> None:
    """Rewrite a YAML document through `change(doc)`; bump its mtime so reloads see it."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    write(path, yaml.safe_dump(doc, sort_keys=False))


def write(path: Path, text: str) -> None:
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    new = max(path.stat().st_mtime_ns, old + 1_000_000)
    os.utime(path, ns=(new, new))


def set_daemon(root: Path, **daemon: Any) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["spec"].setdefault("daemon", {}).update(daemon)

    edit_yaml(root / "settings.yaml", change)


def entra_users(root: Path, customer: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((root / "live" / customer / "entra.json").read_text())["users"]
    return data


def set_entra_users(root: Path, customer: str, users: list[dict[str, Any]]) -> None:
    path = root / "live" / customer / "entra.json"
    data = json.loads(path.read_text())
    data["users"] = users
    write(path, json.dumps(data, indent=1))


@dataclass
class Rig:
    root: Path
    clock: FakeClock
    store: StateStore
    state: DaemonStore
    metrics: DaemonMetrics
    scheduler: Scheduler

    def cycle(self) -> float:
        """One scheduling pass, then wait (really) for the runs it started."""
        delay = self.scheduler.cycle()
        assert self.scheduler.drain(30), "runs did not finish"
        return delay

    def record(self, customer: str) -> CustomerRecord:
        rec = self.state.get(customer)
        assert rec is not None, f"no daemon record for {customer}"
        return rec

    def accounts(self, customer: str) -> set[str]:
        return {a.upn for a in self.store.load(customer).accounts.values()}

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def close(self) -> None:
        self.scheduler.shutdown(5)
        self.store.close()
        self.state.close()


def make_rig(root: Path, seed: int = 7, git: bool = False) -> Rig:
    clock = FakeClock()
    source = ConfigSource(root, clock, GitRepo(root) if git else None)
    backend = open_state(source.config)
    store, state, metrics = backend.store, backend.daemon, DaemonMetrics()
    scheduler = Scheduler(source, store, state, clock, metrics, random.Random(seed))
    return Rig(root, clock, store, state, metrics, scheduler)


@pytest.fixture
def config_dir(tmp_path: Path, backend: str) -> Path:
    """A quickstart copy for the daemon, its state on `backend` (both are run)."""
    root = tmp_path / "config"
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".reconciler"))
    set_daemon(root, jitterPercent=0, token={"env": "RECONCILER_TEST_TOKEN"})
    if backend == "postgres":
        use_postgres(root)
    return root


@pytest.fixture
def rig(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.setenv("RECONCILER_TEST_TOKEN", TOKEN)
    r = make_rig(config_dir)
    yield r
    r.close()


@dataclass
class Live:
    url: str
    scheduler: Scheduler
    client: httpx.Client
    server: DaemonHttpServer


def serve(config_dir: Path, address: tuple[str, int] = ("127.0.0.1", 0)) -> Iterator[Live]:
    """The daemon for real: scheduler loop in a thread (real clock), listener on loopback."""
    clock = SystemClock()
    source = ConfigSource(config_dir, clock)
    backend = open_state(source.config)
    store, state, metrics = backend.store, backend.daemon, DaemonMetrics()
    sched = Scheduler(source, store, state, clock, metrics)
    server = DaemonHttpServer(address, sched, metrics, sched.settings.tls)
    server.start()
    loop = threading.Thread(target=sched.run_forever, daemon=True)
    loop.start()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            yield Live(server.url, sched, client, server)
    finally:
        sched.shutdown(5)
        loop.join(5)
        server.stop()
        store.close()
        state.close()


@pytest.fixture
def live(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("RECONCILER_TEST_TOKEN", TOKEN)
    yield from serve(config_dir)


def as_if_beyond_loopback(live: Live, tls: bool = False) -> None:
    """Let the running app behave as if its listener were on a routable address (viewing
    needs the token; sign-in needs TLS) while the test still talks to it on loopback."""
    from dataclasses import replace

    state = live.server.app.state
    state.daemon = replace(state.daemon, loopback=False, tls=tls)
