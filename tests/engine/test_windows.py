"""Run windows (quiet hours, #16) through the engine and the CLI: a closed window for
an integration the plan writes to defers the customer's whole apply (nothing is
written anywhere, not even the state); plans and reads still run; the apply
goes through once the window is open. `reconciler apply` exits 4 when deferred."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from reconciler.apply.executor import ApplyOutcome
from reconciler.cli import main
from reconciler.core.plan import ChangeKind
from reconciler.errors import EXIT_DEFERRED
from reconciler.testing.httpsim import TestCA
from reconciler.testing.itglue import ItGlueSimulator
from tests.engine.test_link_guard_sims import Later, engine_for, ours
from tests.engine.test_vault_simulators import ca, itglue, write_config

__all__ = ["ca", "itglue"]  # fixtures used here

BUSINESS = "{name: business, days: [mon, tue, wed, thu, fri], start: '08:00', end: '18:00', timeZone: Europe/Berlin, integrations: [%s]}"


def at(text: str) -> Later:
    clock = Later()
    clock.offset = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() - clock()
    return clock  # within microseconds of `text`


def configured(tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator, closes: str) -> tuple[Path, int]:
    org = itglue.add_organization("Acme")
    root = tmp_path / "cfg"
    connection = f"    itglue: {{baseUrl: '{itglue.url}', apiKey: {{file: api.key}}, caFile: '{ca.ca_file}'}}"
    write_config(root, ca, connection, f"itglueOrganizationId: '{org}'")
    text = (root / "settings.yaml").read_text()
    quiet = f"  quietHours: [{BUSINESS % closes}]\n"
    (root / "settings.yaml").write_text(text.replace("  features:", quiet + "  features:", 1))
    return root, org


def test_a_closed_window_defers_the_whole_apply_until_it_opens(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, org = configured(tmp_path, ca, itglue, "itglue")
    clock = at("2026-12-01T10:00:00")  # a Tuesday, 11:00 in Berlin
    engine = engine_for(root, clock)
    plan = engine.plan()  # plans and reads still run
    cp = plan.customers[0]
    assert cp.count(ChangeKind.ADD) == 5 and cp.count(ChangeKind.CREATE_RECORD) == 5
    serial = engine.store.serial("acme")
    (result,) = engine.apply(plan)
    assert result.outcome is ApplyOutcome.DEFERRED and result.outcomes == []
    assert result.retry_at == datetime(2026, 12, 1, 17, 0, tzinfo=UTC).timestamp()  # 18:00 CET
    assert "quiet hours 'business' close writes to itglue" in result.error
    assert ours(itglue, org) == [] and engine.store.serial("acme") == serial  # not even the state
    clock.offset += 7 * 3600  # 17:00 UTC: the window is open
    (result,) = engine.apply(plan)
    assert result.outcome is ApplyOutcome.APPLIED and not result.failed
    assert len(ours(itglue, org)) == 5


def test_a_window_for_another_integration_does_not_defer(
    tmp_path: Path, ca: TestCA, itglue: ItGlueSimulator
) -> None:
    root, org = configured(tmp_path, ca, itglue, "hudu, email")
    engine = engine_for(root, at("2026-12-01T10:00:00"))
    (result,) = engine.apply(engine.plan())
    assert result.outcome is ApplyOutcome.APPLIED and len(ours(itglue, org)) == 5


def test_cli_apply_in_quiet_hours_exits_4_with_one_clear_line(quickstart: Path) -> None:
    settings = quickstart / "settings.yaml"
    text = settings.read_text()
    always = "  quietHours: [{name: freeze, start: '00:00', end: '24:00', timeZone: UTC}]\n"
    settings.write_text(text.replace("spec:\n", "spec:\n" + always, 1))
    result = CliRunner().invoke(main, ["apply", "-c", str(quickstart), "--auto-approve"])
    assert result.exit_code == EXIT_DEFERRED == 4, result.output
    assert "not applied: deferred: quiet hours 'freeze' close writes to" in result.output
    assert "Traceback" not in result.output
    plan = CliRunner().invoke(main, ["plan", "-c", str(quickstart), "--detailed-exitcode"])
    assert plan.exit_code == 2  # nothing was applied; the plan still shows every change
