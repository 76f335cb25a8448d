"""Config stage: which import settings apply to each customer (R20).

A customer belongs to at most one ImportPolicy and at most one
AdminImportPolicy, by name (either side may name the other) or by label
selector; outside every policy it uses its own settings. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from reconciler.config.adnames import dn_parts
from reconciler.config.load import ConfigSet, Loaded
from reconciler.config.models import (
    AdminImportPolicyDoc,
    CustomerDoc,
    ImportPolicyDoc,
    ImportSettings,
    Safety,
    Source,
)


@dataclass(frozen=True)
class ImportBinding:
    """Import settings for one class of account of a customer, and where they came from."""

    settings: ImportSettings
    origin: str  # "policy <name>" or "customer"
    policy: str | None
    policy_paused: bool


@dataclass(frozen=True)
class EffectiveCustomer:
    name: str
    doc: CustomerDoc
    end_user: ImportBinding | None
    admin: ImportBinding | None
    safety: Safety

    @property
    def paused(self) -> bool:
        """R10: the customer or a policy it belongs to is paused."""
        bindings = (self.end_user, self.admin)
        return self.doc.spec.paused or any(b is not None and b.policy_paused for b in bindings)


PolicyDoc = ImportPolicyDoc | AdminImportPolicyDoc


def policy_members(
    policies: dict[str, Loaded[ImportPolicyDoc]] | dict[str, Loaded[AdminImportPolicyDoc]],
    customer: CustomerDoc,
    named: str | None,
) -> list[str]:
    """Names of the policies (of one class) that select `customer`."""
    out: list[str] = []
    for name, loaded in policies.items():
        applies = loaded.doc.spec.applies_to
        hit = name == named or customer.metadata.name in applies.customers
        selector = applies.label_selector
        if selector is not None:
            hit = hit or selector.matches(customer.metadata.labels)
        if hit:
            out.append(name)
    return out


def _binding(
    policies: dict[str, Loaded[ImportPolicyDoc]] | dict[str, Loaded[AdminImportPolicyDoc]],
    customer: CustomerDoc,
    named: str | None,
    own: ImportSettings | None,
) -> ImportBinding | None:
    members = policy_members(policies, customer, named)
    ad = customer.spec.directories.active_directory
    base_dn = ad.base_dn if ad is not None else None
    if members:
        spec = policies[members[0]].doc.spec
        return ImportBinding(anchored(spec, base_dn), f"policy {members[0]}", members[0], spec.paused)
    if own is not None:
        return ImportBinding(anchored(own, base_dn), "customer", None, False)
    return None


S = TypeVar("S", bound=ImportSettings)


def anchored(settings: S, base_dn: str | None) -> S:
    """Selections with every DN absolute: one written without DC= components
    (`OU=Staff`, `CN=M365 Users,OU=Groups`) is relative to the customer's baseDn,
    so one policy serves customers in different domains."""
    sel = settings.selection
    if base_dn is None or settings.source is not Source.ACTIVE_DIRECTORY:
        return settings  # Entra groups are object ids or display names, not DNs
    if not (sel.ous or sel.groups or sel.exclude.groups):
        return settings

    def absolute(dn: str) -> str:
        return dn if any(part.startswith("dc=") for part in dn_parts(dn)) else f"{dn},{base_dn}"

    ous = tuple(absolute(dn) for dn in sel.ous)
    groups = tuple(absolute(dn) for dn in sel.groups)
    excluded = tuple(absolute(dn) for dn in sel.exclude.groups)
    if ous == sel.ous and groups == sel.groups and excluded == sel.exclude.groups:
        return settings
    exclude = sel.exclude.model_copy(update={"groups": excluded})
    update = {"ous": ous, "groups": groups, "exclude": exclude}
    return settings.model_copy(update={"selection": sel.model_copy(update=update)})


def effective_customers(config: ConfigSet) -> dict[str, EffectiveCustomer]:
    """Resolved settings of every customer. Assumes `rules.check` found no R20 errors."""
    return {name: effective_customer(config, name) for name in sorted(config.customers)}


def effective_customer(config: ConfigSet, name: str) -> EffectiveCustomer:
    """Resolved settings of one customer (KeyError when there is none by that name)."""
    loaded = config.customers[name]
    spec = loaded.doc.spec
    end_user = _binding(config.policies, loaded.doc, spec.import_policy, spec.import_)
    admin = _binding(config.admin_policies, loaded.doc, spec.admin_import_policy, spec.admin_import)
    safety = (end_user.settings.safety if end_user else None) or config.settings_doc.spec.safety
    return EffectiveCustomer(name, loaded.doc, end_user, admin, safety)
