"""CLI: `state rebuild`, the way back from a lost or foreign state (#12)."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.config import load_valid_config
from reconciler.core.words import count
from reconciler.engine import Engine
from reconciler.errors import ReconcilerError


@click.command()
@config_dir_option
@click.option("--customer", "customers", multiple=True, help="Only this customer (repeatable).")
@format_option
def rebuild(config_dir: Path, customers: tuple[str, ...], fmt: str) -> None:
    """Re-adopt accounts and links from the markers on integration records.

    For a state that was lost or replaced: every selected account whose record
    carries reconciler's marker is recorded with its links and with its welcome
    email as "unknown, not resent" (never sent again). So is a directory user
    without a marker whose existing record matches it (it was linked before); only
    users no record matches are left to the next plan, which adds and welcomes them."""
    engine = Engine.open(load_valid_config(config_dir))
    lines = engine.rebuild(customers)
    failed = [line for line in lines if ": not rebuilt: " in line or "locked by" in line]
    if fmt == "json":
        emit("state", {"action": "rebuild", "lines": lines, "failed": failed})
    else:
        for line in lines:
            click.echo(line)
    if failed:
        raise ReconcilerError(f"{count(len(failed), 'customer')} not rebuilt")
