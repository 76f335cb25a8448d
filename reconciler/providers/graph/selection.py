"""Live stage (Entra): groups, directory roles and licences a selection needs, at the request floor.

A *full* selection read (first read, the selection changed, a full user read
— `fullSyncEveryHours`, import now, `--full-sync` — or an expired group delta):

- group references resolved: display names with `displayName in (...)`, object
  ids with `id in (...)` (15 per request); an unknown or ambiguous name is an
  error naming the customer. A name that no longer resolves but whose object id
  was recorded before (state) keeps the selection in force, with a warning
  "renamed ...: update the policy";
- directory role holders (`roleAssignments`, and `roleEligibilityScheduleInstances`
  when eligible holders count); groups holding a role are read like selected ones;
- the user ids of each group (`transitiveMembers/microsoft.graph.user`, and
  `members/...` when a selection turns nesting off);
- `/subscribedSkus` when a selection names licences;
- one `/groups/delta` deltaLink per 50 groups, anchored with `$deltatoken=latest`.

Any other cycle costs one `/groups/delta` request per 50 groups and nothing else
when nothing changed. A group whose direct membership changed is re-read in full
(its transitive members). Graph has no delta for nested membership, so a change
inside a nested group waits for the next full read (docs/entra-selection.md).
Role assignments have no delta either: they are read only on full reads, and
the snapshot says when (`roles_read_at`).

State: one cursor per customer, `entra.selection` (JSON), keyed by what the
selection asks for, so a changed selection reads afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.config.entraroles import is_object_id, role_name
from reconciler.core.model import DirectoryGroup, DirectoryRole, DirSource, RoleHolder, Sku
from reconciler.errors import ProviderError
from reconciler.providers.base import CursorStore, DirectoryScope
from reconciler.providers.graph import groups as api
from reconciler.providers.graph.client import DeltaExpired, GraphClient

CURSOR = "entra.selection"
FORMAT = 1


@dataclass
class SelectionCache:
    key: str
    full_at: float = 0.0
    refs: dict[str, str] = field(default_factory=dict)  # reference as written -> group id
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, members, direct
    links: list[str] = field(default_factory=list)
    roles: dict[str, list[list[Any]]] = field(default_factory=dict)  # role id -> [[id, type, eligible]]
    roles_at: float | None = None
    skus: list[list[str]] = field(default_factory=list)

    def to_json(self) -> str:
        data = {"format": FORMAT, **self.__dict__}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None, key: str) -> SelectionCache | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.pop("format", None) != FORMAT:
                return None
            cache = cls(**data)
        except (ValueError, TypeError):
            return None
        return cache if cache.key == key else None


@dataclass(frozen=True)
class SelectionRead:
    groups: tuple[DirectoryGroup, ...] = ()
    roles: tuple[DirectoryRole, ...] = ()
    skus: tuple[Sku, ...] = ()
    roles_at: float | None = None
    warnings: tuple[str, ...] = ()
    mode: str = ""  # "", "full" or "delta"


def selection_key(scope: DirectoryScope, tenant: str, graph_url: str) -> str:
    parts = [
        FORMAT,
        tenant,
        graph_url.rstrip("/"),
        sorted(scope.entra_groups),
        sorted(scope.entra_direct),
        sorted(scope.entra_roles),
        scope.entra_eligible,
        scope.entra_skus,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def read_selection(
    client: GraphClient,
    cursors: CursorStore,
    customer: str,
    scope: DirectoryScope,
    key: str,
    full: bool,
    clock: Callable[[], float],
) -> SelectionRead:
    if not scope.entra_selects:
        return SelectionRead()
    raw = cursors.get_cursor(customer, CURSOR)
    cached = SelectionCache.from_json(raw, key)
    previous = previous_refs(raw)
    mode = "delta"
    if cached is None or full or scope.full_sync or scope.refresh_selection:
        cached, mode = _full(client, scope, key, previous, clock), "full"
    else:
        try:
            _apply_changes(client, scope, cached)
        except DeltaExpired:
            cached, mode = _full(client, scope, key, previous, clock), "full"
    text = cached.to_json()
    if text != raw:  # a quiet cycle writes nothing
        cursors.put_cursor(customer, CURSOR, text)
    return _snapshot(cached, scope, mode)


def previous_refs(raw: str | None) -> dict[str, str]:
    """References resolved by an earlier read (whatever the selection was then):
    the memory that keeps a renamed group selected."""
    try:
        data = json.loads(raw or "{}")
        refs = data.get("refs", {})
        return {str(k): str(v) for k, v in refs.items()} if isinstance(refs, dict) else {}
    except (ValueError, AttributeError):
        return {}


def _full(
    client: GraphClient,
    scope: DirectoryScope,
    key: str,
    previous: dict[str, str],
    clock: Callable[[], float],
) -> SelectionCache:
    where = client.api.where
    cache = SelectionCache(key, clock())
    names = [r for r in scope.entra_groups if not is_object_id(r)]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for g in api.groups_by_name(client, names) if names else []:
        by_name.setdefault(str(g.get("displayName", "")).casefold(), []).append(g)
    wanted_ids: set[str] = {r.strip().lower() for r in scope.entra_groups if is_object_id(r)}
    unresolved: list[str] = []
    for ref in names:
        hits = by_name.get(ref.strip().casefold(), [])
        if len(hits) > 1:
            ids = ", ".join(sorted(str(h["id"]) for h in hits))
            raise ProviderError(
                where,
                f"Entra group {ref!r} is ambiguous: {len(hits)} groups have that name ({ids}); select it by object id",
            )
        if hits:
            cache.refs[ref] = str(hits[0]["id"]).lower()
        elif ref in previous:
            unresolved.append(ref)  # renamed? its recorded object id decides below
            wanted_ids.add(previous[ref])
        else:
            raise ProviderError(where, f"Entra group {ref!r} was not found in the tenant (selection groups)")
    for rid in scope.entra_roles:
        holders: list[list[Any]] = []
        for eligible in (False, True) if scope.entra_eligible else (False,):
            for pid, kind in api.role_holders(client, rid, eligible=eligible):
                holders.append([pid.lower(), kind, eligible])
                if kind == "group":
                    wanted_ids.add(pid.lower())
        cache.roles[rid] = holders
    cache.roles_at = clock() if scope.entra_roles else None
    found = (
        {
            str(g["id"]).lower(): str(g.get("displayName", ""))
            for g in api.groups_by_id(client, sorted(wanted_ids))
        }
        if wanted_ids
        else {}
    )
    for ref in scope.entra_groups:
        if is_object_id(ref) and ref.strip().lower() not in found:
            raise ProviderError(where, f"Entra group {ref!r} was not found in the tenant (selection groups)")
    for ref in unresolved:
        if previous[ref] not in found:
            raise ProviderError(where, f"Entra group {ref!r} was not found in the tenant (selection groups)")
        cache.refs[ref] = previous[ref]
    for ref in scope.entra_groups:
        if is_object_id(ref):
            cache.refs[ref] = ref.strip().lower()
    names_by_id = {
        str(g["id"]).lower(): str(g.get("displayName", "")) for hits in by_name.values() for g in hits
    }
    names_by_id.update(found)
    direct = _direct_ids(scope, cache.refs)
    for gid in sorted(set(cache.refs.values()) | wanted_ids):
        cache.groups[gid] = _read_group(client, gid, names_by_id.get(gid, gid), gid in direct)
    cache.links = api.group_delta_links(client, sorted(cache.groups)) if cache.groups else []
    if scope.entra_skus:
        cache.skus = [[sid, part] for sid, part in api.subscribed_skus(client)]
    return cache


def _direct_ids(scope: DirectoryScope, refs: dict[str, str]) -> set[str]:
    return {refs[r] for r in scope.entra_direct if r in refs}


def _read_group(client: GraphClient, gid: str, name: str, direct: bool) -> dict[str, Any]:
    members = sorted({m.lower() for m in api.member_ids(client, gid, transitive=True)})
    direct_members = (
        sorted({m.lower() for m in api.member_ids(client, gid, transitive=False)}) if direct else None
    )
    return {"name": name, "members": members, "direct": direct_members}


def _apply_changes(client: GraphClient, scope: DirectoryScope, cache: SelectionCache) -> None:
    """One group delta round per link; groups whose membership changed are re-read."""
    reread: set[str] = set()
    links: list[str] = []
    for link in cache.links:
        changes, new_link = api.group_changes(client, link)
        links.append(new_link)
        for item in changes:
            gid = str(item["id"]).lower()
            group = cache.groups.get(gid)
            if group is None:
                continue
            if "@removed" in item:
                group.update(members=[], direct=[] if group.get("direct") is not None else None, deleted=True)
                continue
            if isinstance(item.get("displayName"), str):
                group["name"] = item["displayName"]
            if item.get("members@delta"):
                reread.add(gid)
    direct = _direct_ids(scope, cache.refs)
    for gid in sorted(reread):
        name = cache.groups[gid]["name"]
        cache.groups[gid] = _read_group(client, gid, name, gid in direct)
    cache.links = links


def _snapshot(cache: SelectionCache, scope: DirectoryScope, mode: str) -> SelectionRead:
    aliases: dict[str, list[str]] = {}
    warnings: list[str] = []
    for ref, gid in cache.refs.items():
        aliases.setdefault(gid, []).append(ref)
        group = cache.groups.get(gid, {})
        if group.get("deleted"):
            warnings.append(f"Entra group {ref!r} was deleted; it selects nobody until the policy is updated")
        elif not is_object_id(ref) and str(group.get("name", "")).casefold() != ref.strip().casefold():
            warnings.append(
                f"Entra group {ref!r} was renamed to {group.get('name')!r} (object id {gid}): "
                "still selected by its object id; update the policy"
            )
    groups = tuple(
        DirectoryGroup(
            DirSource.ENTRA,
            gid,
            str(g.get("name") or gid),
            members=tuple(g.get("members") or ()),
            direct_members=tuple(g["direct"]) if g.get("direct") is not None else None,
            aliases=tuple(aliases.get(gid, ())),
        )
        for gid, g in sorted(cache.groups.items())
    )
    roles = tuple(
        DirectoryRole(rid, role_name(rid), tuple(RoleHolder(str(p), str(k), bool(e)) for p, k, e in holders))
        for rid, holders in sorted(cache.roles.items())
    )
    skus = tuple(Sku(sid, part) for sid, part in cache.skus)
    return SelectionRead(groups, roles, skus, cache.roles_at, tuple(warnings), mode)
