"""CLI: `snapshot` - capture customers' live systems in the file-backed provider's format.

    reconciler snapshot -c DIR --customer NAME -o OUT

writes OUT/<customer>/entra.json, ad.json, itglue.json | hudu.json and
connectwise.json | autotask.json (see `reconciler.providers.files`) for every
directory and integration the customer is connected to, so a plan can run
offline against a capture of real data (Settings `snapshot.dir: OUT`).

Each source is captured on its own: one that fails (or whose client is not
there yet) is reported and the others are still written; the exit code is 1
if anything was missing. Reading Entra moves its delta cursor forward, as a
plan would; the capture is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.cli.selection import chosen, customer_option, exclude_option
from reconciler.config import load_valid_config
from reconciler.config.resolve import EffectiveCustomer, effective_customers
from reconciler.core.model import DirectorySnapshot
from reconciler.engine import Engine, scope_for
from reconciler.errors import EXIT_ERROR, EXIT_OK, ReconcilerError
from reconciler.providers import files
from reconciler.providers.base import ContactBook, PasswordVault, ProviderContext, release

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


def _vault(opener: Callable[[ProviderContext], PasswordVault], name: str) -> Capture:
    def capture(ctx: ProviderContext, out: Path) -> str:
        vault = opener(ctx)
        try:
            entries = vault.list_entries()
        finally:
            release(vault)
        files.dump_entries(out / f"{name}.json", entries)
        return f"{name}.json ({len(entries)} password entries)"

    return capture


def _contacts(opener: Callable[[ProviderContext], ContactBook], name: str) -> Capture:
    def capture(ctx: ProviderContext, out: Path) -> str:
        book = opener(ctx)
        try:
            contacts = book.list_contacts()
        finally:
            release(book)
        files.dump_contacts(out / f"{name}.json", contacts)
        return f"{name}.json ({len(contacts)} contacts)"

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
    links = spec.integrations
    from reconciler.providers import autotask, connectwise, hudu, itglue

    vaults = [
        ("itglue", links.itglue_organization_id, conns.itglue, _vault(itglue.open_itglue, "itglue")),
        ("hudu", links.hudu_company_id, conns.hudu, _vault(hudu.open_hudu, "hudu")),
    ]
    psas = [
        (
            "connectwise",
            links.connectwise_company_id,
            conns.connectwise,
            _contacts(connectwise.open_connectwise, "connectwise"),
        ),
        (
            "autotask",
            links.autotask_company_id,
            conns.autotask,
            _contacts(autotask.open_autotask, "autotask"),
        ),
    ]
    for name, link, conn, capture in vaults + psas:
        if link is not None:
            out.append(
                (name, capture if conn is not None else f"skipped: Settings has no connections.{name}")
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
