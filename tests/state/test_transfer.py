"""`state migrate`, `state backup` and `state restore` on real backends: every row
copied (counts checked), a non-empty target refused, a backup round trip, and
the next plan after a move to PostgreSQL is exactly as before (nothing looks new,
so no welcome email goes out again)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import main
from tests.pgstate import DSN_ENV, fresh_schema, use_postgres


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_migrate_sqlite_to_postgres_and_back(quickstart: Path, pg_dsn: str) -> None:
    qs = str(quickstart)
    assert run("apply", "-c", qs, "--auto-approve")[0] == 0
    before = run("state", "list", "-c", qs, "--format", "json")[1]
    schema = fresh_schema()
    code, out = run("state", "migrate", "-c", qs, "--to", "postgres", "--schema", schema)
    assert code == 0, out
    assert "copied" in out and "accounts 11" in out and f"schema: {schema}" in out and pg_dsn not in out
    # a second copy into the same place is refused: the target holds state now
    code, out = run("state", "migrate", "-c", qs, "--to", "postgres", "--schema", schema)
    assert code == 1 and "already holds state" in out

    use_postgres(quickstart, schema)
    assert run("state", "list", "-c", qs, "--format", "json")[1] == before
    code, out = run("plan", "-c", qs, "--detailed-exitcode")
    assert code == 0 and "Plan: 0 to add, 0 to change, 0 to remove" in out, out

    code, out = run("state", "migrate", "-c", qs, "--to", "sqlite", "--path", "moved/state.db")
    assert code == 0 and "accounts 11" in out, out
    doc = yaml.safe_load((quickstart / "settings.yaml").read_text())
    doc["spec"]["state"] = {"backend": "sqlite", "path": "moved/state.db"}
    (quickstart / "settings.yaml").write_text(yaml.safe_dump(doc))
    assert run("state", "list", "-c", qs, "--format", "json")[1] == before


def test_backup_and_restore_round_trip(quickstart: Path, backend: str, tmp_path: Path) -> None:
    qs = str(quickstart)
    if backend == "postgres":
        use_postgres(quickstart)
    assert run("apply", "-c", qs, "--auto-approve")[0] == 0
    before = run("state", "list", "-c", qs, "--format", "json")[1]
    status_before = json.loads(run("status", "-c", qs, "--format", "json")[1])
    file = tmp_path / "state-backup.json"
    code, out = run("state", "backup", "-c", qs, str(file))
    assert code == 0 and "accounts 11" in out, out
    doc = json.loads(file.read_text())
    assert doc["format"] == "reconciler-state" and doc["version"] == 1

    code, out = run("state", "restore", "-c", qs, str(file))
    assert code == 1 and "already holds state" in out  # never over existing state

    # an empty target: a fresh schema, or a fresh file
    if backend == "postgres":
        use_postgres(quickstart)
    else:
        doc_settings = yaml.safe_load((quickstart / "settings.yaml").read_text())
        doc_settings["spec"]["state"]["path"] = "restored.db"
        (quickstart / "settings.yaml").write_text(yaml.safe_dump(doc_settings))
    code, out = run("state", "restore", "-c", qs, str(file))
    assert code == 0 and "restored" in out, out
    assert run("state", "list", "-c", qs, "--format", "json")[1] == before
    status_after = json.loads(run("status", "-c", qs, "--format", "json")[1])
    assert [c["last_run"] for c in status_after["customers"]] == [
        c["last_run"] for c in status_before["customers"]
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a readable reconciler state backup"),
        ('{"format": "other"}', "not a reconciler state backup"),
        ('{"format": "reconciler-state", "version": 9, "tables": {}}', "backup version 9"),
    ],
)
def test_a_bad_backup_is_one_line(quickstart: Path, tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "b.json"
    file.write_text(content)
    code, out = run("state", "restore", "-c", str(quickstart), str(file))
    assert code == 1 and message in out and len(out.strip().splitlines()) == 1


def test_migrate_names_the_dsn_variable_it_needs(quickstart: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DSN_ENV, raising=False)
    code, out = run("state", "migrate", "-c", str(quickstart), "--to", "postgres")
    assert code == 1 and f"environment variable {DSN_ENV} is not set" in out
