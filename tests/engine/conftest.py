"""Engine, apply and crash suites run on both state backends (SQLite file, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pgstate import use_postgres


@pytest.fixture
def quickstart(quickstart: Path, backend: str) -> Path:
    """The quickstart copy, its state on `backend`."""
    if backend == "postgres":
        use_postgres(quickstart)
    return quickstart
