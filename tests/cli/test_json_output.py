"""`--format json` (#17): one document with format_version 2 and RFC 3339 times,
through the real entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from reconciler.cli.jsonout import FORMAT_VERSION, rfc3339, with_times
from tests.cli.entry import run

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def doc(args: list[str], code: int = 0) -> Any:
    result = run(args)
    assert result.code == code, result.stderr
    data = json.loads(result.stdout)
    assert data["format_version"] == FORMAT_VERSION == 2
    return data


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert with_times({"started_at": 1.5, "n": 3, "runs": [{"since": 60}], "heartbeat": None}) == {
        "started_at": "1970-01-01T00:00:01Z",
        "n": 3,
        "runs": [{"since": "1970-01-01T00:01:00Z"}],
        "heartbeat": None,
    }


def test_validate_json(quickstart: Path, tmp_path: Path) -> None:
    ok = doc(["validate", "-c", str(quickstart), "--format", "json"])
    assert ok["kind"] == "validation" and ok["valid"] is True and ok["counts"]["customers"] == 4
    root = tmp_path / "bad"
    root.mkdir()
    (root / "settings.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
    )
    (root / "bad.yaml").write_text("apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: Acme}\n")
    bad = doc(["validate", "-c", str(root), "--format", "json"], code=1)
    assert bad["valid"] is False
    (problem, *_) = bad["problems"]
    assert problem["file"].endswith("bad.yaml") and problem["line"] == 3 and problem["message"]


def test_apply_json_has_every_change_with_its_outcome(quickstart: Path) -> None:
    refused = run(["apply", "-c", str(quickstart), "--format", "json"])
    assert refused.code == 1 and "PLANFILE or --auto-approve" in refused.stderr
    data = doc(["apply", "-c", str(quickstart), "--auto-approve", "--format", "json"])
    assert data["kind"] == "apply" and data["applied"] == 28 and data["failed"] == 0
    contoso = next(c for c in data["customers"] if c["customer"] == "contoso")
    assert len(contoso["changes"]) == 16 and all(c["ok"] for c in contoso["changes"])
    assert {c["kind"] for c in contoso["changes"]} >= {"add", "link", "create-record", "send-welcome"}
    again = doc(["apply", "-c", str(quickstart), "--auto-approve", "--format", "json"])
    assert again["customers"] == [] and again["applied"] == 0


def test_state_and_status_json(quickstart: Path) -> None:
    assert run(["apply", "-c", str(quickstart), "--auto-approve"]).code == 0
    state = doc(["state", "list", "-c", str(quickstart), "--format", "json"])
    assert state["kind"] == "state" and {c["customer"] for c in state["customers"]} >= {"contoso"}
    status = doc(["status", "-c", str(quickstart), "--format", "json"])
    contoso = next(c for c in status["customers"] if c["customer"] == "contoso")
    assert RFC3339.match(contoso["last_run"]["started_at"]) and RFC3339.match(
        contoso["last_run"]["finished_at"]
    )
    unlock = doc(["state", "unlock", "-c", str(quickstart), "--customer", "contoso", "--format", "json"])
    assert unlock == {"format_version": 2, "kind": "unlock", "customer": "contoso", "broken": None}


def test_every_state_command_speaks_json(quickstart: Path, tmp_path: Path) -> None:
    """#17: `--format json` on every `state` command, backup/restore/backend/rebuild too."""
    assert run(["apply", "-c", str(quickstart), "--auto-approve"]).code == 0
    backup = tmp_path / "state.json"
    saved = doc(["state", "backup", "-c", str(quickstart), str(backup), "--format", "json"])
    assert (saved["kind"], saved["action"], saved["file"]) == ("state", "backup", str(backup))
    assert saved["rows"] == sum(saved["tables"].values()) > 0
    assert doc(["state", "backend", "-c", str(quickstart), "--format", "json"])["backend"] == "sqlite"
    (quickstart / ".reconciler" / "state.db").unlink()
    restored = doc(["state", "restore", "-c", str(quickstart), str(backup), "--format", "json"])
    assert (restored["action"], restored["rows"]) == ("restore", saved["rows"])
    rebuilt = doc(["state", "rebuild", "-c", str(quickstart), "--customer", "contoso", "--format", "json"])
    assert rebuilt["action"] == "rebuild" and rebuilt["failed"] == [] and rebuilt["lines"]
