"""Live stage (AD): full and incremental reads of a customer's selection.

Full sync: read the DC's highestCommittedUSN first, then every selected OU
(subtree search) and the members of the selected groups (groups.py).

Incremental sync (same DC, same invocationId, same scope):
1. highestCommittedUSN unchanged -> nothing at all changed on the DC: reuse the
   cache (two base searches).
2. Otherwise: objects with `uSNChanged` above the cursor (users and groups of
   the whole domain, so moves out of a selection are seen); a selected group
   whose membership changed -- it, or a group nested in it, is in the delta,
   since adding a member changes the group and not the user -- is read again.
3. Removals the delta cannot show (a deleted user is a tombstone, invisible to
   ordinary searches) are found one of two ways, so a stale cache never keeps a
   removed user (R8):
   - tombstones: when the bind account can list CN=Deleted Objects (found at a
     full sync), deleted objects with uSNChanged above the cursor, one search
     with the show-deleted control; a tombstone seen at the full sync must come
     back in every such search, or this account has lost the right and the run
     falls back to the presence check;
   - presence check: otherwise (ordinary accounts cannot), and in any case once
     per `presence_every` seconds, every selection's members are listed by
     objectGUID only, which also catches users moved or hidden where this account
     cannot see them; GUIDs the cache lacks are fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ldap3 import LEVEL

from reconciler.config.adnames import is_under, normalize_dn
from reconciler.core.model import DirectoryGroup, DirectoryUser
from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope
from reconciler.providers.ldap.conn import NoSuchObject, Session
from reconciler.providers.ldap.entries import (
    CLASS_ATTRIBUTES,
    GROUP_ATTRIBUTES,
    GROUPS_FILTER,
    USER_ATTRIBUTES,
    USERS_FILTER,
    Entry,
    escape_bytes,
    guid_bytes,
    guid_text,
    is_security_group,
    rid,
    text,
    to_group,
    to_user,
)
from reconciler.providers.ldap.groups import (
    Membership,
    chain_dns,
    forget_membership,
    present_members,
    read_groups,
)
from reconciler.providers.ldap.selection import Kind, Resolved, resolve
from reconciler.providers.ldap.state import DcIdentity, SelectedGroup, SelectedOu, SyncState

GUID_BATCH = 100
ROOT_ATTRIBUTES = ("highestCommittedUSN", "dsServiceName", "defaultNamingContext")
SHOW_DELETED = ("1.2.840.113556.1.4.417", True, None)
DELETED_OBJECTS_WKGUID = "18e2ea80684f11d2b9aa00c04f79f805"


@dataclass(frozen=True)
class RootInfo:
    usn: int
    dc: DcIdentity
    naming_context: str


def read_root(session: Session) -> RootInfo:
    """rootDSE plus the DC's invocationId (on its NTDS Settings object)."""
    try:
        root = session.read("", ROOT_ATTRIBUTES)
        service = text(root.raw, "dsServiceName") or ""
        ntds = session.read(service, ("invocationId",))
    except NoSuchObject as missing:
        raise ProviderError(session.endpoint.where, f"cannot read {missing.base!r} from the DC") from None
    raw_invocation = ntds.raw.get("invocationId") or [b""]
    usn = text(root.raw, "highestCommittedUSN")
    if not service or not usn or len(raw_invocation[0]) != 16:
        raise ProviderError(session.endpoint.where, "the server does not look like an AD domain controller")
    return RootInfo(
        int(usn),
        DcIdentity(service, guid_text(raw_invocation[0])),
        text(root.raw, "defaultNamingContext") or "",
    )


def scope_key(scope: DirectoryScope, base_dn: str) -> str:
    ous = sorted(normalize_dn(d) for d in scope.ous)
    groups = sorted(normalize_dn(d) for d in scope.groups)
    return f"base={normalize_dn(base_dn)};ous={ous};groups={groups};nested={scope.nested}"


# --- filters -------------------------------------------------------------------------


def guid_filter(guids: Iterable[str]) -> str:
    return "(|" + "".join(f"(objectGUID={escape_bytes(guid_bytes(g))})" for g in guids) + ")"


# --- full sync -----------------------------------------------------------------------


def resolve_scope(session: Session, scope: DirectoryScope) -> list[Resolved]:
    return [resolve(session, Kind.OU, dn) for dn in scope.ous] + [
        resolve(session, Kind.GROUP, dn) for dn in scope.groups
    ]


def find_tombstones(session: Session, naming_context: str) -> tuple[str, str] | None:
    """The Deleted Objects container and one tombstone in it, when this account
    can list them (admins can). Ordinary accounts can read the container but see
    no children, so it only counts when a tombstone shows."""
    try:
        base = f"<WKGUID={DELETED_OBJECTS_WKGUID},{naming_context}>"
        container = session.read(base, ("objectGUID",), controls=[SHOW_DELETED]).dn
        listing = session.search(
            container, "(isDeleted=TRUE)", ("objectGUID",),
            scope=LEVEL, paged=False, controls=[SHOW_DELETED], size_limit=1,
        )  # fmt: skip
        for tombstone in listing:
            return container, tombstone.guid
    except NoSuchObject:
        pass
    return None


