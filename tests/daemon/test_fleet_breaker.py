"""The fleet breaker in the daemon (#12): one policy edit that makes many customers remove
accounts is held fleet-wide until `reconciler override --fleet <digest>`. A real
scheduler (fake clock) on a real SQLite file and on the PostgreSQL fixture, six offline
Entra customers (file twins), the real CLI for status and override."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.core.fleet import FleetHold
from reconciler.daemon.fleet import KIND, gate, read_view, release
from reconciler.errors import StateError
from tests.engine.test_fleet_breaker import NAMES, write_users
from tests.pgstate import use_postgres

from .conftest import Rig, edit_yaml, make_rig, serve, write
from .test_notify import SCHEMA, SECRET, Receiver, attach, verify_standard_webhook

HOUR = 3600.0


def write_fleet(root: Path, self_serve: bool, backend: str = "") -> None:
    """Six customers of one policy (test_fleet_breaker's), Settings apart so use_postgres
    can point the state elsewhere."""
    (root / "live").mkdir(parents=True, exist_ok=True)
    if backend:
        write(
            root / "settings.yaml",
            "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
            "spec:\n  snapshot: {dir: live}\n  daemon: {jitterPercent: 0}\n",
        )
        if backend == "postgres":
            use_postgres(root)
    docs = [
        "apiVersion: reconciler.dev/v1\nkind: ImportPolicy\nmetadata: {name: std}\nspec:\n"
        "  appliesTo: {labelSelector: {matchLabels: {plan: std}}}\n  source: entra\n"
        f"  options: {{selfServe: {str(self_serve).lower()}}}\n",
    ]
    for i, name in enumerate(NAMES):
        docs.append(
            f"apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {{name: {name}, labels: {{plan: std}}}}\n"
            f"spec:\n  directories: {{entra: {{tenantId: 00000000-0000-4000-8000-{i:012d}}}}}\n"
        )
    write(root / "fleet.yaml", "---\n".join(docs))


@pytest.fixture
def fleet(tmp_path: Path, backend: str) -> Any:
    root = tmp_path / "fleet"
    write_fleet(root, self_serve=False, backend=backend)
    write_users(root, 4)
    rig = make_rig(root)
    yield rig
    if not rig.scheduler.stopping.is_set():
        rig.close()


def _next_hour(rig: Rig) -> None:
    rig.clock.advance(HOUR + 60)
    rig.cycle()
    rig.scheduler.fleet.join(60)


def _accounts(rig: Rig) -> list[int]:
    return [len(rig.store.load(n).accounts) for n in NAMES]


def _status(rig: Rig) -> dict[str, Any]:
    out = CliRunner().invoke(main, ["status", "-c", str(rig.root), "--format", "json"])
    assert out.exit_code == 0, out.output
    data: dict[str, Any] = json.loads(out.output)
    return data


def test_a_policy_edit_that_removes_everywhere_is_held_until_its_digest_is_released(fleet: Rig) -> None:
    rig = fleet
    rig.cycle()  # first import: 4 accounts each, the settings baseline recorded
    assert _accounts(rig) == [4] * 6

    write_users(rig.root, 3)  # directory churn alone: applied, never held
    _next_hour(rig)
    assert _accounts(rig) == [3] * 6
    assert _status(rig)["fleet"]["state"] == "clear"

    # one policy edit (every customer's settings change) while each also loses a user
    write_fleet(rig.root, self_serve=True)
    write_users(rig.root, 2)
    _next_hour(rig)  # the check plans all six before any applies, and holds them
    view = read_view(rig.state)
    assert view.in_force and view.hold is not None and sorted(view.hold.customers) == NAMES
    digest = view.hold.short
    _next_hour(rig)  # their runs: blocked by the hold, nothing removed
    assert _accounts(rig) == [3] * 6
    for name in NAMES:
        rec = rig.record(name)
        assert rec.last_result == "blocked" and f"held by fleet breaker {digest}" in rec.blocked_reason
        assert len(rec.blocked_removals) == 1
    assert rig.metric("reconciler_fleet_held") == 1 and rig.metric("reconciler_fleet_held_customers") == 6

    data = _status(rig)
    assert data["fleet"]["state"] == "held" and data["fleet"]["digest"] == digest
    assert data["fleet"]["customers"] == NAMES and data["fleet"]["removals"] == 6
    assert all(c["fleet_held"] == digest for c in data["customers"])
    text = CliRunner().invoke(main, ["status", "-c", str(rig.root)]).output
    assert "fleet: HELD since" in text and "6 customers whose settings changed would remove accounts" in text
    assert f"reconciler override -c {rig.root} --fleet {digest}" in text

    stale = CliRunner().invoke(main, ["override", "-c", str(rig.root), "--fleet", "0123456789ab"])
    assert stale.exit_code == 1 and stale.output.count("\n") == 1 and "Traceback" not in stale.output
    assert f"is stale: the fleet breaker now holds {digest}" in stale.output

    ok = CliRunner().invoke(main, ["override", "-c", str(rig.root), "--fleet", digest])
    assert ok.exit_code == 0, ok.output
    assert f"fleet breaker {digest} released (6 removals of 6 customers approved" in ok.output
    again = CliRunner().invoke(main, ["override", "-c", str(rig.root), "--fleet", digest])
    assert again.exit_code == 0 and "released already" in again.output

    rig.clock.advance(11)  # the override made them due now; the next poll sees it
    rig.cycle()
    assert _accounts(rig) == [2] * 6  # exactly the removals the hold showed
    assert _status(rig)["fleet"]["state"] == "released"
    assert rig.metric("reconciler_fleet_held") == 0

    # a new config that changes everyone again but removes nobody: checked, lifted, clear
    write_fleet(rig.root, self_serve=False)
    _next_hour(rig)
    assert read_view(rig.state).hold is None and rig.state.records(KIND) == {}
    assert _status(rig)["fleet"]["state"] == "clear"


def test_a_released_hold_approves_only_the_removals_it_showed(fleet: Rig) -> None:
    rig = fleet
    rig.cycle()
    write_fleet(rig.root, self_serve=True)
    write_users(rig.root, 3)
    _next_hour(rig)
    hold = read_view(rig.state).hold
    assert hold is not None
    release(rig.state, hold.short, "test", rig.clock.now())
    write_users(rig.root, 2)  # after the release, each customer loses one more user
    rig.clock.advance(11)
    rig.cycle()
    assert _accounts(rig) == [4] * 6  # held still: two removals each, the hold saw one
    rec = rig.record("c0")
    assert "released for the removals it showed; this plan removes 1 more" in rec.blocked_reason
    # a person approves that customer's plan by itself: it goes, the others stay held
    out = CliRunner().invoke(main, ["override", "-c", str(rig.root), "c0"])
    assert out.exit_code == 0, out.output
    rig.clock.advance(11)
    rig.cycle()
    assert _accounts(rig) == [2, 4, 4, 4, 4, 4]


def test_the_hold_is_shared_state_and_a_stale_digest_is_refused(fleet: Rig) -> None:
    rig = fleet
    held = FleetHold("c" * 64, {"c0": ("k1",), "c1": ("k2",), "c2": ("k3",)}, 2, 6)
    with pytest.raises(StateError, match="has never held this fleet"):
        release(rig.state, held.short, "test", 0)
    rig.state.add_record(KIND, held.digest, {**held.to_dict(), "at": 1.0})
    rig.state.put_meta(
        "fleet",
        {"config_digest": "c" * 64, "state": "done", "changed": NAMES, "hold": held.digest, "at": 1.0},
    )
    view = read_view(rig.state)
    assert view.in_force and view.hold == held
    assert gate(view, "c" * 64, "c0", True, ("k1",)) == (
        "held",
        f"{held.reason}; to release it: reconciler override --fleet {held.short}",
    )
    assert gate(view, "c" * 64, "c5", False, ("k9",)) is None  # unchanged settings: churn
    assert gate(view, "d" * 64, "c0", True, ("k1",))[0] == "wait"  # type: ignore[index]
    with pytest.raises(StateError, match="is stale"):
        release(rig.state, "deadbeefdead", "test", 0)
    _, first = release(rig.state, held.digest[:8], "a", 5.0)
    _, second = release(rig.state, held.short, "b", 6.0)
    assert (first, second) == (True, False)
    view = read_view(rig.state)
    assert view.released_by == "a" and gate(view, "c" * 64, "c0", True, ("k1",)) is None
    assert gate(view, "c" * 64, "c0", True, ("k1", "k7"))[0] == "held"  # type: ignore[index]


def test_a_hold_is_one_fleet_held_event_resolved_when_released(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver()
    base = receiver.start()
    monkeypatch.setenv("NOTIFY_HOOK_URL", f"{base}/hook")
    monkeypatch.setenv("NOTIFY_HOOK_SECRET", SECRET)
    root = tmp_path / "fleet"
    write_fleet(root, self_serve=False, backend=backend)
    edit_yaml(
        root / "settings.yaml",
        lambda d: d["spec"].update(
            notifications=[
                {"name": "hook", "type": "webhook", "url": {"env": "NOTIFY_HOOK_URL"},
                 "secret": {"env": "NOTIFY_HOOK_SECRET"}, "events": ["fleet.held"]},
            ]
        ),
    )  # fmt: skip
    write_users(root, 3)
    rig = make_rig(root)
    notifier = attach(rig)
    try:
        rig.cycle()
        write_fleet(root, self_serve=True)
        write_users(root, 2)
        for _ in range(3):  # the check, then the runs: told once
            _next_hour(rig)
        hold = read_view(rig.state).hold
        assert hold is not None
        deadline = time.monotonic() + 20
        while not receiver.got.get("/hook") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        [(headers, body)] = receiver.got["/hook"]
        ev = verify_standard_webhook(headers, body, SECRET)
        jsonschema.validate(ev, SCHEMA)
        assert ev["type"] == "fleet.held" and ev["status"] == "firing" and ev["customer"] is None
        assert ev["cause"] == "fleet" and ev["data"]["digest"] == hold.short
        assert sorted(ev["data"]["customers"]) == NAMES and len(ev["data"]["removals"]) == 6
        assert f"reconciler override --fleet {hold.short}" in ev["summary"]

        release(rig.state, hold.short, "test", rig.clock.now())
        rig.clock.advance(11)
        rig.cycle()
        deadline = time.monotonic() + 20
        while len(receiver.got["/hook"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        events = receiver.events("/hook")
        assert [(e["type"], e["status"]) for e in events] == [
            ("fleet.held", "firing"),
            ("fleet.held", "resolved"),
        ]
    finally:
        notifier.stop(2)
        rig.close()
        receiver.server.shutdown()


def test_the_status_api_and_page_show_the_hold(fleet: Rig) -> None:
    rig = fleet
    rig.cycle()
    write_fleet(rig.root, self_serve=True)
    write_users(rig.root, 3)
    _next_hour(rig)
    hold = read_view(rig.state).hold
    assert hold is not None
    rig.close()
    for live in serve(rig.root):  # the daemon for real on the same state: it sees the hold
        answer = live.client.get("/api/v1/fleet")
        assert answer.status_code == 200, answer.text
        breaker = answer.json()["fleet_breaker"]
        assert (
            breaker["state"] == "held" and breaker["digest"] == hold.short and breaker["customers"] == NAMES
        )
        page = live.client.get("/").text
        assert f"Held by fleet breaker <code>{hold.short}</code>" in page
        assert f"reconciler override --fleet {hold.short}" in page
