"""`plan --refresh-only` (#17): what changed outside since the last apply, through the
real entry point on the quickstart; nothing proposed, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.entry import run


@pytest.fixture
def applied(quickstart: Path) -> Path:
    assert run(["apply", "-c", str(quickstart), "--auto-approve"]).code == 0
    return quickstart


def edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def drift(root: Path, *extra: str) -> tuple[int, str]:
    result = run(
        ["plan", "-c", str(root), "--refresh-only", "--detailed-exitcode", "--customer", "contoso", *extra]
    )
    return result.code, result.stdout + result.stderr


def test_no_drift_right_after_apply(applied: Path) -> None:
    assert drift(applied) == (0, "No drift: everything matches the last apply.\n")


def test_outside_changes_are_shown_and_nothing_proposed(applied: Path) -> None:
    itglue = applied / "live" / "contoso" / "itglue.json"

    def outside(data: dict[str, Any]) -> None:
        entries = data["entries"]
        next(e for e in entries if e["id"] == "501")["name"] = (
            "Alice (renamed by a technician)"  # linked by match
        )
        next(e for e in entries if e["id"] == "509")["category"] = "Azure AD"  # created by reconciler
        data["entries"] = [e for e in entries if e["id"] != "508"]  # carol's, deleted

    edit(itglue, outside)
    entra = applied / "live" / "contoso" / "entra.json"
    edit(entra, lambda d: d["users"].__setitem__(0, {**d["users"][0], "surname": "Changed"}))
    state_before = (applied / ".reconciler" / "state.db").read_bytes()
    code, out = drift(applied)
    assert code == 2, out
    assert "~ alice@contoso.com: update not applied yet" in out
    assert "- carol@contoso.com: itglue record 508 no longer exists" in out
    assert "! alice@contoso.com: itglue record 501: fields this tool owns were edited outside" in out
    assert "name 'Alice (renamed by a technician)'" in out
    assert "itglue record 509: fields this tool owns were edited outside" in out
    assert "nothing is proposed" in out and "+ create" not in out and "= link" not in out
    assert (applied / ".reconciler" / "state.db").read_bytes() == state_before  # changes nothing
    code, text = drift(applied, "--format", "json")
    data = json.loads(text)
    assert data["kind"] == "drift" and data["format_version"] == 2
    kinds = sorted(d["kind"] for d in data["customers"][0]["drift"])
    assert kinds == ["deleted", "directory", "edited", "edited"]


def test_refresh_only_saves_no_plan(applied: Path, tmp_path: Path) -> None:
    result = run(["plan", "-c", str(applied), "--refresh-only", "-o", str(tmp_path / "p.json")])
    assert result.code == 1 and "no plan to save" in result.stderr
