"""CLI: `daemon`, `status` (R19) and `override` (one-time override of a safety block)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from reconciler.cli.budget import budget_lines, budget_status
from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit
from reconciler.config import load_valid_config
from reconciler.config.messages import suggest
from reconciler.config.resolve import effective_customers
from reconciler.core.words import count
from reconciler.daemon import service
from reconciler.daemon.fleet import release
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
        data["budgets"] = budget_status(None if problem else config, backend.store)
    finally:
        backend.close()
    if fmt == "json":
        emit("status", data)
    else:
        head, *rest = render_text(data, now, str(config_dir)).split("\n")
        budgets = budget_lines(data["budgets"])
        click.echo("\n".join([head, *(["budgets:", *budgets] if budgets else []), *rest]), nl=False)


@click.command()
@config_dir_option
@click.argument("customer", required=False)
@click.option(
    "--fleet",
    "digest",
    metavar="DIGEST",
    help="Release the fleet breaker's hold with this digest (shown by `reconciler status`): "
    "its customers apply exactly the removals it showed.",
)
def override(config_dir: Path, customer: str | None, digest: str | None) -> None:
    """Let the daemon apply a blocked CUSTOMER's plan once, with exactly the removals it
    showed; or, with --fleet DIGEST, the customers the fleet breaker holds (#12)."""
    if (customer is None) == (digest is None):
        raise ReconcilerError("give a CUSTOMER or --fleet DIGEST (one of them)")
    config = load_valid_config(config_dir)
    if customer is not None and customer not in config.customers:
        raise ReconcilerError(f"unknown customer {customer!r}{suggest(customer, config.customers)}")
    backend = open_state(config)
    try:
        if digest is not None:
            hold, now = release(backend.daemon, digest, "cli", time.time())
            names = ", ".join(sorted(hold.customers))
            removals = count(sum(len(k) for k in hold.customers.values()), "removal")
            if not now:
                click.echo(f"fleet breaker {hold.short}: released already; {names} apply its {removals}")
            else:
                click.echo(
                    f"fleet breaker {hold.short} released ({removals} of {count(len(hold.customers), 'customer')} "
                    f"approved: {names}); the daemon applies them on its next cycle"
                )
            return
        assert customer is not None
        rec = backend.daemon.request_override(customer, time.time(), "cli")
    finally:
        backend.close()
    click.echo(
        f"{customer}: override recorded ({count(len(rec.override_removals), 'removal')} approved); "
        "the daemon applies it on its next cycle"
    )


COMMANDS = (daemon, status, override)
