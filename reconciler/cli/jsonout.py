"""CLI: the JSON that `--format json` prints (validate, apply, status, state ...).

Every document is an object carrying `format_version` and `kind`, so scripts can
check what they read. Timestamps are RFC 3339 strings in UTC
("2026-12-01T20:32:06Z"), never epoch floats. Format 2 (see CHANGELOG.md) is the
first with the envelope and RFC 3339 times; the saved plan has its own format
number (reconciler/core/plan.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

FORMAT_VERSION = 2
# keys whose numbers are points in time (epoch seconds in the state database)
TIME_KEYS = frozenset(
    {
        "started_at",
        "finished_at",
        "next_run_at",
        "last_success_at",
        "heartbeat",
        "since",
        "started",
        "stopped_at",
        "acquired_at",
        "override_at",
        "blocked_since",
        "at",
    }
)


def rfc3339(ts: float) -> str:
    """UTC, to the second (a fraction would only suggest a precision nobody needs)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_times(value: Any) -> Any:
    """`value` with every epoch number under a TIME_KEYS key as RFC 3339 text."""
    if isinstance(value, dict):
        return {
            k: rfc3339(v)
            if k in TIME_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
            else with_times(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [with_times(v) for v in value]
    return value


def document(kind: str, data: dict[str, Any]) -> str:
    body = {"format_version": FORMAT_VERSION, "kind": kind, **with_times(data)}
    return json.dumps(body, indent=2, sort_keys=True)


def emit(kind: str, data: dict[str, Any]) -> None:
    click.echo(document(kind, data))


format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
