"""Live stage (AD): members of selected groups, direct and nested (R2, R6).

Members are found by searching users whose `memberOf` is the group -- never the
group's `member` attribute, which AD cuts at 1500 values -- for all groups at
once (one paged search with an OR of the groups), and sorted to their groups
by the `memberOf` each user carries. Primary-group members (left out of memberOf)
are found by `primaryGroupID`.

Nested groups are walked from the DC level by level with plain `memberOf=`
searches for groups (one search per nesting level). The in-chain matching rule
(1.2.840.113556.1.4.1941) would give the same answer, but Samba evaluates it by
walking every user: 0.5 s per group at 2,000 users and growing with the
directory, against milliseconds for the indexed equality searches used here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from ldap3.utils.conv import escape_filter_chars

from reconciler.config.adnames import is_under, normalize_dn
from reconciler.core.model import DirectoryGroup, DirectoryUser
from reconciler.providers.ldap.conn import Session
from reconciler.providers.ldap.entries import (
    GROUP_ATTRIBUTES,
    GROUPS_FILTER,
    USER_ATTRIBUTES,
    USERS_FILTER,
    to_group,
    to_user,
)
from reconciler.providers.ldap.state import SelectedGroup, SyncState

OR_BATCH = 100  # groups per OR filter; keeps filters far below server request limits


def _batches(items: Sequence[str], size: int = OR_BATCH) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _member_of_any(dns: Iterable[str]) -> str:
    return "".join(f"(memberOf={escape_filter_chars(dn)})" for dn in dns)


def chain_dns(state: SyncState, group: SelectedGroup) -> set[str]:
    """DNs of the groups nested (at any depth) in a selected group."""
    return {n.dn for gid in group.chain if (n := state.nested_groups.get(gid)) is not None and n.dn}


class Membership:
    """Which of some selected groups a user belongs to, judged on the user's (fresh)
    memberOf and primaryGroupID: directly, or with `nested` through the groups
    nested in them. Built once per run: O(memberships) per user."""

    def __init__(self, state: SyncState, groups: Iterable[SelectedGroup], base_dn: str, nested: bool) -> None:
        self.base_dn = base_dn
        self.by_dn: dict[str, list[SelectedGroup]] = {}
        self.by_rid: dict[int, list[SelectedGroup]] = {}
        for group in groups:
            for dn in {group.server_dn, *(chain_dns(state, group) if nested else ())}:
                self.by_dn.setdefault(normalize_dn(dn), []).append(group)
            if group.rid is not None:
                self.by_rid.setdefault(group.rid, []).append(group)

    def groups_of(self, user: DirectoryUser) -> list[SelectedGroup]:
        if not is_under(user.dn or "", self.base_dn):
            return []
        found = {id(g): g for dn in user.member_of for g in self.by_dn.get(normalize_dn(dn), ())}
        if user.primary_group_id is not None:
            found.update((id(g), g) for g in self.by_rid.get(user.primary_group_id, ()))
        return list(found.values())


def discover_nested(session: Session, naming_context: str, roots: Sequence[str]) -> list[DirectoryGroup]:
    """Every group inside `roots`, at any depth (cycles are safe)."""
    found: dict[str, DirectoryGroup] = {}
    seen = {normalize_dn(dn) for dn in roots}
    frontier = list(roots)
    while frontier:
        following: list[str] = []
        for batch in _batches(frontier):
            flt = f"(&{GROUPS_FILTER}(|{_member_of_any(batch)}))"
            for entry in session.search(naming_context, flt, GROUP_ATTRIBUTES):
                group = to_group(entry)
                found[group.id] = group
                if normalize_dn(entry.dn) not in seen:
                    seen.add(normalize_dn(entry.dn))
                    following.append(entry.dn)
        frontier = following
    return list(found.values())


def _closure(root: str, children: dict[str, set[str]]) -> set[str]:
    out: set[str] = set()
    stack = [normalize_dn(root)]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def member_search_filter(state: SyncState, groups: Sequence[SelectedGroup], nested: bool) -> list[str]:
    """OR filters (in batches) matching users in any of `groups` (and their chains)."""
    dns = sorted({dn for g in groups for dn in (g.server_dn, *(chain_dns(state, g) if nested else ()))})
    rids = sorted({g.rid for g in groups if g.rid is not None})
    primaries = "".join(f"(primaryGroupID={r})" for r in rids)
    filters = [f"(&{USERS_FILTER}(|{_member_of_any(batch)}))" for batch in _batches(dns)]
    if primaries:
        filters.append(f"(&{USERS_FILTER}(|{primaries}))")
    return filters


def read_groups(
    session: Session, state: SyncState, groups: Sequence[SelectedGroup], base_dn: str, nested: bool
) -> None:
    """(Re)read the members of `groups` (and the groups nested in them) from scratch."""
    if not groups:
        return
    before = {g.dn: (set(g.members), chain_dns(state, g)) for g in groups}
    if nested:
        found = discover_nested(session, state.naming_context, [g.server_dn for g in groups])
        children: dict[str, set[str]] = {}
        by_dn: dict[str, str] = {}
        for nested_group in found:
            state.nested_groups[nested_group.id] = nested_group
            by_dn[normalize_dn(nested_group.dn or "")] = nested_group.id
            for parent in nested_group.member_of:
                children.setdefault(normalize_dn(parent), set()).add(normalize_dn(nested_group.dn or ""))
        for group in groups:
            group.chain = {by_dn[dn] for dn in _closure(group.server_dn, children) if dn in by_dn}
    else:
        for group in groups:
            group.chain = set()
    for group in groups:
        group.members = set()
    membership = Membership(state, groups, base_dn, nested)
    for flt in member_search_filter(state, groups, nested):
        for entry in session.search(base_dn, flt, USER_ATTRIBUTES):
            user = to_user(entry)
            for group in membership.groups_of(user):
                state.users[user.id] = user
                group.members.add(user.id)
    for group in groups:
        members, old_chain = before[group.dn]
        forget_membership(state, members - group.members, {group.server_dn, *old_chain})


def forget_membership(state: SyncState, guids: Iterable[str], group_dns: set[str]) -> None:
    """Users that left a group keep a stale memberOf in the cache (the user object
    did not change); drop the group (and the groups nested in it) from it."""
    gone = {normalize_dn(dn) for dn in group_dns}
    for guid in guids:
        user = state.users.get(guid)
        if user is not None:
            kept = tuple(dn for dn in user.member_of if normalize_dn(dn) not in gone)
            state.users[guid] = replace(user, member_of=kept)


def present_members(
    session: Session, state: SyncState, groups: Sequence[SelectedGroup], base_dn: str, nested: bool
) -> set[str]:
    """GUIDs of the users in any of `groups` now (the presence check: GUIDs only)."""
    present: set[str] = set()
    for flt in member_search_filter(state, groups, nested):
        present |= {e.guid for e in session.search(base_dn, flt, ("objectGUID",))}
    return present