def full_sync(
    session: Session, scope: DirectoryScope, base_dn: str, resolved: list[Resolved], now: float
) -> SyncState:
    """Read everything; `resolved` must be free of problems (the reader checks)."""
    root = read_root(session)  # before reading, so changes made meanwhile are seen next time
    state = SyncState(root.dc, root.usn, scope_key(scope, base_dn), root.naming_context)
    state.deleted_objects, state.tombstone_sentinel = find_tombstones(session, root.naming_context) or (
        None,
        None,
    )
    state.presence_checked_at = now
    for r in resolved:
        assert r.entry is not None
        if r.kind is Kind.OU:
            ou = SelectedOu(r.dn, r.entry.guid, r.entry.dn)
            state.ous[r.dn] = ou
            for entry in _users_under(session, ou.server_dn, ou.dn):
                _keep(state, ou.members, to_user(entry))
        else:
            state.groups[r.dn] = _selected_group(r)
    read_groups(session, state, list(state.groups.values()), base_dn, scope.nested)
    state.prune()
    return state


def _selected_group(r: Resolved) -> SelectedGroup:
    assert r.entry is not None
    g = to_group(r.entry)
    return SelectedGroup(
        r.dn, g.id, r.entry.dn, g.sid, rid(g.sid) if g.sid else None, g.name, g.member_of
    )  # fmt: skip


def _users_under(session: Session, server_dn: str, written: str) -> Iterable[Entry]:
    try:
        yield from session.search(server_dn, USERS_FILTER, USER_ATTRIBUTES)
    except NoSuchObject:
        raise ProviderError(session.endpoint.where, f"selected OU {written!r} does not exist") from None


def _keep(state: SyncState, members: set[str], user: DirectoryUser) -> None:
    state.users[user.id] = user
    members.add(user.id)


# --- incremental sync ----------------------------------------------------------------


class NeedFull(Exception):
    """The cache cannot be brought up to date; the message says why (logged)."""


def incremental_sync(
    session: Session, scope: DirectoryScope, base_dn: str, prev: SyncState, now: float, presence_every: float
) -> tuple[SyncState, str]:
    """Bring `prev` up to date in place; return it and how removals were found
    ("", "tombstones" or "presence check"). NeedFull when it cannot be done."""
    root = read_root(session)
    if root.dc.service != prev.dc.service:
        raise NeedFull("a different domain controller answered")
    if root.dc.invocation != prev.dc.invocation:
        raise NeedFull("the DC's invocationId changed (restored from backup?)")
    if root.usn < prev.usn:
        raise NeedFull("the DC's highestCommittedUSN went backwards")
    if root.usn == prev.usn:
        return prev, ""
    _check_selection_objects(session, prev)

    changed_users: list[DirectoryUser] = []
    changed_groups: list[DirectoryGroup] = []
    delta_filter = f"(&(uSNChanged>={prev.usn + 1})(|{USERS_FILTER}{GROUPS_FILTER}))"
    attributes = sorted({*USER_ATTRIBUTES, *GROUP_ATTRIBUTES, *CLASS_ATTRIBUTES})
    selected_ids = {g.guid for g in prev.groups.values()}
    for entry in session.search(prev.naming_context, delta_filter, attributes):
        if "group" in entry.object_classes:
            changed_groups.append(to_group(entry))
            if entry.guid in selected_ids and not is_security_group(entry):
                raise NeedFull(f"selected group {entry.dn!r} is no longer a security group")
        else:
            changed_users.append(to_user(entry))

    reread = _groups_to_reread(prev, changed_groups)
    read_groups(session, prev, reread, base_dn, scope.nested)
    others = [g for g in prev.groups.values() if not any(g is r for r in reread)]
    membership = Membership(prev, others, base_dn, scope.nested)
    for user in changed_users:
        _apply_user_change(prev, user, membership, others, reread)
    removals = "presence check"
    if prev.deleted_objects and now - prev.presence_checked_at < presence_every:
        deleted = _tombstones(session, prev, prev.usn)
        if deleted is not None:
            for sel in prev.selected():
                sel.members -= deleted
            removals = "tombstones"
        else:  # cannot list tombstones any more (rights changed?): look again
            prev.deleted_objects, prev.tombstone_sentinel = find_tombstones(session, prev.naming_context) or (
                None, None,
            )  # fmt: skip
    if removals == "presence check":
        _presence_check(session, prev, base_dn, scope.nested, reread)
        prev.presence_checked_at = now
    prev.usn = root.usn
    prev.prune()
    return prev, removals


