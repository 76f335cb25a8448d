"""Halo PSA end to end on the sandbox (R24): the daemon's run, `snapshot`, and an
offline plan on the snapshot that agrees with the live one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config import load_valid_config
from reconciler.daemon.clock import SystemClock
from reconciler.daemon.runner import RunContext, RunResult, reconcile
from reconciler.engine import Engine
from reconciler.testing.sandbox import Sandbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox.start(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def daemon_run(root: Path, customer: str) -> RunResult:
    engine = Engine.open(load_valid_config(root))
    (eff,) = engine.customers([customer])
    ctx = RunContext(engine, eff, None, SystemClock(), threading.Event(), threading.Event())
    return reconcile(ctx).result


def test_the_daemon_creates_halo_users_once_and_leaves_the_conflict(box: Sandbox) -> None:
    assert daemon_run(box.root, "wingtip") is RunResult.APPLIED
    created = [u for u in box.halo.users_of(box.halo_client) if u["notes"]]
    assert [u["firstname"] for u in created] == ["Paula"]
    assert daemon_run(box.root, "wingtip") is RunResult.IN_SYNC  # nothing left to do but the conflict
    assert len(box.halo.users_of(box.halo_client)) == 4  # 3 seeded + 1 created, never twice


def test_snapshot_captures_halo_users_and_an_offline_plan_agrees(box: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    runner = CliRunner()
    done = runner.invoke(main, ["snapshot", "-c", str(box.root), "--customer", "wingtip", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "wingtip: wrote wingtip/halo.json (3 contacts)" in done.output
    data = json.loads((out / "wingtip" / "halo.json").read_text())
    assert {c["last_name"] for c in data["contacts"]} == {"North", "Olsen"}

    live = runner.invoke(main, ["plan", "-c", str(box.root), "--customer", "wingtip"])
    settings = box.root / "settings.yaml"
    settings.write_text(settings.read_text().replace("spec:\n", f"spec:\n  snapshot:\n    dir: {out}\n", 1))
    offline = runner.invoke(main, ["plan", "-c", str(box.root), "--customer", "wingtip"])
    halo_lines = [line for line in live.output.splitlines() if "halo" in line]
    assert halo_lines and halo_lines == [line for line in offline.output.splitlines() if "halo" in line]
