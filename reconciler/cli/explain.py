"""CLI: `explain CUSTOMER USER`: the whole decision for one person, from live data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.config import load_valid_config
from reconciler.core.explain import explain as explain_one
from reconciler.core.planning import plan_customer
from reconciler.engine import Engine, read_live
from reconciler.errors import ReconcilerError


@click.command()
@config_dir_option
@click.argument("customer")
@click.argument("user")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--full-sync", is_flag=True, help="Read the directories in full first.")
def explain(config_dir: Path, customer: str, user: str, fmt: str, full_sync: bool) -> None:
    """Why USER is or is not imported for CUSTOMER, step by step.

    USER is a UPN, mail address, sAMAccountName or object id. Shows the
    directories it is found in, the policy and rule, the Entra match used for
    password sync, and the integration records linked, created or in conflict."""
    engine = Engine.open(load_valid_config(config_dir))
    (eff,) = engine.customers([customer])
    providers = engine.budgeted(eff)
    try:
        live = read_live(providers, eff, full_sync)
    finally:
        providers.close()
    managed = engine.store.load(eff.name)
    cplan = plan_customer(eff, live, managed, engine.plan_options())
    result = explain_one(eff, live, managed, cplan, user)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        click.echo("\n".join(result.lines()))
    if not result.found and not result.accounts:
        raise ReconcilerError(f"{customer}: no directory user or managed account matches {user!r}")


COMMANDS = (explain,)
