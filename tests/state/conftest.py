"""The state backends under test: a real SQLite file and a real PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.config.models import SettingsSpec
from reconciler.state.backend import StateBackend, open_backend
from tests.pgstate import DSN_ENV, fresh_schema

Open = Callable[..., StateBackend]


@pytest.fixture
def open_state(backend: str, tmp_path: Path) -> Iterator[Open]:
    """open_state(namespace="a", leaseSeconds=15) -> a backend on one shared database."""
    schema = fresh_schema()
    opened: list[StateBackend] = []

    def make(namespace: str = "msp", **state: object) -> StateBackend:
        settings: dict[str, object] = (
            {"backend": "postgres", "dsn": {"env": DSN_ENV}, "schema": schema}
            if backend == "postgres"
            else {"path": "state.db"}
        )
        spec = SettingsSpec.model_validate({"state": {**settings, **state}})
        b = open_backend(tmp_path, spec, namespace)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()
