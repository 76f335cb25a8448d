"""Live stage: open the providers one customer needs, from Settings and the customer.

In snapshot mode (Settings `snapshot.dir`) every source and integration is the
file-backed provider; otherwise each one is the real client for its vendor.
Imports of vendor clients are local so that a run only loads what it uses.
"""

from __future__ import annotations

from reconciler.config.models import Source
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
    links = eff.doc.spec.integrations

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
        if links.itglue_organization_id:
            from reconciler.providers.itglue import open_itglue

            out.vault = open_itglue(ctx)
        else:
            from reconciler.providers.hudu import open_hudu

            out.vault = open_hudu(ctx)
    if needs_contacts:
        if links.connectwise_company_id:
            from reconciler.providers.connectwise import open_connectwise

            out.contacts = open_connectwise(ctx)
        else:
            from reconciler.providers.autotask import open_autotask

            out.contacts = open_autotask(ctx)
    if needs_mail:
        from reconciler.providers.smtp import open_smtp

        out.mailer = open_smtp(ctx)
    return out


def open_selection_checker(ctx: ProviderContext) -> SelectionChecker | None:
    """Only the customer's Active Directory, for `validate --live`: the selection
    checks need no Graph, integration or mail connection, nor their secrets."""
    eff = ctx.customer
    needs_ad = any(
        b is not None and b.settings.source is Source.ACTIVE_DIRECTORY for b in (eff.end_user, eff.admin)
    )
    if not needs_ad or ctx.settings.snapshot is not None:
        return None
    from reconciler.providers.ldap import open_ad

    reader = open_ad(ctx)
    return reader if isinstance(reader, SelectionChecker) else None
