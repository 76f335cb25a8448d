"""PostgreSQL state from the CLI: the DSN is a secret (never in output or errors),
validate warns about unverified TLS off this machine, a database that cannot be
reached is one clear line, and status reads the shared state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.testing import pgcluster
from tests.pgstate import DSN_ENV, use_postgres

SECRET = "s3cret-Passw0rd-for-tests"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("dsn", "warned"),
    [
        (f"postgresql://msp:{SECRET}@db.example.net:5432/reconciler", True),
        (f"host=db.example.net user=msp password={SECRET} sslmode=require", True),
        (f"postgresql://msp:{SECRET}@db.example.net/reconciler?sslmode=verify-full", False),
        (f"postgresql://msp:{SECRET}@127.0.0.1:5432/reconciler", False),
        (f"host=/var/run/postgresql user=msp password={SECRET}", False),
    ],
)
def test_validate_warns_when_a_remote_state_database_is_not_verified(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch, dsn: str, warned: bool
) -> None:
    monkeypatch.setenv(DSN_ENV, dsn)
    use_postgres(quickstart)
    code, out = run("validate", "-c", str(quickstart))
    assert code == 0, out
    assert ("sslmode=verify-full" in out) == warned, out
    if warned:
        assert "db.example.net" in out
    assert SECRET not in out and dsn not in out


def test_an_unreachable_database_is_one_line_without_the_dsn(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"postgresql://msp:{SECRET}@127.0.0.1:{pgcluster.free_port()}/reconciler?connect_timeout=2"
    monkeypatch.setenv(DSN_ENV, dsn)
    use_postgres(quickstart)
    code, out = run("plan", "-c", str(quickstart))
    assert code == 1
    (line,) = out.strip().splitlines()
    assert "state database (postgres" in line and "cannot connect" in line
    assert SECRET not in out and "Traceback" not in out


def test_a_wrong_password_is_one_line_without_the_password(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch, pg_server: pgcluster.Cluster | None
) -> None:
    if pg_server is None:
        pytest.skip("needs the fixture's own cluster (RECONCILER_TEST_PG_DSN is set)")
    pg_server.psql(f"DO $$ BEGIN CREATE ROLE pwuser LOGIN PASSWORD 'right-{SECRET}'; "
                   "EXCEPTION WHEN duplicate_object THEN NULL; END $$")  # fmt: skip
    hba = pg_server.data / "pg_hba.conf"
    if "pwuser" not in hba.read_text():
        hba.write_text("host all pwuser 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        pg_server.psql("SELECT pg_reload_conf()")
    monkeypatch.setenv(DSN_ENV, f"postgresql://pwuser:{SECRET}@127.0.0.1:{pg_server.port}/reconciler")
    use_postgres(quickstart)
    code, out = run("plan", "-c", str(quickstart))
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    assert "password authentication failed" in out and SECRET not in out


def test_apply_then_status_on_postgres_state(quickstart: Path, pg_dsn: str) -> None:
    use_postgres(quickstart)
    code, out = run("apply", "-c", str(quickstart), "--auto-approve")
    assert code == 0, out
    code, out = run("status", "-c", str(quickstart), "--format", "json")
    assert code == 0, out
    contoso = next(c for c in json.loads(out)["customers"] if c["customer"] == "contoso")
    assert contoso["last_run"]["result"] == "applied"
    assert pg_dsn not in out
    code, out = run("state", "list", "-c", str(quickstart), "--customer", "contoso")
    assert code == 0 and "customer contoso (serial" in out
