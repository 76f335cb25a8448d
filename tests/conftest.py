"""Shared fixtures: a scratch copy of the offline quickstart MSP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.testing import pgcluster
from tests import pgstate

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A writable copy of examples/quickstart (apply writes to its live/ files)."""
    dest = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, dest, ignore=shutil.ignore_patterns(".reconciler"))
    return dest


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgcluster.Cluster | None]:
    """The test PostgreSQL: $RECONCILER_TEST_PG_DSN (None here), or a throwaway cluster."""
    if pgcluster.external():
        yield None
        return
    with pgcluster.cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_dsn_value(pg_server: pgcluster.Cluster | None) -> str:
    return pg_server.dsn if pg_server is not None else str(pgcluster.external())


@pytest.fixture
def pg_dsn(pg_dsn_value: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The DSN, also in $RECONCILER_STATE_DSN (what use_postgres() points Settings at)."""
    monkeypatch.setenv(pgstate.DSN_ENV, pg_dsn_value)
    return pg_dsn_value


@pytest.fixture(params=pgstate.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once per state backend."""
    if request.param == "postgres":
        request.getfixturevalue("pg_dsn")
    return str(request.param)
