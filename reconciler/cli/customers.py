"""CLI: `customers import` writes a Customer document for every IT Glue organization
or Hudu company that no customer links to yet (R21).

Existing customers are recognised by their integration id, never by name; a file
is never overwritten (names that are taken get the vendor id appended, and files
are created exclusively). The output is meant for a pull request: each file
says where it came from and what a reviewer still has to add.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import click

from reconciler.cli.common import config_dir_option
from reconciler.config.generate import ID_PATTERN, LINK_FIELD, VENDOR, Origin, customer_yaml, unique_name
from reconciler.config.load import load_config
from reconciler.config.models import SettingsSpec
from reconciler.core.words import count
from reconciler.integrations.kinds import IntegrationKind
from reconciler.integrations.table import TABLE
from reconciler.providers.vaults import OrgSummary


@click.group()
def customers() -> None:
    """Customers: generate Customer documents from IT Glue or Hudu (R21)."""


@customers.command("import")
@click.option(
    "--from",
    "source",
    type=click.Choice([k.value for k in LINK_FIELD]),
    required=True,
    help="Where to read from.",
)
@click.option("--filter", "name_filter", metavar="TEXT", help="Only names containing TEXT (any case).")
@click.option(
    "--out",
    "out_dir",
    default="customers",
    show_default=True,
    help="Directory for the new files, relative to the config directory.",
)
@click.option(
    "--schema-ref", help="Target of the yaml-language-server $schema hint (default: the schema id)."
)
@click.option("--dry-run", is_flag=True, help="Print the documents instead of writing them.")
@config_dir_option
def import_(
    config_dir: Path,
    source: str,
    name_filter: str | None,
    out_dir: str,
    schema_ref: str | None,
    dry_run: bool,
) -> None:
    """Write a Customer document per organization/company not yet in the config."""
    integration = IntegrationKind(source)
    config = load_config(config_dir)
    records = _read(integration, config.settings_doc.spec, config_dir)

    field = LINK_FIELD[integration]
    linked: dict[str, str] = {}
    for name, loaded in config.customers.items():
        link = loaded.doc.spec.integrations.model_dump(by_alias=True).get(field)
        if link:
            linked[str(link)] = name
    target = config_dir / out_dir
    taken = set(config.customers) | ({p.stem for p in target.iterdir()} if target.is_dir() else set())

    written = skipped = 0
    for rec in sorted(records, key=lambda r: (len(r.id), r.id)):
        if name_filter and name_filter.lower() not in rec.name.lower():
            continue
        what = f"{VENDOR[integration]} {rec.id} {rec.name!r}"
        if rec.id in linked:
            click.echo(f"skip {what}: already customer {linked[rec.id]}")
            skipped += 1
            continue
        if not ID_PATTERN.fullmatch(rec.id):
            click.echo(f"skip {what}: unexpected id format", err=True)
            skipped += 1
            continue
        name = unique_name(Origin(integration, rec.id, rec.name, rec.details), taken)
        taken.add(name)
        text = customer_yaml(name, Origin(integration, rec.id, rec.name, rec.details), schema_ref)
        path = target / f"{name}.yaml"
        if dry_run:
            click.echo(f"--- {path}\n{text}", nl=False)
        else:
            target.mkdir(parents=True, exist_ok=True)
            try:
                with path.open("x", encoding="utf-8") as f:  # never overwrite
                    f.write(text)
            except FileExistsError:
                click.echo(f"skip {what}: {path} appeared meanwhile; run again", err=True)
                skipped += 1
                continue
            click.echo(f"wrote {path} ({what})")
        written += 1
    verb = "would write" if dry_run else "wrote"
    click.echo(f"{verb} {count(written, 'customer')}; skipped {skipped}")


def _read(integration: IntegrationKind, settings: SettingsSpec, config_dir: Path) -> list[OrgSummary]:
    """Every organization the integration's client lists (its folder's `list_organizations`)."""
    found: list[OrgSummary] = import_module(TABLE[integration].client_module).list_organizations(
        settings, config_dir
    )
    return found


COMMANDS = (customers,)
