"""Shared pieces for provider tests: a test CA, provider contexts, secret hygiene."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.models import CustomerDoc, Safety, SettingsSpec
from reconciler.config.resolve import EffectiveCustomer
from reconciler.providers.base import ProviderContext
from reconciler.state.store import SqliteStore
from reconciler.testing.httpsim import TestCA


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def context(
    root: Path,
    store: SqliteStore,
    connections: dict[str, Any],
    integrations: dict[str, Any],
    name: str = "acme",
) -> ProviderContext:
    settings = SettingsSpec.model_validate({"connections": connections})
    doc = CustomerDoc.model_validate(
        {
            "apiVersion": "reconciler.dev/v1",
            "kind": "Customer",
            "metadata": {"name": name},
            "spec": {"integrations": integrations},
        }
    )
    return ProviderContext(root, settings, EffectiveCustomer(name, doc, None, None, Safety()), store)


@pytest.fixture
def all_output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Any:
    """Everything a run printed or logged (at DEBUG, every logger), for secret checks."""
    caplog.set_level(logging.DEBUG)

    def collect(*extra: object) -> str:
        out, err = capsys.readouterr()
        return "\n".join([caplog.text, out, err, *map(str, extra)])

    return collect
