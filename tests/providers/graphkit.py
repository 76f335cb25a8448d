"""Test kit for the Entra provider: a Graph simulator plus a real config directory.

`GraphWorld` writes Settings and Customer YAML that point at the simulator,
loads them with the real config loader and builds `ProviderContext`s, so the
tests drive the same code path as `reconciler plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.providers.base import ProviderContext
from reconciler.providers.graph import EntraReader, forget_apps, open_entra
from reconciler.providers.http import RetryPolicy
from reconciler.testing.graph import GraphSimulator
from reconciler.testing.httpsim import TestCA

SECRET_ENV = "RECONCILER_TEST_GRAPH_SECRET"
FAST_RETRY = RetryPolicy(max_attempts=4, max_total_seconds=10.0, base_delay=0.01, max_delay=2.0)


class DictCursors:
    """The CursorStore protocol over a dict (the SQLite store is the lead's)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}
        self.writes = 0

    def get_cursor(self, customer: str, name: str) -> str | None:
        return self.values.get((customer, name))

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        self.writes += 1
        if value is None:
            self.values.pop((customer, name), None)
        else:
            self.values[(customer, name)] = value


@dataclass
class GraphWorld:
    sim: GraphSimulator
    ca: TestCA
    root: Path
    cursors: DictCursors = field(default_factory=DictCursors)

    def write_config(
        self,
        customers: dict[str, str],
        *,
        credential: dict[str, Any] | None = None,
        graph: dict[str, Any] | None = None,
        imports: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """`imports`: per customer, its `import` / `adminImport` settings (default: Entra, licensed)."""
        """Settings (connections.graph at the simulator) and one Customer per name -> tenant."""
        self.root.mkdir(parents=True, exist_ok=True)
        for old in self.root.glob("*.yaml"):
            old.unlink()
        connection: dict[str, Any] = {
            "clientId": self.sim.identity.client_id,
            "credential": credential or {"clientSecret": {"env": SECRET_ENV}},
            "authorityHost": self.sim.url,
            "graphUrl": self.sim.url,
            "caFile": str(self.ca.ca_file),
            **(graph or {}),
        }
        docs: list[dict[str, Any]] = [
            {
                "apiVersion": "reconciler.dev/v1",
                "kind": "Settings",
                "metadata": {"name": "msp"},
                "spec": {"connections": {"graph": connection}},
            }
        ]
        for name, tenant in customers.items():
            docs.append(
                {
                    "apiVersion": "reconciler.dev/v1",
                    "kind": "Customer",
                    "metadata": {"name": name},
                    "spec": {
                        "directories": {"entra": {"tenantId": tenant}},
                        **((imports or {}).get(name) or {"import": {"source": "entra"}}),
                    },
                }
            )
        (self.root / "config.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")

    def contexts(self) -> dict[str, ProviderContext]:
        config = load_config(self.root)
        settings = config.settings_doc.spec
        return {
            name: ProviderContext(self.root, settings, eff, self.cursors)
            for name, eff in effective_customers(config).items()
        }

    def reader(self, name: str, **kw: Any) -> EntraReader:
        kw.setdefault("retry", FAST_RETRY)
        return open_entra(self.contexts()[name], **kw)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("graph-ca"))


def make_world(test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **sim_kw: Any) -> GraphWorld:
    forget_apps()  # MSAL caches discovery and error answers per app object
    sim = GraphSimulator(test_ca, **sim_kw)
    sim.start()
    monkeypatch.setenv(SECRET_ENV, sim.identity.client_secret)
    return GraphWorld(sim, test_ca, tmp_path / "config")
