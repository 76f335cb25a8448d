"""End to end: the real `reconciler daemon` process, import now, metrics, status, SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config import load_valid_config
from reconciler.state.backend import open_state
from reconciler.testing.fleet import tenant_id, write_fleet
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA
from tests.pgstate import use_postgres

from .conftest import TOKEN, edit_yaml, entra_users, set_entra_users

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXE = Path(sys.executable).with_name("reconciler")


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start


@contextmanager
def running_daemon(root: Path, **env_extra: str) -> Iterator[Daemon]:
    env = {**os.environ, "RECONCILER_TEST_TOKEN": TOKEN, **env_extra}
    cmd = [str(EXE), "daemon", "-c", str(root), "--listen", "127.0.0.1:0", "--log-format", "json"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    url = ""
    deadline = time.monotonic() + 20
    while not url and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert proc.poll() is None, f"daemon exited: {seen}"
            continue
        seen.append(line)
        record = json.loads(line)
        if record["event"] == "daemon.started":
            url = record["listen"]
    assert url, seen
    daemon = Daemon(proc, url, seen)
    try:
        yield daemon
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        while not lines.empty():
            seen.append(lines.get())


def test_real_daemon_import_now_metrics_status_and_sigterm(config_dir: Path) -> None:
    with running_daemon(config_dir) as d:
        client = httpx.Client(base_url=d.url, timeout=30)
        first = client.post("/customers/contoso/reconcile?wait=20", headers=AUTH)
        assert first.status_code == 200, first.text

        users = entra_users(config_dir, "contoso")
        alice = next(u for u in users if u["upn"] == "alice@contoso.com")
        alice["display_name"] = "Alice Archer-Smith"
        set_entra_users(config_dir, "contoso", users)
        r = client.post("/customers/contoso/reconcile?wait=20", headers=AUTH)
        assert r.status_code == 200
        assert r.json()["result"] == "applied" and r.json()["applied"] == {"update": 1}

        metrics = client.get("/metrics").text
        assert 'reconciler_changes_applied_total{kind="update"} 1.0' in metrics
        assert 'reconciler_last_success_timestamp_seconds{customer="contoso"}' in metrics

        status = CliRunner().invoke(main, ["status", "-c", str(config_dir), "--format", "json"])
        data = json.loads(status.output)
        assert data["daemon"]["running"] is True
        contoso = next(c for c in data["customers"] if c["customer"] == "contoso")
        assert contoso["last_run"]["result"] == "applied"
        assert contoso["last_run"]["message"] == "1 change applied"

        code, took = d.terminate()
    assert code == 0 and took < 10
    for line in d.lines:  # one JSON object per line, and never the token
        json.loads(line)
        assert TOKEN not in line
    backend = open_state(load_valid_config(config_dir))
    assert backend.store.locks() == []
    assert "stopped_at" in backend.daemon.meta()["daemon"]
    backend.close()


def test_sigterm_during_a_long_apply_stops_between_changes(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "fleet"
    write_fleet(root, 1, users=4000, daemon={"jitterPercent": 0, "shutdownGraceSeconds": 0})
    edit_yaml(root / "settings.yaml", lambda d: d["spec"].update(applyBatchSize=1))
    if backend == "postgres":
        use_postgres(root)
    state = open_state(load_valid_config(root))
    with running_daemon(root) as d:
        store = state.store
        deadline = time.monotonic() + 20
        while store.serial("c0000") < 5:  # the initial import is committing, batch by batch
            assert time.monotonic() < deadline, d.lines
            time.sleep(0.01)
        # a run in progress shows as running (#17 item 5)
        running = CliRunner().invoke(main, ["status", "-c", str(root), "--format", "json"])
        c0000 = json.loads(running.output)["customers"][0]
        assert c0000["running"]["by"] == "reconciler daemon" and c0000["running"]["alive"]
        text = CliRunner().invoke(main, ["status", "-c", str(root)]).output
        assert "customer c0000: RUNNING (reconciler daemon, pid " in text
        code, took = d.terminate()
    assert code == 0 and took < 10
    managed = store.load("c0000")
    assert 0 < len(managed.accounts) < 4000  # stopped part-way...
    assert managed.serial == len(managed.accounts)  # ...at a batch boundary: nothing half-done
    assert store.locks() == []
    rec = state.daemon.get("c0000")
    assert rec is not None and rec.last_result == "abandoned" and rec.failures == 0
    # exactly what was applied, in the record, the log line and status (not "0 of N")
    n = len(managed.accounts)
    assert rec.changes_applied == n
    assert rec.last_message.startswith(f"stopped by shutdown: {n} changes of ")
    assert f"({n} add)" in rec.last_message
    (line,) = [json.loads(x) for x in d.lines if '"reconcile.abandoned"' in x]
    assert line["applied"] == n and f"{n} changes of " in line["message"]
    after = json.loads(CliRunner().invoke(main, ["status", "-c", str(root), "--format", "json"]).output)
    assert after["customers"][0]["running"] is None
    assert after["customers"][0]["last_run"]["changes_applied"] == n
    state.close()


def test_bad_listen_address_is_a_clear_error(config_dir: Path) -> None:
    cmd = [str(EXE), "daemon", "-c", str(config_dir), "--listen", "127.0.0.1:notaport"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1:notaport" in done.stderr


def test_real_daemon_against_the_graph_simulator(tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path / "ca")
    sim = GraphSimulator(ca, tenants=(tenant_id(0), tenant_id(1)))
    ids = [sim.add_user(tenant_id(0), f"u{i}@c0.test", surname=f"S{i}") for i in range(3)]
    sim.add_user(tenant_id(1), "v@c1.test")
    sim.start()
    root = tmp_path / "config"
    graph = {
        "clientId": sim.identity.client_id,
        "credential": {"clientSecret": {"env": "TEST_GRAPH_SECRET"}},
        "authorityHost": sim.url,
        "graphUrl": sim.url,
        "caFile": str(ca.ca_file),
    }
    write_fleet(root, 2, daemon={"jitterPercent": 0, "token": {"env": "RECONCILER_TEST_TOKEN"}}, graph=graph)
    try:
        with running_daemon(root, TEST_GRAPH_SECRET=sim.identity.client_secret) as d:
            client = httpx.Client(base_url=d.url, timeout=30)
            first = client.post("/customers/c0000/reconcile?wait=20", headers=AUTH)
            assert first.status_code == 200 and first.json()["result"] in ("applied", "in-sync"), first.text
            # c0001's first import runs beside c0000's and may still be reading its tenant:
            # let it finish, so that only c0000 talks to Graph from here on
            c0001_done = 'reconciler_last_success_timestamp_seconds{customer="c0001"}'
            deadline = time.monotonic() + 20
            while c0001_done not in client.get("/metrics").text:
                assert time.monotonic() < deadline, "c0001's first run did not finish"
                time.sleep(0.05)

            sim.update_user(tenant_id(0), ids[1], surname="Changed")
            mark = len(sim.requests)
            r = client.post("/customers/c0000/reconcile?wait=20", headers=AUTH)
            assert r.json()["result"] == "applied" and r.json()["applied"] == {"update": 1}, r.text
            calls = [q.path for q in sim.requests[mark:]]
            assert calls == ["/v1.0/users/delta"]  # the delta floor: one Graph call

            metrics = client.get("/metrics").text
            assert 'reconciler_api_requests_total{integration="entra"}' in metrics
            assert 'reconciler_changes_applied_total{kind="update"} 1.0' in metrics
            status = CliRunner().invoke(main, ["status", "-c", str(root), "--format", "json"])
            by = {c["customer"]: c for c in json.loads(status.output)["customers"]}
            assert by["c0000"]["last_run"]["message"] == "1 change applied"
            assert by["c0001"]["last_run"]["result"] == "applied"
            code, took = d.terminate()
        assert code == 0 and took < 10
        assert all(sim.identity.client_secret not in line for line in d.lines)
    finally:
        sim.stop()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_second_daemon_on_one_state_file_is_refused_naming_the_first(config_dir: Path) -> None:
    """SQLite state is one machine's file: one daemon. (PostgreSQL state: replicas, see
    tests/daemon/test_replicas.py.) Before, the second started silently and status
    said "not running" while the first was alive."""
    with running_daemon(config_dir) as first:
        env = {**os.environ, "RECONCILER_TEST_TOKEN": TOKEN}
        second = subprocess.run(
            [str(EXE), "daemon", "-c", str(config_dir), "--listen", "127.0.0.1:0"],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip
        assert second.returncode == 1, second.stderr
        (line,) = [x for x in second.stderr.splitlines() if x.strip()]
        assert "another reconciler daemon runs on this state" in line
        assert f"pid {first.proc.pid}" in line and "Traceback" not in second.stderr
        code, _ = first.terminate()
    assert code == 0
    # the first one is gone: a new daemon starts
    with running_daemon(config_dir) as again:
        assert again.terminate()[0] == 0