def _tombstones(session: Session, state: SyncState, usn: int) -> set[str] | None:
    """GUIDs of objects deleted after `usn`. The known sentinel tombstone must come
    back too; None when it does not (tombstones are not visible to us now)."""
    assert state.deleted_objects is not None and state.tombstone_sentinel is not None
    sentinel = escape_bytes(guid_bytes(state.tombstone_sentinel))
    flt = f"(&(isDeleted=TRUE)(|(uSNChanged>={usn + 1})(objectGUID={sentinel})))"
    try:
        found = {e.guid for e in session.search(state.deleted_objects, flt, ("objectGUID",), scope=LEVEL,
                                                controls=[SHOW_DELETED])}  # fmt: skip
    except NoSuchObject:
        return None
    if state.tombstone_sentinel not in found:
        return None
    return found - {state.tombstone_sentinel}


def _check_selection_objects(session: Session, state: SyncState) -> None:
    """Selected OUs and groups still exist under the same DN (one search by GUID)."""
    selected = {s.guid: s.server_dn for s in state.selected()}
    if not selected:
        return
    found = {}
    for entry in session.search(state.naming_context, guid_filter(selected), ("objectGUID",)):
        found[entry.guid] = entry.dn
    for guid, dn in selected.items():
        if guid not in found:
            raise NeedFull(f"selected object {dn!r} was deleted")
        if normalize_dn(found[guid]) != normalize_dn(dn):
            raise NeedFull(f"selected object {dn!r} was renamed or moved")


def _groups_to_reread(state: SyncState, changed: list[DirectoryGroup]) -> list[SelectedGroup]:
    """Selected groups whose membership may have changed: they, or a group nested in
    them, changed (adding a member changes the group, not the user)."""
    changed_ids = {g.id for g in changed}
    out = []
    for group in state.groups.values():
        watched = {normalize_dn(dn) for dn in (group.server_dn, *chain_dns(state, group))}
        newly_nested = any(normalize_dn(p) in watched for g in changed for p in g.member_of)
        if group.guid in changed_ids or group.chain & changed_ids or newly_nested:
            out.append(group)
    for g in changed:  # keep names and parents current
        if g.id in state.nested_groups:
            state.nested_groups[g.id] = g
        for group in state.groups.values():
            if group.guid == g.id:
                group.parents = g.member_of
    return out


def _apply_user_change(
    state: SyncState,
    user: DirectoryUser,
    membership: Membership,
    others: list[SelectedGroup],
    reread: list[SelectedGroup],
) -> None:
    """A changed user joins or leaves OUs and groups (not re-read) by its fresh DN and memberOf."""
    for ou in state.ous.values():
        _set_member(state, ou.members, user, is_under(user.dn or "", ou.server_dn))
    inside = {id(g) for g in membership.groups_of(user)}
    for group in others:
        _set_member(state, group.members, user, id(group) in inside)
    if any(user.id in g.members for g in reread):
        state.users[user.id] = user


def _set_member(state: SyncState, members: set[str], user: DirectoryUser, inside: bool) -> None:
    if inside:
        _keep(state, members, user)
    else:
        members.discard(user.id)


def _presence_check(
    session: Session, state: SyncState, base_dn: str, nested: bool, reread: list[SelectedGroup]
) -> None:
    """Drop cached users the DC no longer shows in a selection; fetch any it shows
    that the cache lacks."""
    unknown: set[str] = set()
    found_in: dict[str, list[SelectedOu]] = {}
    for ou in state.ous.values():
        try:
            present = {e.guid for e in session.search(ou.server_dn, USERS_FILTER, ("objectGUID",))}
        except NoSuchObject:
            raise NeedFull(f"selected OU {ou.dn!r} no longer exists") from None
        ou.members &= present
        for guid in present - ou.members:
            found_in.setdefault(guid, []).append(ou)
            unknown.add(guid)
    others = [g for g in state.groups.values() if not any(g is r for r in reread)]
    if others:
        # deletions and moves out of view take a user out of every group at once,
        # so the union of the groups' members is enough here
        present = present_members(session, state, others, base_dn, nested)
        for group in others:
            left = group.members - present
            group.members -= left
            forget_membership(state, left, {group.server_dn, *chain_dns(state, group)})
        cached = set().union(*(g.members for g in others))
        unknown |= present - cached
    if unknown:
        _fetch(session, state, sorted(unknown), found_in, Membership(state, others, base_dn, nested))


def _fetch(
    session: Session,
    state: SyncState,
    guids: list[str],
    found_in: dict[str, list[SelectedOu]],
    membership: Membership,
) -> None:
    """Read users the presence check found but the cache lacks (rare: e.g. made
    readable by an ACL change, which does not show in the delta)."""
    for i in range(0, len(guids), GUID_BATCH):
        flt = f"(&{USERS_FILTER}{guid_filter(guids[i : i + GUID_BATCH])})"
        for entry in session.search(state.naming_context, flt, USER_ATTRIBUTES):
            user = to_user(entry)
            for ou in found_in.get(user.id, ()):
                _keep(state, ou.members, user)
            for group in membership.groups_of(user):
                _keep(state, group.members, user)
