"""Test support for the IT Glue / Hudu client tests: a real config directory
(Settings + Customers in YAML, the API key in a secret file) and the
ProviderContext the engine would build from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler.config import load_valid_config
from reconciler.config.models import SettingsSpec
from reconciler.config.resolve import effective_customers
from reconciler.providers.base import ProviderContext


class MemoryCursors:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str | None] = {}

    def get_cursor(self, customer: str, name: str) -> str | None:
        return self.values.get((customer, name))

    def put_cursor(self, customer: str, name: str, value: str | None) -> None:
        self.values[(customer, name)] = value


def write_config(
    root: Path,
    connections: dict[str, dict[str, Any]],
    customers: dict[str, dict[str, str]],
    api_key: str,
) -> None:
    """Settings with `connections` (apiKey read from a file) and one Customer per
    name with the given integration links."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vendor.key").write_text(api_key + "\n", encoding="utf-8")
    conns = {kind: {"apiKey": {"file": "vendor.key"}, **conn} for kind, conn in connections.items()}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "reconciler.dev/v1",
            "kind": "Settings",
            "metadata": {"name": "default"},
            "spec": {"features": {"passwordManager": True}, "connections": conns},
        }
    ]
    for name, links in customers.items():
        docs.append(
            {
                "apiVersion": "reconciler.dev/v1",
                "kind": "Customer",
                "metadata": {"name": name},
                "spec": {"integrations": links},
            }
        )
    (root / "config.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def context(root: Path, customer: str) -> ProviderContext:
    config = load_valid_config(root)
    return ProviderContext(
        config_root=root,
        settings=config.settings_doc.spec,
        customer=effective_customers(config)[customer],
        cursors=MemoryCursors(),
    )


def settings(root: Path) -> SettingsSpec:
    return load_valid_config(root).settings_doc.spec
