"""examples/entra-simulator: valid as shipped, and plans against a running simulator."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.providers.graph import forget_apps
from reconciler.testing.graph_serve import serve

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "entra-simulator"
TENANTS = ["22222222-2222-2222-2222-222222222222", "33333333-3333-3333-3333-333333333333"]


def test_example_is_valid() -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "valid (2 customers" in result.output


def test_example_plans_against_the_simulator(tmp_path: Path) -> None:
    forget_apps()
    config = tmp_path / "entra-simulator"
    shutil.copytree(EXAMPLE, config, ignore=shutil.ignore_patterns(".sim", ".reconciler"))
    sim = serve(config / ".sim", 0, TENANTS, users=30)
    try:
        settings = config / "settings.yaml"
        settings.write_text(settings.read_text().replace("https://127.0.0.1:8443", sim.url), encoding="utf-8")
        runner = CliRunner()
        first = runner.invoke(main, ["plan", "-c", str(config)])
        assert first.exit_code == 0, first.output
        # seed(): users 9, 19, 29 unlicensed (19 also disabled) -> 27 of 30 per tenant (R1)
        assert re.search(r"Plan: 54 to add, 0 to change, 0 to remove", first.output), first.output
        before = sim.count("GET", "/v1.0/users")
        again = runner.invoke(main, ["plan", "-c", str(config)])
        assert again.exit_code == 0 and "Plan: 54 to add" in again.output
        assert sim.count("GET", "/v1.0/users") - before == 2  # one delta call per tenant, no full read
        assert sim.identity.client_secret not in first.output + again.output
    finally:
        sim.stop()
