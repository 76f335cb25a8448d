"""CLI: `validate` and `schema`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.config import load_valid_config
from reconciler.config.idle import idle_warnings, live_in_snapshot_mode
from reconciler.config.models import KINDS, SettingsSpec
from reconciler.config.schema import all_schemas, kind_schema, render
from reconciler.config.welcome import welcome_sample
from reconciler.core.words import count
from reconciler.engine import Engine
from reconciler.errors import EXIT_ERROR, EXIT_OK, WARNING, ConfigError, Problem
from reconciler.state.backend import dsn_warnings


@click.command()
@config_dir_option
@click.option(
    "--live",
    is_flag=True,
    help="Also check AD selections against the directories (well-known SIDs, missing OUs/groups, overlaps).",
)
@format_option
@click.pass_context
def validate(ctx: click.Context, config_dir: Path, live: bool, fmt: str) -> None:
    """Check every document: structure, then the rules (R2-R20). Exit 1 on problems."""
    if fmt == "json":
        ctx.exit(_validate_json(config_dir, live))
    config = load_valid_config(config_dir)
    for warning in dsn_warnings(config.root, config.settings_doc.spec.state):
        click.echo(f"warning: {warning}", err=True)
    idle = idle_warnings(config)
    for warning_at in idle:
        click.echo(str(warning_at), err=True)
    if live:
        offline = live_in_snapshot_mode(config)
        if offline is not None and not offline.message.startswith(WARNING):
            raise ConfigError([offline])
        if offline is not None:
            click.echo(str(offline), err=True)
        problems = Engine.open(config).live_checks() + notification_problems(
            config.settings_doc.spec, config_dir
        )
        for problem in problems:
            click.echo(problem, err=True)
        if any(not p.startswith(WARNING) for p in problems):
            ctx.exit(1)
    click.echo(
        f"{config_dir}: valid ({count(len(config.customers), 'customer')}, "
        f"{count(len(config.policies), 'import policy')}, "
        f"{count(len(config.admin_policies), 'admin import policy')}"
        + (f", {count(len(idle), 'warning')})" if idle else ")")
    )
    sample = welcome_sample(config)
    if sample is not None:
        subject, body = sample
        click.echo(f"welcome email sample: Subject: {subject}")
        for line in body.splitlines():
            click.echo(f"  | {line}")


def notification_problems(spec: SettingsSpec, root: Path) -> list[str]:
    from reconciler.daemon.notify.checks import live_problems  # the PSA client loads only for --live

    return live_problems(spec, root)


def _validate_json(config_dir: Path, live: bool) -> int:
    """One JSON document on stdout, valid or not: every problem with where it is."""
    try:
        config = load_valid_config(config_dir)
    except ConfigError as exc:
        problems = [_located(p) for p in exc.problems]
        emit("validation", {"config_dir": str(config_dir), "valid": False, "problems": problems})
        return EXIT_ERROR
    warnings = [_located(p) for p in idle_warnings(config)]
    offline = live_in_snapshot_mode(config) if live else None
    if offline is not None and offline.message.startswith(WARNING):
        warnings.append(_located(offline))
    elif offline is not None:
        problem = _located(offline)
        emit(
            "validation",
            {"config_dir": str(config_dir), "valid": False, "problems": [problem], "warnings": warnings},
        )
        return EXIT_ERROR
    live_problems = (
        Engine.open(config).live_checks() + notification_problems(config.settings_doc.spec, config_dir)
        if live
        else []
    )
    emit(
        "validation",
        {
            "config_dir": str(config_dir),
            "valid": not live_problems,
            "problems": [{"file": "", "line": 0, "column": 0, "message": m} for m in live_problems],
            "warnings": warnings,
            "counts": {
                "customers": len(config.customers),
                "import_policies": len(config.policies),
                "admin_import_policies": len(config.admin_policies),
            },
        },
    )
    return EXIT_ERROR if live_problems else EXIT_OK


def _located(p: Problem) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "column": p.column, "message": p.message}


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
