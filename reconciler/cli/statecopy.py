"""CLI: `state migrate`, `state backup` and `state restore` (copies of the whole state);
added to the `state` group by cli/state.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.config import load_valid_config
from reconciler.config.models import SecretRef, StateSettings
from reconciler.state.backend import StateBackend, namespace_of, open_backend, open_state, settings_only
from reconciler.state.transfer import Copied, Tables, copy, load, read_backup, write_backup


@click.command()
@config_dir_option
@click.option("--to", "to", type=click.Choice(["postgres", "sqlite"]), required=True)
@click.option(
    "--dsn-env",
    default="RECONCILER_STATE_DSN",
    show_default=True,
    help="postgres: the environment variable holding the target's connection string.",
)
@click.option("--schema", default="reconciler", show_default=True, help="postgres: the target schema.")
@click.option(
    "--path", "path", default=".reconciler/state.db", show_default=True, help="sqlite: the target file."
)
@format_option
def migrate(config_dir: Path, to: str, dsn_env: str, schema: str, path: str, fmt: str) -> None:
    """Copy all state from the backend Settings names to another one (which must be
    empty), check the counts, then say what to change in Settings."""
    config = load_valid_config(config_dir)
    current = config.settings_doc.spec.state
    if to == current.backend:
        raise click.UsageError(f"the state is already on {to}; name the other backend")
    fields: dict[str, object] = (
        {"backend": "postgres", "dsn": SecretRef(env=dsn_env), "db_schema": schema}
        if to == "postgres"
        else {"backend": "sqlite", "path": path}
    )
    target_settings = StateSettings(
        **fields, namespace=current.namespace, lease_seconds=current.lease_seconds
    )
    spec = config.settings_doc.spec.model_copy(update={"state": target_settings})
    source = open_state(config)
    try:
        target = open_backend(config.root, spec, namespace_of(config))
        try:
            copied = copy(_tables(source), _tables(target), target.description)
        finally:
            target.close()
    finally:
        source.close()
    settings = (
        f"backend: postgres, dsn: {{env: {dsn_env}}}, schema: {schema}"
        if to == "postgres"
        else f"backend: sqlite, path: {path}"
    )
    if fmt == "json":
        emit("state", _copied("migrate", copied, target.description, settings=f"{{{settings}}}"))
        return
    click.echo(
        f"copied {copied.describe()} to {target.description}; now set `state: {{{settings}}}` "
        "in the Settings document (the old state is left as it was)"
    )


@click.command()
@config_dir_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@format_option
def backup(config_dir: Path, file: Path, fmt: str) -> None:
    """Write all state (this namespace) to FILE as versioned JSON."""
    source = open_state(load_valid_config(config_dir), must_exist=True)
    try:
        copied = write_backup(_tables(source), file)
    finally:
        source.close()
    if fmt == "json":
        emit("state", _copied("backup", copied, source.description, file=str(file)))
        return
    click.echo(f"{file}: backed up {copied.describe()} from {source.description}")


@click.command()
@config_dir_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@format_option
def restore(config_dir: Path, file: Path, fmt: str) -> None:
    """Load a backup FILE into the state backend of Settings (which must be empty)."""
    data = read_backup(file)
    target = open_state(load_valid_config(config_dir))
    try:
        copied = load(_tables(target), data, target.description)
    finally:
        target.close()
    if fmt == "json":
        emit("state", _copied("restore", copied, target.description, file=str(file)))
        return
    click.echo(f"{file}: restored {copied.describe()} into {target.description}")


@click.command("backend")
@config_dir_option
@format_option
def backend_(config_dir: Path, fmt: str) -> None:
    """Print where the state lives: `sqlite` or `postgres` (CI uses it to skip the state
    artifact when the state is shared); never the DSN."""
    backend = settings_only(config_dir).spec.state.backend  # works while the rest is invalid
    if fmt == "json":
        emit("state", {"action": "backend", "backend": backend})
    else:
        click.echo(backend)


def _copied(action: str, copied: Copied, where: str, **extra: str) -> dict[str, Any]:
    """`--format json` of migrate, backup and restore: the rows per table (never a DSN:
    `where` is the backend's description, which names no secret)."""
    return {"action": action, "where": where, "rows": copied.total, "tables": dict(copied.counts), **extra}


def _tables(backend: StateBackend) -> Tables:
    return cast(Tables, backend.store)  # both stores implement the copy methods
