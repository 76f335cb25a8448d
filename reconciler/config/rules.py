"""Config stage: semantic rules checked without touching any live system.

Every rule adds `Problem`s with the file:line of the offending entry; `check`
returns them all at once. Rule ids (R2, R4, ...) are in the messages so a
reviewer can look them up in DOMAIN.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_snake

from reconciler.config.adnames import (
    WELL_KNOWN_GROUP_NAMES,
    default_container,
    dn_parts,
    is_under,
    normalize_dn,
    rdn_value,
)
from reconciler.config.entraroles import BUILTIN_ROLES, role_id
from reconciler.config.load import ConfigSet, Loaded
from reconciler.config.messages import suggest
from reconciler.config.models import (
    AdminImportPolicyDoc,
    CustomerDoc,
    ImportPolicyDoc,
    ImportSettings,
    Source,
)
from reconciler.config.resolve import ImportBinding, effective_customers, policy_members
from reconciler.config.secretpaths import check_secret_paths
from reconciler.config.unique import check_unique
from reconciler.config.welcome import MAX_TEMPLATE_BYTES, check_placeholders, read_template
from reconciler.config.yamlsrc import Document, Path_
from reconciler.errors import Problem
from reconciler.integrations.facts import Facts
from reconciler.integrations.kinds import IntegrationKind, Role
from reconciler.integrations.table import TABLE, linked, of_role


@dataclass(frozen=True)
class _Settings:
    """One block of import settings and where it is written."""

    settings: ImportSettings
    src: Document
    path: Path_
    admin: bool = False
    members: tuple[str, ...] = ()  # the customers these settings apply to


def check(config: ConfigSet) -> list[Problem]:
    problems: list[Problem] = []
    for block in _settings_blocks(config):
        problems.extend(_check_selection(block))
        problems.extend(_check_features(config, block))
    membership = list(_check_membership(config))
    problems.extend(membership)
    problems.extend(check_unique(config))
    problems.extend(check_secret_paths(config))
    if not membership:  # per-customer rules need membership to resolve cleanly
        problems.extend(_check_customers(config))
    return list(dict.fromkeys(problems))


def _settings_blocks(config: ConfigSet) -> Iterator[_Settings]:
    for pol in config.policies.values():
        yield _Settings(pol.doc.spec, pol.src, ("spec",))
    for name, apol in config.admin_policies.items():
        members = tuple(
            cname
            for cname, cust in sorted(config.customers.items())
            if name in policy_members(config.admin_policies, cust.doc, cust.doc.spec.admin_import_policy)
        )
        yield _Settings(apol.doc.spec, apol.src, ("spec",), admin=True, members=members)
    for cust in config.customers.values():
        if cust.doc.spec.import_ is not None:
            yield _Settings(cust.doc.spec.import_, cust.src, ("spec", "import"))
        if cust.doc.spec.admin_import is not None:
            yield _Settings(
                cust.doc.spec.admin_import,
                cust.src,
                ("spec", "adminImport"),
                admin=True,
                members=(cust.doc.metadata.name,),
            )


UPGRADE_NOTE = (
    "earlier releases imported every licensed user as an administrator here; once roles are set, "
    "the next plan removes the admin accounts that hold none of them and the removal guard holds it: "
    "review that plan, then approve it once with `reconciler apply --allow-mass-removal` "
    "(daemon: `reconciler override CUSTOMER`); see docs/entra-selection.md"
)


def _check_selection(block: _Settings) -> Iterator[Problem]:
    s, src, base = block.settings, block.src, block.path
    sel = s.selection
    at_sel = (*base, "selection")
    if sel.include_nested_groups and not sel.groups:
        yield src.problem(
            (*at_sel, "includeNestedGroups"), "includeNestedGroups needs groups in the selection (R6)"
        )
    if s.source is Source.ENTRA:
        yield from _check_entra_selection(block)
        return
    for name in ("licensed", "skus", "includeGuests", "roles", "includeEligible"):
        value = getattr(sel, to_snake(name))
        if value not in (None, (), False):
            yield src.problem((*at_sel, name), f"selection.{name} applies to source entra only (R22, R23)")
    for i, group in enumerate(sel.exclude.groups):
        if not normalize_dn(group).startswith("cn="):
            yield src.problem(
                (*at_sel, "exclude", "groups", i),
                f"exclude group {group!r} is not a distinguished name (CN=...,DC=...)",
            )
    if sel.ous and sel.groups:
        yield src.problem(at_sel, "select OUs or groups, not both (R2)")
    if not sel.ous and not sel.groups:
        yield src.problem(
            (*base, "source"), "an activeDirectory import must select at least one OU or group (R2)"
        )
    split = [*_split_dns(src, at_sel, "groups", sel.groups), *_split_dns(src, at_sel, "ous", sel.ous)]
    yield from split
    if split:
        return
    for i, group in enumerate(sel.groups):
        where = (*at_sel, "groups", i)
        if not normalize_dn(group).startswith("cn="):
            yield src.problem(where, f"group {group!r} is not a distinguished name (CN=...,DC=...)")
            continue
        if rdn_value(group) in WELL_KNOWN_GROUP_NAMES:
            yield src.problem(
                where, f"group {group!r} is a default/well-known group and cannot be selected (R4)"
            )
        container = default_container(group)
        if container is not None:
            yield src.problem(
                where,
                f"group {group!r} is in the default {container} container; members of groups there do not import (R5)",
            )
    for i, ou in enumerate(sel.ous):
        if not normalize_dn(ou).startswith(("ou=", "cn=", "dc=")):
            yield src.problem((*at_sel, "ous", i), f"OU {ou!r} is not a distinguished name (OU=...,DC=...)")


def _split_dns(src: Document, at_sel: Path_, kind: str, dns: tuple[str, ...]) -> Iterator[Problem]:
    """`ous: [OU=Staff,DC=acme,DC=local]` is a YAML flow list of three items: a DN
    split at its commas. A lone `DC=...` item after another one gives it away."""
    for i, dn in enumerate(dns):
        parts = dn_parts(dn)
        if i > 0 and len(parts) == 1 and parts[0].startswith("dc="):
            yield src.problem(
                (*at_sel, kind, i),
                f"{dn!r} looks like the rest of a DN split at its commas: in a [flow, list] YAML splits "
                f'at every comma; quote each DN, e.g. ["OU=Staff,DC=acme,DC=local"]',
            )
            return


def _check_entra_selection(block: _Settings) -> Iterator[Problem]:
    """R22 (end users by licence and/or group) and R23 (administrators by role)."""
    s, src, base = block.settings, block.src, block.path
    sel = s.selection
    at_sel = (*base, "selection")
    if sel.ous:
        yield src.problem(
            (*at_sel, "ous"),
            "selection.ous applies to activeDirectory sources only; Entra selects by groups (R22)",
        )
    if s.password_sync:
        yield src.problem((*base, "passwordSync"), "passwordSync needs source activeDirectory (R3)")
    if sel.licensed is False and not sel.groups and not block.admin:
        yield src.problem(
            (*at_sel, "licensed"),
            "licensed: false needs groups: without them it would import every account of the tenant (R22)",
        )
    if sel.skus and sel.licensed is False:
        yield src.problem(
            (*at_sel, "skus"), "skus select licensed users; they cannot go with licensed: false (R22)"
        )
    for i, sku in enumerate(sel.skus):
        if not sku.strip():
            yield src.problem((*at_sel, "skus", i), "an empty SKU")
    for i, group in enumerate((*sel.groups, *sel.exclude.groups)):
        if normalize_dn(group).startswith("cn=") and "," in group:
            where = (
                (*at_sel, "groups", i)
                if i < len(sel.groups)
                else (*at_sel, "exclude", "groups", i - len(sel.groups))
            )
            yield src.problem(
                where,
                f"{group!r} looks like an AD distinguished name; Entra groups are selected by object id or display name",
            )
    for i, role in enumerate(sel.roles):
        if role_id(role) is None:
            yield src.problem(
                (*at_sel, "roles", i),
                f"unknown directory role {role!r}; use a roleTemplateId or one of: {', '.join(BUILTIN_ROLES)}",
            )
    if sel.include_eligible and not sel.roles:
        yield src.problem((*at_sel, "includeEligible"), "includeEligible needs roles in the selection (R23)")
    if not block.admin and sel.roles:
        yield src.problem(
            (*at_sel, "roles"),
            "roles select administrators: put them in an AdminImportPolicy or adminImport (R23)",
        )
    if block.admin and not sel.roles and not sel.groups:
        yield src.problem(
            (*base, "source"),
            "an Entra administrator import must select roles (or groups), never every licensed user "
            f"(R23); {_applies_to(block.members)}; {UPGRADE_NOTE}",
        )


def _applies_to(members: tuple[str, ...], shown: int = 5) -> str:
    """Whom the upgrade touches: each customer gets its own guarded plan (#15)."""
    if not members:
        return "it applies to no customer yet"
    names = ", ".join(members[:shown]) + (f" and {len(members) - shown} more" if len(members) > shown else "")
    return (
        f"it applies to {len(members)} customer{'' if len(members) == 1 else 's'} ({names}), each of which "
        "will plan the removal "
        "of its admin accounts that hold none of the roles"
    )


def _check_features(config: ConfigSet, block: _Settings) -> Iterator[Problem]:
    """Options that need an MSP-wide feature or connection (R12, R15, R16), reported
    once at the option itself, whichever customers the block applies to."""
    settings = config.settings_doc.spec
    offline = settings.snapshot is not None
    s, src, base = block.settings, block.src, block.path
    at_opt = (*base, "options")
    if not offline and settings.connections.graph is None and (s.source is Source.ENTRA or s.password_sync):
        field = "source" if s.source is Source.ENTRA else "passwordSync"
        yield src.problem(
            (*base, field), f"{field} needs Entra, but Settings has no connections.graph (R1, R3)"
        )
    manager = settings.features.password_manager
    if s.options.password_entry_matching and not manager:
        yield src.problem(
            (*at_opt, "passwordEntryMatching"),
            "passwordEntryMatching needs Settings features.passwordManager: true (R12)",
        )
    if s.options.password_remember and not manager:
        yield src.problem(
            (*at_opt, "passwordRemember"),
            "passwordRemember needs Settings features.passwordManager: true (R15)",
        )
    if s.options.welcome_email:
        if not offline and settings.connections.smtp is None:
            yield src.problem((*at_opt, "welcomeEmail"), "welcomeEmail needs Settings connections.smtp (R16)")
        yield from _check_template(config, src, (*at_opt, "welcomeEmail"))


def _check_template(config: ConfigSet, option_src: Document, option_at: Path_) -> Iterator[Problem]:
    """R16: the welcome template exists inside the config directory. Reported at
    Settings when there is one, so several blocks give one problem."""
    name = config.settings_doc.spec.welcome_email.template
    src, at = option_src, option_at
    if config.settings is not None:
        src, at = config.settings.src, ("spec", "welcomeEmail", "template")
    root = Path(config.root).resolve()
    template = (root / name).resolve()
    if not template.is_relative_to(root):
        yield src.problem(at, f"welcome email template {name} is outside the config directory")
    elif not template.is_file():
        yield src.problem(at, f"welcome email template {name} does not exist (R16)")
    else:
        yield from _check_template_text(config, name, template)
    subject = config.settings_doc.spec.welcome_email.subject
    for p in check_placeholders(subject):
        where = ("spec", "welcomeEmail", "subject") if config.settings is not None else option_at
        yield src.problem(where, f"welcomeEmail.subject: {p.message} (R16)")


def _check_template_text(config: ConfigSet, name: str, template: Path) -> Iterator[Problem]:
    display = str(config.root / name)
    text = read_template(template)
    if text is None:
        yield Problem(f"cannot be read as UTF-8 text of at most {MAX_TEMPLATE_BYTES} bytes (R16)", display)
        return
    for p in check_placeholders(text):
        yield Problem(f"{p.message} (R16)", display, p.line, p.column)


def _check_membership(config: ConfigSet) -> Iterator[Problem]:
    """R20: names resolve; at most one policy per class; policies or own settings, not both."""
    every: list[Loaded[ImportPolicyDoc] | Loaded[AdminImportPolicyDoc]] = [
        *config.policies.values(),
        *config.admin_policies.values(),
    ]
    for pol in every:
        selector = pol.doc.spec.applies_to.label_selector
        if selector is not None and selector.empty:
            yield pol.src.problem(
                ("spec", "appliesTo", "labelSelector"),
                "labelSelector.matchLabels is empty and it has no matchExpressions, so it selects no customer; name labels or customers (R20)",
            )
        for i, member in enumerate(pol.doc.spec.applies_to.customers):
            if member not in config.customers:
                yield pol.src.problem(
                    ("spec", "appliesTo", "customers", i),
                    f"unknown customer {member!r} (R20){suggest(member, config.customers)}",
                )
    for name, cust in config.customers.items():
        spec = cust.doc.spec
        classes: tuple[tuple[str, str, str, dict[str, Any], str | None, ImportSettings | None], ...] = (
            ("importPolicy", "import", "ImportPolicy", config.policies, spec.import_policy, spec.import_),
            ("adminImportPolicy", "adminImport", "AdminImportPolicy", config.admin_policies,
             spec.admin_import_policy, spec.admin_import),
        )  # fmt: skip
        for field, own_field, kind, policies, named, own in classes:
            if named is not None and named not in policies:
                yield cust.src.problem(
                    ("spec", field), f"unknown {kind} {named!r} (R20){_hint(config, kind, named)}"
                )
            members = policy_members(policies, cust.doc, named)
            if len(members) > 1:
                yield cust.src.problem(
                    ("metadata", "name"),
                    f"customer {name!r} is a member of more than one {kind}: {', '.join(members)} (R20)",
                )
            if members and own is not None:
                yield cust.src.problem(
                    ("spec", own_field),
                    f"customer {name!r} has its own {own_field} settings but is a member of {kind} {members[0]!r}; use one (R20)",
                )


def _hint(config: ConfigSet, kind: str, named: str) -> str:
    """Did you mean another policy of this kind, or is `named` a policy of the other class?"""
    same, other, other_field = (
        (config.policies, config.admin_policies, "adminImportPolicy")
        if kind == "ImportPolicy"
        else (config.admin_policies, config.policies, "importPolicy")
    )
    close = suggest(named, same)
    if close:
        return close
    if named in other:
        other_kind = "AdminImportPolicy" if kind == "ImportPolicy" else "ImportPolicy"
        return f" ({named!r} is an {other_kind}: name it under {other_field})"
    return ""


def _check_customers(config: ConfigSet) -> Iterator[Problem]:
    for name, eff in effective_customers(config).items():
        cust = config.customers[name]
        yield from _check_pins(cust)
        links = cust.doc.spec.integrations
        dirs = cust.doc.spec.directories
        psas = linked(links, Role.PSA)
        if len(psas) > 1:
            yield cust.src.problem(
                ("spec", "integrations"),
                f"link {_either(psas)}: one PSA per customer (R14)",
            )
        if eff.end_user is not None and eff.admin is not None:
            yield from _check_overlap(config, cust, eff.end_user, eff.admin)
        for binding in (eff.end_user, eff.admin):
            if binding is None:
                continue
            s, opt, why = binding.settings, binding.settings.options, binding.origin
            if (s.source is Source.ENTRA or s.password_sync) and dirs.entra is None:
                yield cust.src.problem(
                    ("spec", "directories"),
                    f"{why} imports from Entra but the customer has no directories.entra.tenantId (R1, R3)",
                )
            if s.source is Source.ACTIVE_DIRECTORY and dirs.active_directory is None:
                yield cust.src.problem(
                    ("spec", "directories"),
                    f"{why} imports from Active Directory but the customer has no directories.activeDirectory (R2)",
                )
            if opt.password_entry_matching:
                yield from _check_matching(config, cust, why, Role.VAULT)
            if opt.contact_matching:
                yield from _check_matching(config, cust, why, Role.PSA)


def _check_pins(cust: Loaded[CustomerDoc]) -> Iterator[Problem]:
    links = cust.doc.spec.integrations
    seen: set[tuple[str, IntegrationKind]] = set()
    for i, pin in enumerate(cust.doc.spec.pins):
        where = ("spec", "pins", i)
        if TABLE[pin.integration].linked_id(links) is None:
            yield cust.src.problem(
                (*where, "integration"),
                f"pin names {pin.integration.value} but the customer is not linked to it (R18)",
            )
        key = (pin.account.lower(), pin.integration)
        if key in seen:
            yield cust.src.problem(
                where, f"more than one pin for {pin.account} in {pin.integration.value} (R18)"
            )
        seen.add(key)


def _check_overlap(
    config: ConfigSet, cust: Loaded[CustomerDoc], end: ImportBinding, admin: ImportBinding
) -> Iterator[Problem]:
    """R7: no OU or group selected for both end-user and admin import. An OU
    inside (or containing) an admin OU overlaps too: its users would be in both."""
    end_sel, admin_sel = end.settings.selection, admin.settings.selection
    src, base = _settings_location(config, cust, end)
    both = f"end-user import ({end.origin}) and admin import ({admin.origin}) of customer {cust.doc.metadata.name!r}"
    if end.settings.source is not admin.settings.source:
        return  # different directories: a person selected by both is imported as admin only (R7)
    if end.settings.source is Source.ENTRA:
        # Entra groups by object id or display name: the same reference twice overlaps
        admin_groups = {g.strip().casefold() for g in admin_sel.groups}
        for i, group in enumerate(end_sel.groups):
            if group.strip().casefold() in admin_groups:
                yield src.problem(
                    (*base, "selection", "groups", i), f"group {group!r} is selected for {both} (R7)"
                )
        return
    admin_dns = {normalize_dn(dn) for dn in (*admin_sel.ous, *admin_sel.groups)}
    for kind in ("ous", "groups"):
        for i, dn in enumerate(getattr(end_sel, kind)):
            where = (*base, "selection", kind, i)
            if normalize_dn(dn) in admin_dns:
                yield src.problem(where, f"{dn!r} is selected for {both} (R7)")
                continue
            if kind != "ous":
                continue
            for other in admin_sel.ous:
                if is_under(other, dn) or is_under(dn, other):
                    yield src.problem(
                        where, f"OU {dn!r} overlaps admin OU {other!r}: users there would be in {both} (R7)"
                    )


def _settings_location(
    config: ConfigSet, cust: Loaded[CustomerDoc], binding: ImportBinding
) -> tuple[Document, Path_]:
    if binding.policy is not None and binding.policy in config.policies:
        return config.policies[binding.policy].src, ("spec",)
    return cust.src, ("spec", "import")


# what each role's matching option is called, and its rule
_MATCHING = {
    Role.VAULT: ("passwordEntryMatching", "password manager", "R12"),
    Role.PSA: ("contactMatching", "PSA", "R14"),
}


def _either(found: tuple[Facts[Any], ...]) -> str:
    """ "IT Glue or Hudu, not both" (several linked where one is allowed)."""
    names = [f.title for f in found]
    return ", ".join(names[:-1]) + " or " + names[-1] + (", not both" if len(names) == 2 else ", only one")


def _check_matching(config: ConfigSet, cust: Loaded[CustomerDoc], why: str, role: Role) -> Iterator[Problem]:
    """R12 / R14: matching needs exactly one integration of its role, linked and connected."""
    option, what, rule = _MATCHING[role]
    settings = config.settings_doc.spec
    found = linked(cust.doc.spec.integrations, role)
    if len(found) > 1 and role is Role.VAULT:
        yield cust.src.problem(
            ("spec", "integrations"),
            f"{option} needs one {what}; link {_either(found)} ({rule})",
        )
    elif not found:
        links = [f.link for f in of_role(role)]
        fields = ", ".join(links[:-1]) + " or " + links[-1] if len(links) > 1 else links[0]
        yield cust.src.problem(
            ("spec", "integrations"), f"{why} enables {option} but the customer has no {fields} ({rule})"
        )
    elif settings.snapshot is None and len(found) == 1 and found[0].connection(settings.connections) is None:
        yield cust.src.problem(
            ("spec", "integrations"), f"{option} needs Settings connections.{found[0].kind.value} ({rule})"
        )
