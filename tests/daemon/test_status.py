"""`reconciler status` (R19) and `reconciler override`, read from the state the daemon wrote."""

from __future__ import annotations

import json
import re
from typing import Any

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.cli.jsonout import rfc3339

from .conftest import Rig, edit_yaml, write


def _status(rig: Rig, fmt: str = "json") -> Any:
    result = CliRunner().invoke(main, ["status", "-c", str(rig.root), "--format", fmt])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if fmt == "json" else result.output


def _fleet_in_trouble(rig: Rig) -> None:
    """contoso blocked by the removal guard, northwind quarantined, tailspin paused."""
    edit_yaml(rig.root / "settings.yaml", lambda d: d["spec"]["safety"].update(minExistingAccounts=0))
    edit_yaml(rig.root / "settings.yaml", lambda d: d["spec"]["daemon"].update(quarantineAfterFailures=2))
    rig.cycle()
    entra = rig.root / "live" / "contoso" / "entra.json"
    data = json.loads(entra.read_text())
    data["users"] = data["users"][:3]
    write(entra, json.dumps(data))
    write(rig.root / "live" / "northwind" / "ad.json", "[]")
    for _ in range(2):
        rig.scheduler.request("contoso", "test")
        rig.scheduler.request("northwind", "test")
        rig.cycle()


def test_status_json_per_customer(rig: Rig) -> None:
    _fleet_in_trouble(rig)
    data = _status(rig)
    by = {c["customer"]: c for c in data["customers"]}
    assert set(by) == {"contoso", "fabrikam", "northwind", "tailspin"}

    contoso = by["contoso"]
    assert contoso["last_run"]["result"] == "blocked" and contoso["last_run"]["by"] == "daemon"
    assert "would remove 3 of 6 accounts" in contoso["blocked"]["reason"]
    assert len(contoso["blocked"]["removals"]) == 3
    # format 2: RFC 3339 times in UTC, not epoch floats (CHANGELOG.md)
    assert data["format_version"] == 2 and data["kind"] == "status"
    assert contoso["next_run_at"] == rfc3339(rig.record("contoso").next_run_at or 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", contoso["last_run"]["finished_at"])
    assert isinstance(data["daemon"]["heartbeat"], str)
    [conflict] = contoso["conflicts"]  # R18/R19: the cause, per account
    assert conflict["label"] == "bob@contoso.com" and conflict["cause"] == "2 records match"
    assert {c["id"] for c in conflict["candidates"]} == {"504", "505"}

    northwind = by["northwind"]
    assert northwind["quarantined"] and northwind["failures"] == 2
    assert "expected a JSON object" in northwind["last_run"]["message"]

    assert by["tailspin"]["paused"] and by["tailspin"]["changes_pending"] == 3
    assert by["fabrikam"]["last_run"]["result"] == "applied" and by["fabrikam"]["interval_minutes"] == 180
    assert data["daemon"]["pid"] > 0


def test_status_text(rig: Rig) -> None:
    _fleet_in_trouble(rig)
    text = _status(rig, "text")
    assert "customer contoso: blocked" in text
    assert "BLOCKED since" in text and f"reconciler override -c {rig.root} contoso" in text
    assert "conflict: bob@contoso.com in itglue: 2 records match (candidates: 504 'Bob Baker'" in text
    assert "QUARANTINED after 2 consecutive failures" in text
    assert "customer tailspin: PAUSED (R10)" in text
    assert "next run in 59m" in text


def test_override_cli_then_daemon_applies_once(rig: Rig) -> None:
    _fleet_in_trouble(rig)
    runner = CliRunner()
    refused = runner.invoke(main, ["override", "-c", str(rig.root), "fabrikam"])
    assert refused.exit_code == 1 and "not blocked" in refused.output
    done = runner.invoke(main, ["override", "-c", str(rig.root), "contoso"])
    assert done.exit_code == 0, done.output
    assert "3 removals approved" in done.output
    assert "override given" in _status(rig, "text")

    due = rig.record("contoso").next_run_at  # the CLI made it due now (real clock)
    assert due is not None
    # the daemon re-reads every schedule row (what other processes wrote) every 10 s
    rig.clock.advance(max(10.0, due - rig.clock.now()))
    rig.cycle()
    rec = rig.record("contoso")
    assert rec.last_result == "applied" and not rec.blocked and not rec.override_pending


def test_status_works_while_the_config_is_invalid(rig: Rig) -> None:
    rig.cycle()
    contoso = rig.root / "customers" / "contoso.yaml"
    write(contoso, contoso.read_text().replace("labels:", "lables:"))
    rig.cycle()
    data = _status(rig)
    assert "lables" in data["config_error"]
    assert {c["customer"] for c in data["customers"]} >= {"contoso", "fabrikam"}
    assert "config: INVALID on disk" in _status(rig, "text")


def test_status_prefers_a_newer_cli_apply(rig: Rig) -> None:
    rig.cycle()
    rig.store.record_run(
        "fabrikam", rig.clock.now() + 10**9, "applied", {"applied": 2, "failed": 0, "error": ""}
    )
    by = {c["customer"]: c for c in _status(rig)["customers"]}
    assert by["fabrikam"]["last_run"]["by"] == "apply"
    assert by["contoso"]["last_run"]["by"] == "daemon"


def test_status_shows_the_warnings_of_the_daemons_last_plan(rig: Rig) -> None:
    """#15: the plan and the status page warned about a selection that changed under
    the policy (a renamed/moved OU or group kept in force, a group no longer found);
    `reconciler status` now says it too, in text and JSON."""
    entra = rig.root / "live" / "tailspin" / "entra.json"
    data = json.loads(entra.read_text())
    for group in data["groups"]:
        if group["name"] == "All Staff":
            group["name"] = "Employees"  # renamed in the tenant; the policy still says All Staff
    write(entra, json.dumps(data))
    rig.cycle()
    warning = "Entra group 'All Staff' was not found in the tenant; it selects nobody (R22)"
    by = {c["customer"]: c for c in _status(rig)["customers"]}
    assert by["tailspin"]["warnings"] == [warning]
    assert by["contoso"]["warnings"] == ["heidi@contoso.com: no email address; no welcome email (R16)"]
    text = _status(rig, "text")
    tailspin = text[text.index("customer tailspin:") :]
    assert f"\n  warning: {warning}\n" in tailspin + "\n"
