"""Test helpers: the Graph simulator's group, directory-role and licence routes (wire format).

    GET /v1.0/groups                         $filter (eq, in, startswith), $select, $top, nextLink
    GET /v1.0/groups/{id}
    GET /v1.0/groups/{id}/members/microsoft.graph.user            (and transitiveMembers):
                                             a type cast is an advanced query: it needs
                                             `ConsistencyLevel: eventual` and `$count=true`;
                                             `@odata.count` on the first page
    GET /v1.0/groups/delta                   $select, $filter=id eq .. or .. (<= 50), $deltatoken=latest,
                                             deltaLink; changes as `members@delta` (direct members,
                                             `@removed` for those gone), a renamed group with its
                                             displayName, a deleted one as `@removed`
    GET /v1.0/roleManagement/directory/roleAssignments             $filter=roleDefinitionId eq '..',
    GET /v1.0/roleManagement/directory/roleEligibilityScheduleInstances   $expand=principal
    GET /v1.0/subscribedSkus                 $select

Facts: ../shared/APIS.md §8. UNCONFIRMED choices: the page size of group
listings (100 unless $top), group delta pages (one page per round).
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from reconciler.testing.graph_directory import GROUP_PROPERTIES
from reconciler.testing.graph_filter import FilterError, parse_filter
from reconciler.testing.httpsim import SimRequest, SimResponse

if TYPE_CHECKING:
    from reconciler.testing.graph import GraphSimulator

_ID_EQ = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)
_ROLE_EQ = re.compile(r"^\s*roleDefinitionId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)
USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"


class GroupRoutes:
    def __init__(self, sim: GraphSimulator) -> None:
        self.sim = sim
        self._delta: dict[str, tuple[str, int, frozenset[str] | None, tuple[str, ...]]] = {}

    def handle(self, request: SimRequest, tenant_id: str, parts: list[str]) -> SimResponse | None:
        from reconciler.testing.graph import graph_error

        if parts == ["subscribedSkus"]:
            return self._skus(tenant_id)
        if parts[:2] == ["roleManagement", "directory"] and len(parts) == 3:
            if parts[2] in ("roleAssignments", "roleEligibilityScheduleInstances"):
                return self._roles(request, tenant_id, eligible=parts[2] != "roleAssignments")
            return None
        if parts[:1] != ["groups"]:
            return None
        if parts == ["groups"]:
            return self._list(request, tenant_id)
        if parts in (["groups", "delta"], ["groups", "delta()"]):
            return self._group_delta(request, tenant_id)
        if len(parts) == 2:
            with self.sim.directory.lock:
                group = self.sim.directory.tenant(tenant_id).groups.get(parts[1])
                if group is None:
                    return _not_found(parts[1])
                return SimResponse(200, {"@odata.context": self._ctx("groups/$entity"), **group})
        if (
            len(parts) == 4
            and parts[2] in ("members", "transitiveMembers")
            and parts[3] == "microsoft.graph.user"
        ):
            eventual = request.headers.get("consistencylevel", "").lower() == "eventual"
            if not (eventual and request.q("$count") == "true"):
                message = "Unsupported Query. A type cast needs the ConsistencyLevel header set to 'eventual' and $count=true."
                return graph_error(400, "Request_UnsupportedQuery", message)
            return self._user_members(
                request, tenant_id, parts[1], transitive=parts[2] == "transitiveMembers"
            )
        return None

    def _ctx(self, entity: str) -> str:
        return f"{self.sim.url}/v1.0/$metadata#{entity}"

    # --- listings -------------------------------------------------------------------------
    def _list(self, request: SimRequest, tenant_id: str) -> SimResponse:
        from reconciler.testing.graph import graph_error

        try:
            advanced, matches = parse_filter(request.q("$filter") or "")
        except FilterError as exc:
            return graph_error(400, "Request_UnsupportedQuery", str(exc))
        if advanced and request.headers.get("consistencylevel", "").lower() != "eventual":
            return graph_error(
                400, "Request_UnsupportedQuery", "Advanced queries need ConsistencyLevel: eventual."
            )
        select = tuple((request.q("$select") or ",".join(GROUP_PROPERTIES)).split(","))
        with self.sim.directory.lock:
            groups = self.sim.directory.tenant(tenant_id).groups
            hits = [
                {k: g[k] for k in select if k in g} | {"id": g["id"]}
                for _, g in sorted(groups.items())
                if matches(g)
            ]
        return self._paged(request, hits, "groups")

    def _user_members(
        self, request: SimRequest, tenant_id: str, group_id: str, *, transitive: bool
    ) -> SimResponse:
        directory = self.sim.directory
        with directory.lock:
            if group_id not in directory.tenant(tenant_id).groups:
                return _not_found(group_id)
        read = directory.transitive_members if transitive else directory.direct_members
        select = tuple((request.q("$select") or "id").split(","))
        users = [
            {"@odata.type": USER, **{k: o[k] for k in select if k in o}}
            for kind, o in read(tenant_id, group_id)
            if kind == USER
        ]
        return self._paged(request, users, "users", count=True)

    def _paged(
        self, request: SimRequest, items: list[dict[str, Any]], entity: str, count: bool = False
    ) -> SimResponse:
        """Offset paging behind an opaque $skiptoken (the same query on every page)."""
        from reconciler.testing.graph import graph_error

        raw_top = request.q("$top") or "100"
        if not raw_top.isdigit() or not 1 <= int(raw_top) <= 999:
            return graph_error(400, "Request_BadRequest", f"Invalid page size specified: '{raw_top}'.")
        top = int(raw_top)
        skip = request.q("$skiptoken")
        start = 0
        if skip is not None:
            if not skip.startswith("o") or not skip[1:].isdigit():
                return graph_error(400, "Request_BadRequest", "Invalid skip token.")
            start = int(skip[1:])
        body: dict[str, Any] = {"@odata.context": self._ctx(entity)}
        if count and skip is None:
            body["@odata.count"] = len(items)
        body["value"] = items[start : start + top]
        if start + top < len(items):
            query = urlencode(
                [(k, v[0]) for k, v in request.query.items() if k != "$skiptoken"], safe="$,'()/:"
            )
            body["@odata.nextLink"] = f"{self.sim.url}{request.path}?{query}&$skiptoken=o{start + top}"
        return SimResponse(200, body)

    # --- group delta ------------------------------------------------------------------------
    def _group_delta(self, request: SimRequest, tenant_id: str) -> SimResponse:
        from reconciler.testing.graph import graph_error

        for param in ("$top", "$orderby", "$expand", "$count", "$search"):
            if request.q(param) is not None:
                return graph_error(
                    400, "Request_UnsupportedQuery", f"Unsupported query option '{param}' on delta."
                )
        directory = self.sim.directory
        token = request.q("$deltatoken")
        if token is not None and token != "latest":
            state = self._delta.get(token)
            if state is None or state[0] != tenant_id:
                return graph_error(400, "syncStateNotFound", "The sync state generation is not found.")
            _, since, known, chosen = state
            with directory.lock:
                if directory.tenant(tenant_id).generation != self._generation(token):
                    return graph_error(410, "resyncRequired", "A full resync is required.")
                wanted = set(known) if known is not None else None
                changes = directory.group_changes_since(tenant_id, since, wanted)
                anchor = directory.tenant(tenant_id).seq
                changed = _changed_groups(changes, directory.tenant(tenant_id).groups, chosen)
            return self._delta_page(tenant_id, changed, anchor, known, chosen)
        filter_text = request.q("$filter") or ""
        ids: frozenset[str] | None = None
        if filter_text:
            clauses = re.split(r"\s+or\s+", filter_text, flags=re.IGNORECASE)
            found = [_ID_EQ.match(c) for c in clauses]
            if not all(found):
                return graph_error(400, "Request_UnsupportedQuery", "Delta only supports filtering by id.")
            if len(clauses) > 50:
                return graph_error(
                    400, "Request_UnsupportedQuery", "Too many ids in the filter (50 at most)."
                )
            ids = frozenset(m.group(1) for m in found if m)
        select = tuple((request.q("$select") or "displayName,members").split(","))
        with directory.lock:
            t = directory.tenant(tenant_id)
            anchor = t.seq
            if token == "latest":
                page: list[dict[str, Any]] = []
            else:  # the initial round: every group with all its direct members
                page = [
                    _group_item(
                        g,
                        select,
                        [{"@odata.type": USER if m in t.users else GROUP, "id": m} for m in t.members[gid]],
                    )
                    for gid, g in sorted(t.groups.items())
                    if ids is None or gid in ids
                ]
        return self._delta_page(tenant_id, page, anchor, ids, select)

    def _generation(self, token: str) -> int:
        return int(token.rsplit(".", 1)[-1])

    def _delta_page(
        self,
        tenant_id: str,
        page: list[dict[str, Any]],
        anchor: int,
        ids: frozenset[str] | None,
        select: tuple[str, ...],
    ) -> SimResponse:
        generation = self.sim.directory.tenant(tenant_id).generation
        token = f"{secrets.token_urlsafe(16)}.{generation}"
        self._delta[token] = (tenant_id, anchor, ids, select)
        body = {
            "@odata.context": self._ctx("groups"),
            "value": page,
            "@odata.deltaLink": f"{self.sim.url}/v1.0/groups/delta?$deltatoken={token}",
        }
        return SimResponse(200, body)

    # --- roles and licences -------------------------------------------------------------------
    def _roles(self, request: SimRequest, tenant_id: str, *, eligible: bool) -> SimResponse:
        from reconciler.testing.graph import graph_error

        m = _ROLE_EQ.match(request.q("$filter") or "")
        if request.q("$filter") and m is None:
            return graph_error(
                400, "Request_UnsupportedQuery", "The simulator filters by roleDefinitionId eq only."
            )
        expand = (request.q("$expand") or "").lower() == "principal"
        with self.sim.directory.lock:
            t = self.sim.directory.tenant(tenant_id)
            items = []
            for i, (rid, pid, is_eligible) in enumerate(t.role_assignments):
                if is_eligible is not eligible or (m is not None and rid != m.group(1)):
                    continue
                item: dict[str, Any] = {
                    "id": f"{'el' if eligible else 'ra'}-{i}",
                    "principalId": pid,
                    "directoryScopeId": "/",
                    "roleDefinitionId": rid,
                }
                if eligible:
                    item.update(memberType="Direct", startDateTime="2024-01-01T00:00:00Z", endDateTime=None)
                if expand:
                    item["principal"] = _principal(t, pid)
                items.append(item)
        entity = "roleManagement/directory/" + (
            "roleEligibilityScheduleInstances" if eligible else "roleAssignments"
        )
        return self._paged(request, items, entity)

    def _skus(self, tenant_id: str) -> SimResponse:
        with self.sim.directory.lock:
            t = self.sim.directory.tenant(tenant_id)
            value = [
                {
                    "id": f"{tenant_id}_{sku}",
                    "skuId": sku,
                    "skuPartNumber": part,
                    "capabilityStatus": "Enabled",
                    "appliesTo": "User",
                    "consumedUnits": sum(
                        1
                        for u in t.users.values()
                        if any(lic["skuId"] == sku for lic in u["assignedLicenses"])
                    ),
                    "prepaidUnits": {"enabled": 100000, "suspended": 0, "warning": 0},
                    "servicePlans": [],
                }
                for sku, part in sorted(t.skus.items())
            ]
        return SimResponse(200, {"@odata.context": self._ctx("subscribedSkus"), "value": value})


def _principal(t: Any, pid: str) -> dict[str, Any]:
    if pid in t.users:
        u = t.users[pid]
        return {
            "@odata.type": USER,
            "id": pid,
            "displayName": u["displayName"],
            "userPrincipalName": u["userPrincipalName"],
            "userType": u["userType"],
        }
    if pid in t.groups:
        return {"@odata.type": GROUP, "id": pid, "displayName": t.groups[pid]["displayName"]}
    sp = t.service_principals.get(pid, {"displayName": None})
    return {"@odata.type": "#microsoft.graph.servicePrincipal", "id": pid, "displayName": sp["displayName"]}


def _group_item(
    group: dict[str, Any], select: tuple[str, ...], members: list[dict[str, Any]] | None
) -> dict[str, Any]:
    item: dict[str, Any] = {"@odata.type": GROUP, "id": group["id"]}
    item.update({k: group[k] for k in select if k in group and k != "members"})
    if members and "members" in select:
        item["members@delta"] = members
    return item


def _changed_groups(
    changes: list[tuple[int, str, str, str]], groups: dict[str, dict[str, Any]], select: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The current state of each changed group, its member changes as members@delta."""
    deltas: dict[str, list[dict[str, Any]]] = {}
    deleted: set[str] = set()
    for _, gid, kind, member in changes:
        if kind == "deleted":
            deleted.add(gid)
            continue
        entries = deltas.setdefault(gid, [])
        if kind in ("member+", "member-"):
            entry: dict[str, Any] = {"@odata.type": USER, "id": member}
            if kind == "member-":
                entry["@removed"] = {"reason": "deleted"}
            entries.append(entry)
    page = [{"id": gid, "@removed": {"reason": "changed"}} for gid in sorted(deleted)]
    for gid, members in deltas.items():
        if gid in groups and gid not in deleted:
            page.append(_group_item(groups[gid], select, members))
    return page


def _not_found(object_id: str) -> SimResponse:
    from reconciler.testing.graph import graph_error

    message = f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
    return graph_error(404, "Request_ResourceNotFound", message)
