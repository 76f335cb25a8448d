"""Live stage (AD): resolve a customer's selected OUs and groups against the DC and
check them the way validation cannot offline.

- the OU or group exists, and is an OU/container or a security group (R2);
- the group's SID is not a well-known one (R4) -- names differ by language and
  can be changed, SIDs cannot;
- the group does not live in the Builtin or Users container (R5), judged on the
  DN the DC reports;
- no OU or group is selected for both end-user and admin import (R7), judged on
  objectGUID after resolution (so different spellings of one DN, or an OU
  inside another selected OU, are caught).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.config.adnames import default_container, is_under, is_well_known_sid
from reconciler.config.models import Source
from reconciler.config.resolve import EffectiveCustomer, ImportBinding
from reconciler.providers.ldap.conn import NoSuchObject, Session
from reconciler.providers.ldap.entries import CLASS_ATTRIBUTES, GROUP_ATTRIBUTES, Entry, is_security_group

OU_CLASSES = frozenset({"organizationalunit", "container", "domaindns", "builtindomain"})
RESOLVE_ATTRIBUTES = (*GROUP_ATTRIBUTES, *CLASS_ATTRIBUTES)


class Kind(StrEnum):
    OU = "OU"
    GROUP = "group"


@dataclass(frozen=True)
class Resolved:
    """One selection entry as the DC knows it; `entry` is None when it does not exist."""

    kind: Kind
    dn: str
    entry: Entry | None
    problems: tuple[str, ...]
    renamed: bool = False  # found by its recorded objectGUID at another DN

    @property
    def ok(self) -> bool:
        return self.entry is not None and not self.problems


def resolve(session: Session, kind: Kind, dn: str) -> Resolved:
    try:
        entry = session.read(dn, RESOLVE_ATTRIBUTES)
    except NoSuchObject:
        return Resolved(kind, dn, None, ("does not exist in the directory",))
    return Resolved(kind, dn, entry, tuple(_problems(kind, entry)))


def _problems(kind: Kind, entry: Entry) -> list[str]:
    classes = entry.object_classes
    if kind is Kind.OU:
        if not classes & OU_CLASSES:
            return [f"is not an OU or container (it is a {_main_class(classes)})"]
        return []
    if "group" not in classes:
        return [f"is not a group (it is a {_main_class(classes)})"]
    problems = []
    sid = entry.sid
    if sid is not None and is_well_known_sid(sid):
        problems.append(f"is a well-known group (SID {sid}) and can never be selected (R4)")
    container = default_container(entry.dn)
    if container is not None:
        problems.append(
            f"lives in the default {container} container ({entry.dn}); members of groups there do not import (R5)"
        )
    if not is_security_group(entry):
        problems.append("is a distribution group; select security groups (R2)")
    return problems


def _main_class(classes: frozenset[str]) -> str:
    for name in ("user", "computer", "contact", "group", "organizationalunit", "container"):
        if name in classes:
            return name
    return "/".join(sorted(classes)) or "object without objectClass"


# --- problems as the customer reads them -------------------------------------------


def _ad_bindings(customer: EffectiveCustomer) -> list[tuple[str, ImportBinding]]:
    out = []
    for label, binding in (("end-user import", customer.end_user), ("admin import", customer.admin)):
        if binding is not None and binding.settings.source is Source.ACTIVE_DIRECTORY:
            out.append((f"{label} ({binding.origin})", binding))
    return out


def who_selects(customer: EffectiveCustomer, kind: Kind, dn: str) -> list[str]:
    """Labels of the customer's import settings that select `dn`, e.g. 'end-user import (policy std)'."""
    labels = []
    for label, binding in _ad_bindings(customer):
        sel = binding.settings.selection
        if dn in (sel.ous if kind is Kind.OU else sel.groups):
            labels.append(label)
    return labels or ["selection"]


def describe(customer: EffectiveCustomer, resolved: Resolved) -> list[str]:
    who = " and ".join(who_selects(customer, resolved.kind, resolved.dn))
    return [
        f"customer {customer.name}: {who} {resolved.kind.value} {resolved.dn!r} {problem}"
        for problem in resolved.problems
    ]


def overlap_problems(customer: EffectiveCustomer, resolved: list[Resolved]) -> list[str]:
    """R7 after resolution: one object (by GUID), or an OU inside another OU, selected
    by both the end-user and the admin import."""
    bindings = _ad_bindings(customer)
    if len(bindings) < 2:
        return []
    (end_label, end), (admin_label, admin) = bindings
    by_dn = {(r.kind, r.dn): r for r in resolved if r.entry is not None}

    def picked(binding: ImportBinding) -> list[Resolved]:
        sel = binding.settings.selection
        keys = [(Kind.OU, dn) for dn in sel.ous] + [(Kind.GROUP, dn) for dn in sel.groups]
        return [by_dn[k] for k in keys if k in by_dn]

    problems = []
    for e in picked(end):
        for a in picked(admin):
            assert e.entry is not None and a.entry is not None
            if e.entry.guid == a.entry.guid:
                how = "is the same object as"
            elif e.kind is Kind.OU and a.kind is Kind.OU and is_under(e.entry.dn, a.entry.dn):
                how = "lies inside"
            elif e.kind is Kind.OU and a.kind is Kind.OU and is_under(a.entry.dn, e.entry.dn):
                how = "contains"
            else:
                continue
            problems.append(
                f"customer {customer.name}: {end_label} {e.kind.value} {e.dn!r} {how} "
                f"{a.kind.value} {a.dn!r} of the {admin_label}; a selection cannot be in both (R7)"
            )
    return problems
