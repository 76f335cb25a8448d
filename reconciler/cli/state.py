"""CLI: `state list` and `state unlock`; `state migrate/backup/restore` come from statecopy.py."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.cli.rebuild import rebuild
from reconciler.cli.selection import chosen, customer_option, exclude_option
from reconciler.cli.state_edit import EDIT_COMMANDS
from reconciler.config import load_valid_config
from reconciler.config.resolve import effective_customers
from reconciler.core.words import count
from reconciler.engine import Engine


@click.group()
def state() -> None:
    """Inspect and edit the state store: list, show, rm, import, mv, unlock."""


@state.command("list")
@config_dir_option
@customer_option
@exclude_option
@format_option
def list_(config_dir: Path, customers: tuple[str, ...], excluded: tuple[str, ...], fmt: str) -> None:
    """Managed accounts and their links, per customer."""
    engine = Engine.open(load_valid_config(config_dir))
    names = [
        e.name for e in engine.customers(chosen(effective_customers(engine.config), customers, excluded))
    ]
    data: list[dict[str, Any]] = []
    for name in names:
        managed = engine.store.load(name)
        links: dict[str, dict[str, str]] = {}
        for (key, kind), link in managed.links.items():
            links.setdefault(key, {})[kind.value] = link.record_id
        data.append(
            {
                "customer": name,
                "serial": managed.serial,
                "accounts": [
                    {**a.to_dict(), "links": links.get(k, {}), "welcome": managed.welcome.get(k, "")}
                    for k, a in sorted(managed.accounts.items())
                ],
            }
        )
    if fmt == "json":
        emit("state", {"customers": data})
        return
    for c in data:
        click.echo(f"customer {c['customer']} (serial {c['serial']}): {count(len(c['accounts']), 'account')}")
        for a in c["accounts"]:
            linked = ", ".join(f"{k}={v}" for k, v in sorted(a["links"].items()))
            flags = [f for f in ("self_serve", "password_remember", "password_sync") if a[f]]
            extra = "; ".join(
                x for x in (linked, " ".join(flags), f"welcome {a['welcome']}" if a["welcome"] else "") if x
            )
            click.echo(
                f"  {a['upn']} [{a['account_class']}, {'+'.join(a['sources'])}]"
                + (f" {extra}" if extra else "")
            )


@state.command()
@config_dir_option
@click.option("--customer", required=True)
@click.option("--force", is_flag=True, help="Break the lease even if its holder still runs.")
@format_option
def unlock(config_dir: Path, customer: str, force: bool, fmt: str) -> None:
    """Break a customer's lease (left by a process that is gone, or, with --force, a live one)."""
    engine = Engine.open(load_valid_config(config_dir))
    info = engine.store.break_lock(customer, force)
    if fmt == "json":
        emit("unlock", {"customer": customer, "broken": None if info is None else dataclasses.asdict(info)})
        return
    if info is None:
        click.echo(f"{customer}: no lock held")
        return
    click.echo(
        f"{customer}: broke the lease of {info.describe(time.time())}, epoch {info.epoch}; "
        + (
            "if that process still runs, its next commit, record create or welcome email is refused"
            if info.alive
            else "its process is gone"
        )
    )


for _command in EDIT_COMMANDS:
    state.add_command(_command)
state.add_command(rebuild)


def _add_copies() -> None:
    from reconciler.cli.statecopy import backend_, backup, migrate, restore

    for command in (migrate, backup, restore, backend_):
        state.add_command(command)


_add_copies()
COMMANDS = (state,)
