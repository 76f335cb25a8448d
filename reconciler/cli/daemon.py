"""CLI: `daemon`, `status` (R19) and `override` (one-time override of a safety block)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit
from reconciler.config import load_valid_config
from reconciler.config.messages import suggest
from reconciler.config.resolve import effective_customers
from reconciler.core.words import count
from reconciler.daemon import service
from reconciler.daemon.status import StatusInputs, collect, render_text
from reconciler.errors import ConfigError, ReconcilerError
from reconciler.state.backend import open_backend, open_state, settings_only


@click.command()
@config_dir_option
@click.option(
    "--listen", help="host:port of the HTTP listener (default: Settings daemon.listen, 127.0.0.1:9465)."
)
@click.option(
    "--git", "use_git", is_flag=True, help="Pull the config repository before each cycle; record commits."
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def daemon(ctx: click.Context, config_dir: Path, listen: str | None, use_git: bool, log_format: str) -> None:
    """Reconcile every customer on its schedule until SIGTERM (R9, R10)."""
    verbose = logging.getLogger().level <= logging.DEBUG
    options = service.DaemonOptions(
        config_dir, listen, use_git, log_format, logging.DEBUG if verbose else logging.INFO
    )
    ctx.exit(service.run(options))


@click.command()
@config_dir_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(config_dir: Path, fmt: str) -> None:
    """Per customer: last run and result, conflicts and causes, blocked reason, next run (R19)."""
    problem = ""
    try:
        config = load_valid_config(config_dir)
        customers = effective_customers(config)
    except ConfigError as exc:
        # the daemon keeps running the last valid config; status must still work
        problem = f"{count(len(exc.problems), 'problem')}: " + "; ".join(str(p) for p in exc.problems[:5])
        customers = {}
        settings = settings_only(config_dir)
    else:
        settings = config.settings_doc
    namespace = settings.spec.state.namespace or settings.metadata.name
    backend = open_backend(config_dir, settings.spec, namespace, must_exist=True)
    try:
        now = time.time()
        data = collect(StatusInputs(customers, backend.store, backend.daemon, now, problem))
    finally:
        backend.close()
    if fmt == "json":
        emit("status", data)
    else:
        click.echo(render_text(data, now, str(config_dir)), nl=False)


@click.command()
@config_dir_option
@click.argument("customer")
def override(config_dir: Path, customer: str) -> None:
    """Let the daemon apply a blocked CUSTOMER's plan once, with exactly the removals it showed."""
    config = load_valid_config(config_dir)
    if customer not in config.customers:
        raise ReconcilerError(f"unknown customer {customer!r}{suggest(customer, config.customers)}")
    backend = open_state(config)
    try:
        rec = backend.daemon.request_override(customer, time.time(), "cli")
    finally:
        backend.close()
    click.echo(
        f"{customer}: override recorded ({count(len(rec.override_removals), 'removal')} approved); "
        "the daemon applies it on its next cycle"
    )


COMMANDS = (daemon, status, override)
