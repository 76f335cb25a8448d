"""Live stage: open the providers one customer needs, from Settings and the customer.

In snapshot mode (Settings `snapshot.dir`) every source and integration is the
file-backed provider; otherwise each one is the real client for its vendor: for
integrations, the `client` module of the folder the integration table names
(`reconciler.integrations.table`). Clients are imported when opened, so a run
only loads what it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from reconciler.config.models import Source
from reconciler.errors import ProviderError
from reconciler.integrations.facts import Facts
from reconciler.integrations.kinds import Role
from reconciler.integrations.table import linked, of_role
from reconciler.providers.base import CustomerProviders, ProviderContext, SelectionChecker


def open_customer(ctx: ProviderContext) -> CustomerProviders:
    settings = ctx.settings
    eff = ctx.customer
    bindings = [b for b in (eff.end_user, eff.admin) if b is not None]
    needs_entra = any(b.settings.source is Source.ENTRA or b.settings.password_sync for b in bindings)
    needs_ad = any(b.settings.source is Source.ACTIVE_DIRECTORY for b in bindings)
    needs_vault = any(b.settings.options.password_entry_matching for b in bindings)
    needs_contacts = any(b.settings.options.contact_matching for b in bindings)
    needs_mail = any(b.settings.options.welcome_email for b in bindings)

    if settings.snapshot is not None:
        from reconciler.providers.files import open_customer as open_files

        return open_files(ctx, needs_entra, needs_ad, needs_vault, needs_contacts, needs_mail)

    out = CustomerProviders()
    if needs_entra:
        from reconciler.providers.graph import open_entra

        out.entra = open_entra(ctx)
    if needs_ad:
        from reconciler.providers.ldap import open_ad

        out.ad = open_ad(ctx)
    if needs_vault:
        out.vault = open_integration(ctx, Role.VAULT)
    if needs_contacts:
        out.contacts = open_integration(ctx, Role.PSA)
    if needs_mail:
        from reconciler.providers.smtp import open_smtp

        out.mailer = open_smtp(ctx)
    return out


def integration_of(ctx: ProviderContext, role: Role) -> Facts[Any]:
    """The integration of `role` the customer links (validation keeps it to one)."""
    found = linked(ctx.customer.doc.spec.integrations, role)
    if not found:
        links = " or ".join(f.link for f in of_role(role))
        raise ProviderError(ctx.name, f"the customer has no spec.integrations.{links}")
    return found[0]


def open_integration(ctx: ProviderContext, role: Role) -> Any:
    """The real client of the customer's integration of `role` (its folder's `client.connect`)."""
    return import_module(integration_of(ctx, role).client_module).connect(ctx)


def open_selection_checkers(ctx: ProviderContext) -> list[SelectionChecker]:
    """For `validate --live`: the customer's Active Directory when an import reads it,
    and its Entra tenant when a selection names Entra groups (renamed, unknown or
    ambiguous ones). No integration or mail connection, nor their secrets (#17 item 6);
    Graph only where a group is selected, so an AD-only check needs no Graph secret."""
    if ctx.settings.snapshot is not None:
        return []
    eff = ctx.customer
    bindings = [b for b in (eff.end_user, eff.admin) if b is not None]
    out: list[SelectionChecker] = []
    if any(b.settings.source is Source.ACTIVE_DIRECTORY for b in bindings):
        from reconciler.providers.ldap import open_ad

        reader = open_ad(ctx)
        if isinstance(reader, SelectionChecker):
            out.append(reader)
    if any(
        b.settings.source is Source.ENTRA
        and (b.settings.selection.groups or b.settings.selection.exclude.groups)
        for b in bindings
    ):
        from reconciler.providers.graph import open_entra

        out.append(open_entra(ctx))
    return out
