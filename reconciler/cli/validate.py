"""CLI: `validate` and `schema`."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.config import load_valid_config
from reconciler.config.models import KINDS
from reconciler.config.schema import all_schemas, kind_schema, render
from reconciler.engine import Engine
from reconciler.errors import WARNING


@click.command()
@config_dir_option
@click.option(
    "--live",
    is_flag=True,
    help="Also check AD selections against the directories (well-known SIDs, missing OUs/groups, overlaps).",
)
@click.pass_context
def validate(ctx: click.Context, config_dir: Path, live: bool) -> None:
    """Check every document: structure, then the rules (R2-R20). Exit 1 on problems."""
    config = load_valid_config(config_dir)
    if live:
        problems = Engine.open(config).live_checks()
        for problem in problems:
            click.echo(problem, err=True)
        if any(not p.startswith(WARNING) for p in problems):
            ctx.exit(1)
    click.echo(
        f"{config_dir}: valid ({len(config.customers)} customers, {len(config.policies)} import policies, "
        f"{len(config.admin_policies)} admin import policies)"
    )


@click.command()
@click.argument("kind", required=False, type=click.Choice(sorted(KINDS)))
@click.option(
    "--write", "write_dir", type=click.Path(path_type=Path, file_okay=False), help="Write all schemas here."
)
def schema(kind: str | None, write_dir: Path | None) -> None:
    """Print the JSON Schema of KIND, or write every schema with --write DIR."""
    if write_dir is not None:
        write_dir.mkdir(parents=True, exist_ok=True)
        for name, text in all_schemas().items():
            (write_dir / name).write_text(text, encoding="utf-8")
        return
    if kind is None:
        raise click.UsageError("name a KIND or use --write DIR")
    click.echo(render(kind_schema(kind)), nl=False)


COMMANDS = (validate, schema)
