"""CLI: `state show`, `state rm`, `state import`, `state mv` (Terraform's state commands).

Each edit shows a plan-like preview and asks before it commits (`--auto-approve`
for scripts; `--format json` needs it). See reconciler/apply/stateops.py for what
each one does to the state.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reconciler.apply.stateops import (
    StateEdit,
    commit,
    find_account,
    import_link,
    move_account,
    rm_account,
    rm_link,
)
from reconciler.cli.common import config_dir_option
from reconciler.cli.jsonout import emit, format_option
from reconciler.config import load_valid_config
from reconciler.core.model import IntegrationKind
from reconciler.core.words import count
from reconciler.engine import Engine
from reconciler.errors import ReconcilerError

KINDS = click.Choice([k.value for k in IntegrationKind])
approve_option = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")


def _engine(config_dir: Path, *customers: str) -> Engine:
    engine = Engine.open(load_valid_config(config_dir))
    engine.customers(customers)  # an unknown customer is an error naming it
    return engine


@click.command("show")
@config_dir_option
@click.argument("customer")
@click.argument("account", required=False)
@format_option
def show(config_dir: Path, customer: str, account: str | None, fmt: str) -> None:
    """What the state holds for CUSTOMER, or for one ACCOUNT (key, UPN or sAMAccountName)."""
    engine = _engine(config_dir, customer)
    managed = engine.store.load(customer)
    chosen = (
        [find_account(managed, customer, account)]
        if account
        else sorted(managed.accounts.values(), key=lambda a: a.upn)
    )
    rows: list[dict[str, Any]] = []
    for a in chosen:
        rows.append(
            {
                **a.to_dict(),
                "links": {
                    kind.value: link.record_id
                    for (k, kind), link in sorted(managed.links.items())
                    if k == a.key
                },
                "detached": {
                    kind.value: rid for (k, kind), rid in sorted(managed.detached.items()) if k == a.key
                },
                "welcome": managed.welcome[a.key].value if a.key in managed.welcome else "",
            }
        )
    if fmt == "json":
        emit("state-show", {"customer": customer, "serial": managed.serial, "accounts": rows})
        return
    click.echo(f"customer {customer} (serial {managed.serial}): {count(len(managed.accounts), 'account')}")
    for row in rows:
        click.echo(f"account {row['upn']} (key {row['key']})")
        for name in ("account_class", "sam_account_name", "mail", "display_name", "entra_id", "ad_guid"):
            if row[name]:
                click.echo(f"  {name}: {row[name]}")
        click.echo(f"  sources: {', '.join(row['sources'])}")
        flags = [f for f in ("self_serve", "password_remember", "password_sync") if row[f]]
        if flags:
            click.echo(f"  options: {', '.join(flags)}")
        for kind, rid in row["links"].items():
            click.echo(f"  link: {kind} record {rid}")
        for kind, rid in row["detached"].items():
            click.echo(f"  detached: {kind} record {rid} (not linked again until `reconciler state import`)")
        if row["welcome"]:
            click.echo(f"  welcome: {row['welcome']}")


def _confirm_and_commit(
    ctx: click.Context, engine: Engine, edit: StateEdit, auto_approve: bool, fmt: str
) -> None:
    if fmt == "json" and not auto_approve:
        raise ReconcilerError("--format json cannot ask for confirmation: add --auto-approve")
    if fmt == "text":
        click.echo(
            f"reconciler state {edit.command} will change the state (no directory or integration is touched):"
        )
        for line in edit.preview():
            click.echo(line)
    if not auto_approve:
        if not sys.stdin.isatty():
            raise ReconcilerError("no terminal to confirm on; use --auto-approve")
        if not click.confirm("Change the state?"):
            click.echo("Nothing changed.")
            ctx.exit(0)
    commit(edit, engine.store)
    if fmt == "json":
        emit("state-edit", {**edit.to_dict(), "applied": True})
    else:
        click.echo(f"State changed: {count(len(edit.steps), 'change')}; plans saved before are stale now.")


@click.command("rm")
@config_dir_option
@click.argument("customer")
@click.argument("account")
@click.option(
    "--integration",
    type=KINDS,
    help="Forget only this link (the record is not linked again until `state import`).",
)
@click.option(
    "--forget-welcome",
    is_flag=True,
    help="Also forget the welcome record: a returning account is welcomed again.",
)
@approve_option
@format_option
@click.pass_context
def rm(
    ctx: click.Context,
    config_dir: Path,
    customer: str,
    account: str,
    integration: str | None,
    forget_welcome: bool,
    auto_approve: bool,
    fmt: str,
) -> None:
    """Forget ACCOUNT of CUSTOMER (or one of its links); records in the integrations stay."""
    engine = _engine(config_dir, customer)
    managed = engine.store.load(customer)
    if integration is not None:
        if forget_welcome:
            raise click.UsageError("--forget-welcome goes with removing an account, not a link")
        edit = rm_link(customer, managed, account, IntegrationKind(integration))
    else:
        edit = rm_account(customer, managed, account, forget_welcome)
    _confirm_and_commit(ctx, engine, edit, auto_approve, fmt)


@click.command("import")
@config_dir_option
@click.argument("customer")
@click.argument("account")
@click.argument("integration", type=KINDS)
@click.argument("record_id")
@approve_option
@format_option
@click.pass_context
def import_(
    ctx: click.Context,
    config_dir: Path,
    customer: str,
    account: str,
    integration: str,
    record_id: str,
    auto_approve: bool,
    fmt: str,
) -> None:
    """Adopt the existing RECORD_ID of INTEGRATION as the link of ACCOUNT (like terraform import)."""
    engine = _engine(config_dir, customer)
    (eff,) = engine.customers([customer])
    kind = IntegrationKind(integration)
    edit = import_link(eff, engine.store.load(customer), account, kind, record_id)
    _check_record_exists(engine, customer, kind, record_id)
    _confirm_and_commit(ctx, engine, edit, auto_approve, fmt)


def _check_record_exists(engine: Engine, customer: str, kind: IntegrationKind, record_id: str) -> None:
    """Import reads the integration, as terraform import reads the resource."""
    (eff,) = engine.customers([customer])
    providers = engine.budgeted(eff)
    try:
        if providers.vault is not None and providers.vault.kind is kind:
            ids = {e.id for e in providers.vault.list_entries()}
        elif providers.contacts is not None and providers.contacts.kind is kind:
            ids = {c.id for c in providers.contacts.list_contacts()}
        else:
            raise ReconcilerError(f"{customer}: does not use {kind.value} (no policy matches records there)")
    finally:
        providers.close()
    if record_id not in ids:
        raise ReconcilerError(f"{customer}: {kind.value} has no record {record_id!r} for this customer")


@click.command("mv")
@config_dir_option
@click.argument("source")
@click.argument("account")
@click.argument("target")
@approve_option
@format_option
@click.pass_context
def mv(
    ctx: click.Context, config_dir: Path, source: str, account: str, target: str, auto_approve: bool, fmt: str
) -> None:
    """Move ACCOUNT from customer SOURCE to customer TARGET (say, after a tenant merge)."""
    if source == target:
        raise click.UsageError("SOURCE and TARGET are the same customer")
    engine = _engine(config_dir, source, target)
    src_eff, dst_eff = engine.customers([source, target])
    edit = move_account(src_eff, engine.store.load(source), dst_eff, engine.store.load(target), account)
    _confirm_and_commit(ctx, engine, edit, auto_approve, fmt)


EDIT_COMMANDS = (show, rm, import_, mv)
