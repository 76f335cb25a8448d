"""The daemon spends the MSP-wide request budgets (#16): every simulator of the sandbox
on loopback, a real scheduler on a fake clock, the ledger in the real SQLite state.
A customer the IT Glue budget cannot cover is deferred (never failed, never backed
off) to when it can; the budget is never exceeded; `budget.exhausted` reaches a
webhook once and resolves when the budget is back; status and metrics show used
and left per integration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.daemon.notify import outbox
from reconciler.daemon.notify.outbox import Notifier
from reconciler.testing.sandbox import Sandbox
from tests.daemon.conftest import Rig, edit_yaml, make_rig
from tests.daemon.test_notify import Receiver

BUDGET = 5


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Rig, Receiver]]:
    monkeypatch.setattr(outbox, "RETRY_BASE_SECONDS", 0.05)
    box = Sandbox.start(tmp_path / "sandbox")
    receiver = Receiver()
    monkeypatch.setenv("NOTIFY_SLACK_URL", f"{receiver.start()}/slack")

    def change(d: dict[str, Any]) -> None:
        d["spec"]["budgets"] = {"itglue": {"requests": BUDGET, "windowSeconds": 3600}}
        d["spec"].setdefault("daemon", {})["jitterPercent"] = 0
        d["spec"]["notifications"] = [{"name": "ops", "type": "slack", "url": {"env": "NOTIFY_SLACK_URL"}}]

    edit_yaml(box.root / "settings.yaml", change)
    rig = make_rig(box.root)
    notifier = Notifier(lambda: rig.scheduler.source.config.settings_doc.spec, rig.root, rig.state, rig.clock)
    notifier.start()
    rig.scheduler.notifier = notifier
    try:
        yield box, rig, receiver
    finally:
        notifier.stop(2)
        rig.close()
        box.stop()
        receiver.server.shutdown()


def budget_events(receiver: Receiver) -> list[dict[str, Any]]:
    out = []
    for _, body in receiver.got.get("/slack", []):
        text = json.dumps(json.loads(body))
        if "request budget exhausted" in text:
            out.append(json.loads(body))
    return out


def test_a_customer_the_budget_cannot_cover_is_deferred_and_the_budget_holds(
    world: tuple[Sandbox, Rig, Receiver],
) -> None:
    box, rig, receiver = world
    rig.cycle()
    contoso = rig.record("contoso")  # IT Glue: its plan fits, its creates do not all
    assert contoso.last_result == "deferred", contoso.last_message
    assert "budget exhausted until" in contoso.last_message
    assert contoso.failures == 0 and not contoso.quarantined
    assert contoso.next_run_at is not None and contoso.next_run_at > rig.clock.now() + 60
    assert rig.record("fabrikam").last_result == "applied"  # Hudu and Autotask kept their turn
    assert len(box.itglue.requests) <= BUDGET

    # metrics and status: used and left, from the shared ledger
    assert rig.metric("reconciler_budget_limit", integration="itglue") == BUDGET
    assert rig.metric("reconciler_budget_used", integration="itglue") == len(box.itglue.requests)
    assert rig.metric("reconciler_budget_left", integration="itglue") == BUDGET - len(box.itglue.requests)
    assert rig.metric("reconciler_budget_limit", integration="hudu") == 150
    out = CliRunner().invoke(main, ["status", "-c", str(box.root), "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = {r["integration"]: r for r in json.loads(out.output)["budgets"]}
    assert rows["itglue"]["limit"] == BUDGET and rows["itglue"]["used"] == len(box.itglue.requests)
    text = CliRunner().invoke(main, ["status", "-c", str(box.root)]).output
    assert f"itglue: {len(box.itglue.requests)} used, " in text and f"of {BUDGET} per hour" in text

    # the next cycles: contoso stays deferred (not due), budget.exhausted is told once
    for _ in range(3):
        rig.clock.advance(11)
        rig.cycle()
    assert rig.scheduler.notifier is not None and rig.scheduler.notifier.flush() is None
    events = budget_events(receiver)
    assert len(events) == 1, events
    assert rig.record("contoso").last_result == "deferred"
    assert len(box.itglue.requests) <= BUDGET

    # an hour and a slot later the budget is back: contoso runs again, the alert resolves
    rig.clock.advance(3600 + 300)
    rig.cycle()
    rig.clock.advance(11)
    rig.cycle()
    rig.scheduler.notifier.flush()
    assert rig.record("contoso").last_started_at is not None
    assert rig.record("contoso").last_started_at > contoso.last_started_at  # type: ignore[operator]
    times = sorted(r.at for r in box.itglue.requests)
    assert len(times) > BUDGET  # it did spend the new window
    every = budget_events(receiver)
    assert any("resolved" in json.dumps(e) for e in every), every


def test_due_customers_are_deferred_before_they_are_claimed(world: tuple[Sandbox, Rig, Receiver]) -> None:
    box, rig, _ = world
    budgets = rig.scheduler.budgets
    budgets.refresh(rig.scheduler.source.config)
    assert budgets.budgets is not None and budgets.budgets.ledger is not None
    from reconciler.core.model import IntegrationKind

    limit = budgets.budgets.limits[IntegrationKind.ITGLUE]
    # another process of the MSP spent it all
    assert budgets.budgets.ledger.spend("itglue", BUDGET, limit, rig.clock.now()).granted == BUDGET
    rig.cycle()
    assert box.itglue.requests == []  # contoso was not started at all
    assert rig.state.get("contoso") is None or rig.record("contoso").last_result == ""
    slots = rig.state.schedule()
    assert slots["contoso"].next_run_at is not None and slots["contoso"].next_run_at > rig.clock.now()
    assert rig.metric("reconciler_budget_deferred_total", integration="itglue") == 1
    assert rig.record("fabrikam").last_result == "applied"
