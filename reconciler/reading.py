"""Stage: reading one customer's live state (directories, then the integrations asked for).

The engine decides what to read (`core.reads`); this module reads it through the
customer's providers and logs one line per read at -v (#17). `scope_for` turns
the customer's selections into the directory scope the readers filter by.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from reconciler.config.entraroles import role_id
from reconciler.config.models import Source
from reconciler.config.resolve import EffectiveCustomer
from reconciler.core.desired import LiveDirectories
from reconciler.core.model import IntegrationKind
from reconciler.core.planning import CustomerLive
from reconciler.core.words import count
from reconciler.providers.base import CustomerProviders, DirectoryScope

log = logging.getLogger("reconciler.engine")


def scope_for(eff: EffectiveCustomer, full_sync: bool) -> DirectoryScope:
    """The union of the end-user and admin selections: AD OUs and groups, Entra
    groups (exclusions too), roles and whether licence SKUs need mapping."""
    ous: list[str] = []
    groups: list[str] = []
    entra_groups: list[str] = []
    entra_direct: list[str] = []
    roles: list[str] = []
    eligible = skus = False
    for binding in (eff.end_user, eff.admin):
        if binding is None:
            continue
        sel = binding.settings.selection
        if binding.settings.source is Source.ACTIVE_DIRECTORY:
            ous += sel.ous
            groups += sel.groups
            continue
        entra_groups += (*sel.groups, *sel.exclude.groups)
        if not sel.nested(entra=True):
            entra_direct += sel.groups
        roles += [rid for rid in (role_id(r) for r in sel.roles) if rid is not None]
        eligible = eligible or (sel.include_eligible and bool(sel.roles))
        skus = skus or bool(sel.skus)
    return DirectoryScope(
        tuple(dict.fromkeys(ous)),
        tuple(dict.fromkeys(groups)),
        True,
        full_sync,
        entra_groups=tuple(dict.fromkeys(entra_groups)),
        entra_direct=tuple(dict.fromkeys(entra_direct)),
        entra_roles=tuple(dict.fromkeys(roles)),
        entra_eligible=eligible,
        entra_skus=skus,
    )


def read_live(
    providers: CustomerProviders,
    eff: EffectiveCustomer,
    full_sync: bool = False,
    refresh_selection: bool = False,
) -> CustomerLive:
    """Every source and integration of one customer, in full (explain, drift, rebuild)."""
    dirs = read_directories(providers, eff, full_sync, refresh_selection)
    kinds = {p.kind for p in (providers.vault, providers.contacts) if p is not None}
    return read_integrations(providers, eff, dirs, kinds)


def read_directories(
    providers: CustomerProviders,
    eff: EffectiveCustomer,
    full_sync: bool = False,
    refresh_selection: bool = False,
) -> LiveDirectories:
    """The customer's directories (deltas where the readers keep them); a line each at -v (#17)."""
    scope = replace(scope_for(eff, full_sync), refresh_selection=refresh_selection)
    took = _Took(eff.name)
    entra = providers.entra.read(scope) if providers.entra else None
    took.read("Entra ID", count(len(entra.users), "user") if entra is not None else None)
    ad = providers.ad.read(scope) if providers.ad else None
    took.read("Active Directory", count(len(ad.users), "user") if ad is not None else None)
    return LiveDirectories(entra=entra, ad=ad)


def read_integrations(
    providers: CustomerProviders,
    eff: EffectiveCustomer,
    dirs: LiveDirectories,
    kinds: set[IntegrationKind],
) -> CustomerLive:
    """The integrations in `kinds` listed in full; the others are not read (None)."""
    took = _Took(eff.name)
    vault, contacts = providers.vault, providers.contacts
    vault = vault if vault is not None and vault.kind in kinds else None
    contacts = contacts if contacts is not None and contacts.kind in kinds else None
    entries = tuple(vault.list_entries()) if vault else None
    took.read(
        vault.kind.value if vault else "", entries is not None and count(len(entries), "password entry")
    )
    people = tuple(contacts.list_contacts()) if contacts else None
    took.read(
        contacts.kind.value if contacts else "", count(len(people), "contact") if people is not None else None
    )
    return CustomerLive(
        dirs,
        entries,
        vault.kind if vault else None,
        people,
        contacts.kind if contacts else None,
    )


class _Took:
    """One INFO line per read (shown by `-v`): what, how many, how long."""

    def __init__(self, customer: str) -> None:
        self.customer, self.mark = customer, time.monotonic()

    def read(self, source: str, what: str | bool | None) -> None:
        now = time.monotonic()
        if isinstance(what, str):
            log.info("%s: read %s from %s in %.1fs", self.customer, what, source, now - self.mark)
        self.mark = now
