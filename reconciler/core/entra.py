"""Pure core, desired stage (Entra): who a Microsoft 365 selection imports (R1, R22, R23).

End users (R22): licensed (default) and/or members of the selected groups
(transitive by default), optionally with particular licence SKUs; guests left
out unless asked; exclusions by group, UPN glob and domain; disabled accounts
never. Administrators (R23): holders of the selected directory roles (roles
assigned to a group count for its members; PIM-eligible ones on request)
and/or members of the selected groups.

Every user the selection saw but did not import gets a `Note` with its reason.
End-user selections see the whole tenant; administrator selections see the
role holders and group members only (everyone else is simply not an admin).
All lookups are dicts and sets: O(users + memberships).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.config.entraroles import is_object_id, role_id, role_name
from reconciler.config.models import Exclude, Selection
from reconciler.core.model import AccountClass, DirectoryGroup, DirectorySnapshot, DirectoryUser
from reconciler.core.notes import Note, Reason


@dataclass(frozen=True)
class GroupIndex:
    """Groups of a snapshot by object id, display name and alias (case-insensitive)."""

    by_ref: dict[str, DirectoryGroup]

    @classmethod
    def of(cls, snapshot: DirectorySnapshot) -> GroupIndex:
        by_ref: dict[str, DirectoryGroup] = {}
        for g in snapshot.groups:  # names first, then aliases and ids win over a clashing name
            by_ref.setdefault(g.name.casefold(), g)
        for g in snapshot.groups:
            for alias in g.aliases:
                by_ref[alias.casefold()] = g
            by_ref[g.id.casefold()] = g
        return cls(by_ref)

    def get(self, reference: str) -> DirectoryGroup | None:
        return self.by_ref.get(reference.strip().casefold())


def excluder(exclude: Exclude, groups: GroupIndex) -> Callable[[DirectoryUser], str | None]:
    """A function telling why a user is excluded ("UPN pattern svc-*"), or None."""
    patterns = [p.casefold() for p in exclude.upns]
    domains = {d.casefold().lstrip("@") for d in exclude.domains}
    members: dict[str, str] = {}
    for ref in exclude.groups:
        g = groups.get(ref)
        if g is not None:
            for uid in g.members:
                members.setdefault(uid, g.name)

    def why(user: DirectoryUser) -> str | None:
        upn = user.upn.casefold()
        for pattern in patterns:
            if fnmatchcase(upn, pattern):
                return f"UPN pattern {pattern}"
        domain = upn.rpartition("@")[2]
        if domain in domains:
            return f"domain {domain}"
        group = members.get(user.id)
        return f"group {group}" if group is not None else None

    return why


def entra_candidates(
    account_class: AccountClass,
    sel: Selection,
    snapshot: DirectorySnapshot,
    notes: list[Note],
    warnings: list[str],
) -> list[DirectoryUser]:
    admin = account_class is AccountClass.ADMIN
    groups = GroupIndex.of(snapshot)
    nested = sel.nested(entra=True)

    # users in the selected groups: True = a member as selected, False = nested only
    in_group: dict[str, bool] | None = None
    if sel.groups:
        in_group = {}
        for ref in sel.groups:
            g = groups.get(ref)
            if g is None:
                warnings.append(f"Entra group {ref!r} was not found in the tenant; it selects nobody (R22)")
                continue
            direct = set(g.direct_members) if g.direct_members is not None else None
            for uid in g.members:
                selected = nested or direct is None or uid in direct
                in_group[uid] = in_group.get(uid, False) or selected

    holders, eligible_only = _role_holders(sel, snapshot, groups, warnings)
    skus = _sku_ids(sel, snapshot, warnings)
    wants_license = sel.wants_license(admin)
    excluded = excluder(sel.exclude, groups)
    group_names = ", ".join(sel.groups)

    out: list[DirectoryUser] = []
    for user in snapshot.users:
        member = in_group.get(user.id) if in_group is not None else None
        if admin:
            if user.id not in holders and not member:
                if user.id in eligible_only:
                    _note(
                        notes,
                        account_class,
                        user,
                        Reason.NOT_SELECTED,
                        "R23",
                        "holds a selected role as PIM-eligible only (includeEligible is off)",
                    )
                elif member is False:
                    _note(
                        notes,
                        account_class,
                        user,
                        Reason.NESTED_ONLY,
                        "R6",
                        "member of a nested group only (includeNestedGroups is off)",
                    )
                continue  # else not an admin: nothing to explain
        elif member is False:
            _note(
                notes,
                account_class,
                user,
                Reason.NESTED_ONLY,
                "R6",
                "member of a nested group only (includeNestedGroups is off)",
            )
            continue
        elif member is None and in_group is not None:
            _note(
                notes,
                account_class,
                user,
                Reason.NOT_SELECTED,
                "R22",
                f"not in a selected group ({group_names})",
            )
            continue
        if not user.enabled:
            _note(notes, account_class, user, Reason.DISABLED, "R1", "account disabled")
            continue
        if user.guest and not sel.include_guests:
            _note(
                notes,
                account_class,
                user,
                Reason.GUEST,
                "R22",
                "guest (userType Guest; includeGuests is off)",
            )
            continue
        why = excluded(user)
        if why is not None:
            _note(notes, account_class, user, Reason.EXCLUDED, "R22", f"excluded by {why}")
            continue
        if wants_license and not user.licensed:
            _note(notes, account_class, user, Reason.UNLICENSED, "R1", "no licence assigned")
            continue
        if skus is not None and not skus & {s.lower() for s in user.sku_ids}:
            _note(
                notes,
                account_class,
                user,
                Reason.UNLICENSED,
                "R22",
                f"no licence among the selected SKUs ({', '.join(sel.skus)})",
            )
            continue
        out.append(user)
    return out


def _note(
    notes: list[Note], cls: AccountClass, user: DirectoryUser, reason: Reason, rule: str, text: str
) -> None:
    notes.append(Note(cls, user.upn, rule, f"not imported: {text}", reason, user.id))


def _role_holders(
    sel: Selection, snapshot: DirectorySnapshot, groups: GroupIndex, warnings: list[str]
) -> tuple[set[str], set[str]]:
    """User ids holding a selected role (active, or eligible when asked), and those
    holding one only as eligible while eligibility is off."""
    if not sel.roles:
        return set(), set()
    wanted = {rid for rid in (role_id(r) for r in sel.roles) if rid is not None}
    roles = {r.id.lower(): r for r in snapshot.roles}
    active: set[str] = set()
    eligible: set[str] = set()
    for rid in sorted(wanted):
        role = roles.get(rid)
        if role is None:
            continue  # nobody holds it (an empty role is not listed)
        for h in role.holders:
            users: tuple[str, ...] = (h.principal_id,)
            if h.principal_type == "group":
                g = groups.get(h.principal_id)
                if g is None:
                    warnings.append(
                        f"role {role_name(rid)} is assigned to group {h.principal_id}, whose members were not read (R23)"
                    )
                    continue
                users = g.members
            elif h.principal_type != "user":
                continue  # service principals are not people
            (eligible if h.eligible else active).update(users)
    if sel.include_eligible:
        return active | eligible, set()
    return active, eligible - active


def _sku_ids(sel: Selection, snapshot: DirectorySnapshot, warnings: list[str]) -> set[str] | None:
    """The skuIds a selection asks for (part numbers mapped with /subscribedSkus), or None."""
    if not sel.skus:
        return None
    by_part = {s.part_number.casefold(): s.id.lower() for s in snapshot.skus}
    ids: set[str] = set()
    for sku in sel.skus:
        if is_object_id(sku):  # a skuId as is
            ids.add(sku.strip().lower())
        elif sku.casefold() in by_part:
            ids.add(by_part[sku.casefold()])
        else:
            warnings.append(
                f"licence {sku!r} is not among the tenant's subscribed SKUs; nobody holds it (R22)"
            )
    return ids
