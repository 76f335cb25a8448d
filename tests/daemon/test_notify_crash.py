"""A real `reconciler daemon` killed with -9 while a notification is queued (its
webhook target answers 500, so the delivery waits for a retry): after a restart
on the same state the delivery is sent exactly once, with its original id, and
the queue in the state store is empty. Both backends (SQLite file, PostgreSQL)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from reconciler.config import load_valid_config
from reconciler.daemon.notify.durable import OUTBOX
from reconciler.state.backend import open_state
from tests.conftest import QUICKSTART
from tests.daemon.conftest import write
from tests.pgstate import use_postgres

EXE = Path(sys.executable).with_name("reconciler")
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Hook:
    """A loopback webhook receiver that answers 500 while `failing`."""

    def __init__(self) -> None:
        self.failing = True
        self.attempts = 0
        self.got: list[dict[str, Any]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.failing:
                    self.send_response(500)
                else:
                    hook.got.append({"id": self.headers["webhook-id"], **json.loads(body)})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _config(root: Path, backend: str) -> None:
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".reconciler"))
    doc = yaml.safe_load((root / "settings.yaml").read_text())
    doc["spec"]["daemon"] = {"jitterPercent": 0, "token": {"env": "RECONCILER_TEST_TOKEN"}}
    doc["spec"]["notifications"] = [
        {
            "name": "psa-hook",
            "type": "webhook",
            "url": {"env": "NOTIFY_HOOK_URL"},
            "secret": {"env": "NOTIFY_HOOK_SECRET"},
            "events": ["run.failed"],
        }
    ]
    (root / "settings.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if backend == "postgres":
        use_postgres(root, leaseSeconds=15)


def _queued(root: Path) -> dict[str, dict[str, Any]]:
    backend = open_state(load_valid_config(root))
    try:
        return backend.daemon.records(OUTBOX)
    finally:
        backend.close()


def _daemon(root: Path, hook: Hook, log: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RECONCILER_TEST_TOKEN": "t0ken",
        "NOTIFY_HOOK_URL": hook.url,
        "NOTIFY_HOOK_SECRET": SECRET,
    }
    return subprocess.Popen(
        [str(EXE), "daemon", "-c", str(root), "--listen", "127.0.0.1:0", "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
        env=env,
    )


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_delivery_queued_at_a_kill_9_is_sent_once_after_the_restart(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "config"
    _config(root, backend)
    write(root / "live" / "northwind" / "ad.json", "{not json")  # northwind's runs fail: run.failed
    hook = Hook()
    first = _daemon(root, hook, tmp_path / "first.log")
    second: subprocess.Popen[str] | None = None
    try:
        _wait(lambda: hook.attempts >= 1, 120, "the first delivery attempt")
        queued = _queued(root)
        assert [v["event"]["type"] for v in queued.values()] == ["run.failed"]
        (original,) = (v["event"] for v in queued.values())
        first.kill()  # -9: the retry was still waiting in memory
        first.wait(10)
        hook.failing = False
        second = _daemon(root, hook, tmp_path / "second.log")
        _wait(lambda: len(hook.got) >= 1, 60, "the delivery after the restart")
        _wait(lambda: _queued(root) == {}, 30, "the queue to empty")
        time.sleep(3)  # anything more that was going to come (northwind keeps failing: no new event)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        hook.server.shutdown()
    assert [(e["id"], e["type"], e["customer"]) for e in hook.got] == [
        (original["id"], "run.failed", "northwind")
    ]
    said = (tmp_path / "second.log").read_text()
    assert "queued deliveries taken over" in said and "Traceback" not in said
