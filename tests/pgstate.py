"""Point a scratch config directory at a state backend: the embedded SQLite file
(as shipped) or a fresh schema on the test PostgreSQL cluster."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import yaml

DSN_ENV = "RECONCILER_STATE_DSN"
BACKENDS = ("sqlite", "postgres")


def fresh_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def use_postgres(root: Path, schema: str | None = None, **state: Any) -> str:
    """Rewrite root/settings.yaml to keep state in `schema` (fresh by default) of the
    database $RECONCILER_STATE_DSN names; returns the schema."""
    assert os.environ.get(DSN_ENV), f"{DSN_ENV} is not set (the pg_dsn fixture sets it)"
    schema = schema or fresh_schema()
    path = root / "settings.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["spec"]["state"] = {"backend": "postgres", "dsn": {"env": DSN_ENV}, "schema": schema, **state}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return schema
