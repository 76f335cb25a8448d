"""CLI: `discover CUSTOMER`: what the customer's live directories offer to select.

AD OUs holding users (with counts) and selectable security groups (R4/R5
defaults hidden; member counts and where they live); Entra security groups,
directory roles with holder counts, and licences in use. `--write-selection`
prints ready YAML `selection:` blocks for what is listed (narrow it with --search).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import yaml

from reconciler.cli.common import config_dir_option
from reconciler.config import load_valid_config
from reconciler.engine import Engine
from reconciler.errors import ReconcilerError


@click.command()
@config_dir_option
@click.argument("customer")
@click.option("--search", default="", help="Only names (and DNs) containing TEXT, case-insensitive.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--write-selection", is_flag=True, help="Print YAML selection blocks for what is listed.")
def discover(config_dir: Path, customer: str, search: str, fmt: str, write_selection: bool) -> None:
    """List what CUSTOMER's directories offer to select."""
    engine = Engine.open(load_valid_config(config_dir))
    (eff,) = engine.customers([customer])
    if engine.config.settings_doc.spec.snapshot is not None:
        raise ReconcilerError(
            f"{customer}: discover reads the live directories; Settings is in snapshot mode"
        )
    dirs = eff.doc.spec.directories
    found: dict[str, Any] = {}
    ctx = engine.context(eff)
    if dirs.active_directory is not None:
        from reconciler.providers.ldap import open_ad
        from reconciler.providers.ldap.discover import discover_ad

        ous, groups = discover_ad(open_ad(ctx), search)
        found["activeDirectory"] = {"ous": [asdict(o) for o in ous], "groups": [asdict(g) for g in groups]}
    if dirs.entra is not None and engine.config.settings_doc.spec.connections.graph is not None:
        from reconciler.providers.graph import open_entra
        from reconciler.providers.graph.discover import discover_entra

        with open_entra(ctx).session() as client:
            egroups, roles, skus = discover_entra(client, search)
        found["entra"] = {
            "groups": [asdict(g) for g in egroups],
            "roles": [asdict(r) for r in roles],
            "skus": [asdict(s) for s in skus],
        }
    if not found:
        raise ReconcilerError(f"{customer}: no directory to discover (directories.activeDirectory or entra)")
    if write_selection:
        click.echo(selection_yaml(found), nl=False)
    elif fmt == "json":
        click.echo(json.dumps({"customer": customer, "search": search, **found}, indent=2, sort_keys=True))
    else:
        click.echo("\n".join(text_lines(customer, found)))


def text_lines(customer: str, found: dict[str, Any]) -> list[str]:
    out = [f"customer {customer}:"]
    ad = found.get("activeDirectory")
    if ad is not None:
        out.append("  Active Directory OUs with users:")
        out += [f"    {o['users']:>6}  {o['dn']}" for o in ad["ous"]] or ["    (none)"]
        out.append("  Active Directory security groups (default groups hidden, R4/R5):")
        out += [
            f"    {str(g['members']) + ('+' if g['more'] else ''):>6}  {g['name']}  ({g['dn']})"
            for g in ad["groups"]
        ] or ["    (none)"]
    entra = found.get("entra")
    if entra is not None:
        out.append("  Entra security groups (users, nested included):")
        out += [f"    {g['users']:>6}  {g['name']}  ({g['id']})" for g in entra["groups"]] or ["    (none)"]
        out.append("  Entra directory roles (active holders):")
        out += [f"    {r['holders']:>6}  {r['name']}  ({r['id']})" for r in entra["roles"]] or ["    (none)"]
        out.append("  Licences in use:")
        out += [f"    {s['consumed']:>6}  {s['part_number']}  ({s['id']})" for s in entra["skus"]] or [
            "    (none)"
        ]
    return out


def selection_yaml(found: dict[str, Any]) -> str:
    """Ready `selection:` blocks: AD groups (or OUs when no group is listed), Entra
    groups and licences for end users, roles for administrators."""
    blocks: list[str] = []
    ad = found.get("activeDirectory")
    if ad is not None:
        sel = (
            {"groups": [g["dn"] for g in ad["groups"]]}
            if ad["groups"]
            else {"ous": [o["dn"] for o in ad["ous"]]}
        )
        blocks.append(
            "# source: activeDirectory (end users)\n" + yaml.safe_dump({"selection": sel}, sort_keys=False)
        )
    entra = found.get("entra")
    if entra is not None:
        esel: dict[str, Any] = {"licensed": True}
        if entra["groups"]:
            esel["groups"] = [g["name"] for g in entra["groups"]]
        if entra["skus"]:
            esel["skus"] = [s["part_number"] for s in entra["skus"]]
        blocks.append("# source: entra (end users)\n" + yaml.safe_dump({"selection": esel}, sort_keys=False))
        if entra["roles"]:
            admin = {"selection": {"roles": [r["name"] for r in entra["roles"]]}}
            blocks.append("# source: entra (AdminImportPolicy)\n" + yaml.safe_dump(admin, sort_keys=False))
    return "---\n".join(blocks)


COMMANDS = (discover,)
