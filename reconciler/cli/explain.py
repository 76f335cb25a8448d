"""CLI: `explain CUSTOMER USER`: the whole decision for one person, from live data."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.config import load_valid_config
from reconciler.core.explain import explain as explain_one
from reconciler.core.planning import plan_customer
from reconciler.engine import Engine
from reconciler.errors import ReconcilerError
from reconciler.reading import read_live


@click.command()
@config_dir_option
@click.argument("customer")
@click.argument("user")
@format_option
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
        # format 2 like every other CLI document (CHANGELOG.md): envelope, kind "explanation"
        emit("explanation", result.to_dict())
    else:
        click.echo("\n".join(result.lines()))
    if not result.found and not result.accounts:
        raise ReconcilerError(f"{customer}: no directory user or managed account matches {user!r}")


COMMANDS = (explain,)
