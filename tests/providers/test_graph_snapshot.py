"""`reconciler snapshot` against the Graph simulator, then `plan` offline on the capture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.core.model import DirSource
from reconciler.providers.files import load_directory
from reconciler.testing.httpsim import TestCA
from tests.providers.graphkit import GraphWorld, make_world, test_ca  # noqa: F401

TENANT = "00000000-0000-4000-8000-00000000a5a9"


@pytest.fixture
def world(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphWorld]:  # noqa: F811
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(TENANT,))
    w.sim.seed(TENANT, 40)  # every 10th unlicensed, every 20th disabled
    w.write_config({"contoso": TENANT, "broken": "00000000-0000-4000-8000-0000000000ff"})
    yield w
    w.sim.stop()


def test_snapshot_writes_the_file_providers_format_and_plans_offline(
    world: GraphWorld, tmp_path: Path
) -> None:
    out = tmp_path / "capture"
    runner = CliRunner()
    result = runner.invoke(main, ["snapshot", "-c", str(world.root), "-o", str(out)])

    assert result.exit_code == 1  # "broken" could not be captured...
    assert (
        "broken: entra: OIDC discovery failed for tenant 00000000-0000-4000-8000-0000000000ff"
        in result.output
    )
    assert "contoso: wrote contoso/entra.json (40 users)" in result.output  # ...contoso still was
    assert world.sim.identity.client_secret not in result.output
    snap = load_directory(out / "contoso" / "entra.json", DirSource.ENTRA, "test")
    truth = world.sim.directory.tenant(TENANT).users
    assert {u.id for u in snap.users} == set(truth)
    assert {u.id for u in snap.users if u.licensed and u.enabled} == {
        i for i, u in truth.items() if u["assignedLicenses"] and u["accountEnabled"]
    }
    assert json.loads((out / "contoso" / "entra.json").read_text())["format"] == 1

    # the same customer, planned offline against the capture
    offline = tmp_path / "offline"
    offline.mkdir()
    docs = list(yaml.safe_load_all((world.root / "config.yaml").read_text()))
    docs[0]["spec"] = {"snapshot": {"dir": str(out)}}
    docs = [d for d in docs if d["metadata"]["name"] != "broken"]
    (offline / "config.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    plan = runner.invoke(main, ["plan", "-c", str(offline), "--format", "json"])
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.output)
    (customer,) = planned["customers"]
    upns = {c["account"]["upn"] for c in customer["changes"] if c["kind"] == "add"}
    assert upns == {
        u["userPrincipalName"] for u in truth.values() if u["assignedLicenses"] and u["accountEnabled"]
    }


def test_snapshot_of_one_customer(world: GraphWorld, tmp_path: Path) -> None:
    out = tmp_path / "one"
    result = CliRunner().invoke(
        main, ["snapshot", "-c", str(world.root), "--customer", "contoso", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["contoso"]
