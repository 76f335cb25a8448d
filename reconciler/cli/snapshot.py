"""CLI: `snapshot` - capture customers' live systems in the file-backed provider's format.

    reconciler snapshot -c DIR --customer NAME -o OUT

writes OUT/<customer>/entra.json, ad.json and <kind>.json for every integration
of the table it links (see `reconciler.providers.files`), so a plan can run
offline against a capture of real data (Settings `snapshot.dir: OUT`).

Each source is captured on its own: one that fails (or whose client is not
there yet) is reported and the others are still written; the exit code is 1
if anything was missing. Reading Entra moves its delta cursor forward, as a
plan would; the capture is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.selection import chosen, customer_option, exclude_option
from reconciler.config import load_valid_config
from reconciler.config.resolve import EffectiveCustomer, effective_customers
from reconciler.core.model import DirectorySnapshot
from reconciler.engine import Engine
from reconciler.errors import EXIT_ERROR, EXIT_OK, ReconcilerError
from reconciler.integrations.facts import Facts
from reconciler.integrations.kinds import Role
from reconciler.integrations.table import TABLE
from reconciler.providers import files
from reconciler.providers.base import ProviderContext, release
from reconciler.reading import scope_for

Capture = Callable[[ProviderContext, Path], str]


def _entra(full_sync: bool) -> Capture:
    def capture(ctx: ProviderContext, out: Path) -> str:
        from reconciler.providers.graph import open_entra

        reader = open_entra(ctx)
        try:
            snap = reader.read(scope_for(ctx.customer, full_sync))
        finally:
            release(reader)
        files.dump_directory(out / "entra.json", snap)
        return f"entra.json ({len(snap.users)} users)"

    return capture


def _ad(full_sync: bool) -> Capture:
    def capture(ctx: ProviderContext, out: Path) -> str:
        from reconciler.providers.ldap import open_ad

        reader = open_ad(ctx)
        try:
            snap: DirectorySnapshot = reader.read(scope_for(ctx.customer, full_sync))
        finally:
            release(reader)
        files.dump_directory(out / "ad.json", snap)
        return f"ad.json ({len(snap.users)} users, {len(snap.groups)} groups)"

    return capture


def _integration(facts: Facts[Any]) -> Capture:
    """Capture one integration of the table: its records in its role's twin format."""

    def capture(ctx: ProviderContext, out: Path) -> str:
        client = import_module(facts.client_module).connect(ctx)
        name = facts.kind.value
        try:
            if facts.role is Role.VAULT:
                entries = client.list_entries()
                files.dump_entries(out / f"{name}.json", entries)
                return f"{name}.json ({len(entries)} password entries)"
            contacts = client.list_contacts()
            files.dump_contacts(out / f"{name}.json", contacts)
            return f"{name}.json ({len(contacts)} contacts)"
        finally:
            release(client)

    return capture


def captures(
    eff: EffectiveCustomer, ctx: ProviderContext, full_sync: bool
) -> list[tuple[str, Capture | str]]:
    """(source, how to capture it or why it is skipped) for everything the customer is connected to."""
    spec, conns = eff.doc.spec, ctx.settings.connections
    out: list[tuple[str, Capture | str]] = []
    if spec.directories.entra is not None:
        out.append(("entra", _entra(full_sync)))
    if spec.directories.active_directory is not None:
        out.append(("ad", _ad(full_sync)))
    for facts in TABLE.values():
        if facts.linked_id(spec.integrations) is None:
            continue
        name = facts.kind.value
        configured = facts.connection(conns) is not None
        out.append(
            (name, _integration(facts) if configured else f"skipped: Settings has no connections.{name}")
        )
    return out


@click.command()
@config_dir_option
@customer_option
@exclude_option
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write; one sub-directory per customer.",
)  # fmt: skip
@click.option("--full-sync", is_flag=True, help="Read directories in full instead of incrementally.")
@click.pass_context
def snapshot(
    ctx: click.Context,
    config_dir: Path,
    customers: tuple[str, ...],
    excluded: tuple[str, ...],
    out: Path,
    full_sync: bool,
) -> None:
    """Write customers' live directories and integration records as snapshot files."""
    engine = Engine.open(load_valid_config(config_dir))
    missing = 0
    for eff in engine.customers(chosen(effective_customers(engine.config), customers, excluded)):
        pctx = engine.context(eff)
        target = out / eff.name
        for source, how in captures(eff, pctx, full_sync):
            if isinstance(how, str):
                click.echo(f"{eff.name}: {source}: {how}", err=True)
                continue
            try:
                click.echo(f"{eff.name}: wrote {target.relative_to(out)}/{how(pctx, target)}")
            except ReconcilerError as exc:
                missing += 1
                click.echo(f"{exc} (not captured)", err=True)
    ctx.exit(EXIT_ERROR if missing else EXIT_OK)


COMMANDS = (snapshot,)
