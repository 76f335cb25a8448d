"""Live stage (AD): selections that survive a rename or move of the selected OU or group.

The first time a selected OU or group is read, its objectGUID is recorded in
state (cursor `ad.selected`, per written DN). When the DN in the YAML no longer
resolves but the recorded GUID does, the selection stays in force at the new
DN (users are read there and reported under the written one, so nothing is
removed because of the rename) and every plan, `status` and `validate --live`
says so: "OU 'OU=Staff,...' was renamed/moved to 'OU=Employees,...': update the
policy". Microsoft names OU renames as a cause of mass deletions in Entra Connect.
"""

from __future__ import annotations

import json

from reconciler.config.adnames import normalize_dn
from reconciler.providers.base import CursorStore
from reconciler.providers.ldap.conn import Session
from reconciler.providers.ldap.selection import RESOLVE_ATTRIBUTES, Kind, Resolved, _problems
from reconciler.providers.ldap.state import SyncState
from reconciler.providers.ldap.sync import guid_filter

GUIDS_CURSOR = "ad.selected"


def _key(kind: Kind, dn: str) -> str:
    return f"{kind.value}:{normalize_dn(dn)}"


def remembered(cursors: CursorStore, customer: str) -> dict[str, str]:
    try:
        data = json.loads(cursors.get_cursor(customer, GUIDS_CURSOR) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember(cursors: CursorStore, customer: str, state: SyncState) -> None:
    """Record (or keep) the objectGUID of every selected OU and group, by written DN."""
    known = remembered(cursors, customer)
    fresh = dict(known)
    for ou in state.ous.values():
        fresh[_key(Kind.OU, ou.dn)] = ou.guid
    for group in state.groups.values():
        fresh[_key(Kind.GROUP, group.dn)] = group.guid
    if fresh != known:
        cursors.put_cursor(customer, GUIDS_CURSOR, json.dumps(fresh, sort_keys=True))


def follow_renames(
    session: Session, naming_context: str, resolved: list[Resolved], known: dict[str, str]
) -> list[Resolved]:
    """Entries whose DN no longer exists but whose recorded GUID does, found at their new DN."""
    missing = {
        i: known[_key(r.kind, r.dn)]
        for i, r in enumerate(resolved)
        if r.entry is None and _key(r.kind, r.dn) in known
    }
    if not missing:
        return resolved
    found = {
        e.guid: e
        for e in session.search(naming_context, guid_filter(set(missing.values())), RESOLVE_ATTRIBUTES)
    }
    out = list(resolved)
    for i, guid in missing.items():
        entry = found.get(guid)
        if entry is not None:
            kind = resolved[i].kind
            out[i] = Resolved(kind, resolved[i].dn, entry, tuple(_problems(kind, entry)), renamed=True)
    return out


def rename_warnings(state: SyncState) -> list[str]:
    out = []
    for kind, sel in [(Kind.OU, s) for s in state.ous.values()] + [
        (Kind.GROUP, s) for s in state.groups.values()
    ]:
        if normalize_dn(sel.server_dn) != normalize_dn(sel.dn):
            out.append(
                f"{kind.value} {sel.dn!r} was renamed/moved to {sel.server_dn!r}: still selected by its "
                "objectGUID, nothing is removed because of it; update the policy"
            )
    return out


def renamed_lines(resolved: list[Resolved]) -> list[str]:
    """For validate --live: entries found by GUID at another DN."""
    return [
        f"{r.kind.value} {r.dn!r} was renamed/moved to {r.entry.dn!r}: still selected by its objectGUID; update the policy"
        for r in resolved
        if r.renamed and r.entry is not None
    ]
