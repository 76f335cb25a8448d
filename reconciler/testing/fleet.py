"""Test helper: write a config directory for a fleet of Entra-only customers.

Every customer is a member of one ImportPolicy (by label) and has `users`
licensed users in its file-backed `live/<name>/entra.json` (Settings snapshot
mode), so a fleet runs fully offline; or reads its tenant from a Graph
(simulator) when a connection is given. With an Active Directory (`ad`, the
same `directories.activeDirectory` for every customer) the customers import
from it instead, through ImportPolicies given as spec fragments (selection,
schedule, ...; customer i gets the (i mod n)-th; `ad` may be a function of i, e.g. for a
base DN per customer, since two customers may not share one subtree), with password sync against
their tenant when there is a Graph too. Used by the daemon tests and the fleet
benchmark.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

API = "reconciler.dev/v1"


def customer_name(i: int) -> str:
    return f"c{i:04d}"


def tenant_id(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def entra_users(name: str, users: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{i:08d}-0000-4000-8000-{zlib.crc32(name.encode()):012d}",
            "upn": f"user{i}@{name}.example",
            "mail": f"user{i}@{name}.example",
            "given_name": "User",
            "surname": f"Number{i}",
            "display_name": f"User {i}",
            "licensed": True,
        }
        for i in range(users)
    ]


def write_fleet(
    root: Path,
    customers: int,
    users: int = 20,
    daemon: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
    ad: dict[str, Any] | Callable[[int], dict[str, Any]] | None = None,
    ad_policies: Sequence[dict[str, Any]] = ({},),
) -> list[str]:
    """Write the config; return the customer names. Without `graph` (a Settings
    `connections.graph` mapping) or `ad` the directories are file-backed and
    written too; with `graph`, each customer's tenant is `tenant_id(i)` on that
    Graph."""
    root.mkdir(parents=True, exist_ok=True)
    spec: dict[str, Any] = {"state": {"path": ".reconciler/state.db"}}
    if ad is not None:
        if graph is not None:
            spec["connections"] = {"graph": graph}
    elif graph is None:
        spec["snapshot"] = {"dir": "live"}
    else:
        spec["connections"] = {"graph": graph}
    if daemon:
        spec["daemon"] = daemon
    _dump(
        root / "settings.yaml",
        {"apiVersion": API, "kind": "Settings", "metadata": {"name": "fleet"}, "spec": spec},
    )
    policies: list[dict[str, Any]] = [{"source": "entra"}]
    if ad is not None:
        policies = [
            {"source": "activeDirectory", "passwordSync": graph is not None, **p} for p in ad_policies
        ]
    labels = ["entra"] if ad is None else [f"ad{n}" for n in range(len(policies))]
    for label, policy in zip(labels, policies, strict=True):
        _dump(
            root / "policies" / f"{label}.yaml",
            {
                "apiVersion": API,
                "kind": "ImportPolicy",
                "metadata": {"name": f"{label}-fleet"},
                "spec": {"appliesTo": {"labelSelector": {"matchLabels": {"fleet": label}}}, **policy},
            },
        )
    names = [customer_name(i) for i in range(customers)]
    for i, name in enumerate(names):
        directories: dict[str, Any] = {}
        if ad is None or graph is not None:
            directories["entra"] = {"tenantId": tenant_id(i)}
        if ad is not None:
            directories["activeDirectory"] = ad(i) if callable(ad) else ad
        _dump(
            root / "customers" / f"{name}.yaml",
            {
                "apiVersion": API,
                "kind": "Customer",
                "metadata": {"name": name, "labels": {"fleet": labels[i % len(labels)]}},
                "spec": {"directories": directories},
            },
        )
        if graph is None and ad is None:
            path = root / "live" / name / "entra.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"users": entra_users(name, users)}, indent=1), encoding="utf-8")
    return names


def _dump(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
