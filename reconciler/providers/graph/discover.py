"""Live stage (Entra): what a tenant offers to select (`reconciler discover`).

- security groups: `GET /groups?$filter=securityEnabled eq true&$select=id,displayName`,
  and each one's user count: `/groups/{id}/transitiveMembers/microsoft.graph.user?$count=true&$top=1`
  (`@odata.count`, `ConsistencyLevel: eventual`): one request per group listed, so
  narrow big tenants with --search;
- directory roles and how many hold them: every active assignment in one listing
  of `/roleManagement/directory/roleAssignments?$expand=principal`;
- licences in use: `/subscribedSkus` (consumedUnits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.config.entraroles import role_name
from reconciler.providers.graph.client import PAGE_SIZE, GraphClient
from reconciler.providers.graph.groups import EVENTUAL


@dataclass(frozen=True)
class EntraGroup:
    id: str
    name: str
    users: int


@dataclass(frozen=True)
class EntraRole:
    id: str
    name: str
    holders: int


@dataclass(frozen=True)
class EntraSku:
    id: str
    part_number: str
    consumed: int


def discover_entra(
    client: GraphClient, search: str = ""
) -> tuple[list[EntraGroup], list[EntraRole], list[EntraSku]]:
    needle = search.casefold()
    params = {"$filter": "securityEnabled eq true", "$select": "id,displayName", "$top": str(PAGE_SIZE)}
    groups = []
    for g in client._pages(f"{client.base}/groups", params):
        name = str(g.get("displayName") or "")
        if needle and needle not in name.casefold():
            continue
        url = f"{client.base}/groups/{g['id']}/transitiveMembers/microsoft.graph.user"
        body: Any = client.api.get_json(
            url, params={"$count": "true", "$top": "1", "$select": "id"}, headers=EVENTUAL
        )
        count = body.get("@odata.count") if isinstance(body, dict) else None
        groups.append(EntraGroup(str(g["id"]), name, int(count) if isinstance(count, int) else -1))
    holders: dict[str, set[str]] = {}
    for item in client._pages(
        f"{client.base}/roleManagement/directory/roleAssignments", {"$expand": "principal"}
    ):
        holders.setdefault(str(item.get("roleDefinitionId", "")).lower(), set()).add(
            str(item.get("principalId"))
        )
    roles = [
        EntraRole(rid, role_name(rid), len(p))
        for rid, p in holders.items()
        if not needle or needle in role_name(rid).casefold()
    ]
    skus = [
        EntraSku(str(s.get("skuId", "")), str(s.get("skuPartNumber", "")), int(s.get("consumedUnits") or 0))
        for s in client._pages(
            f"{client.base}/subscribedSkus", {"$select": "skuId,skuPartNumber,consumedUnits"}
        )
        if not needle or needle in str(s.get("skuPartNumber", "")).casefold()
    ]
    return (
        sorted(groups, key=lambda g: g.name.casefold()),
        sorted(roles, key=lambda r: r.name.casefold()),
        sorted(skus, key=lambda s: s.part_number),
    )
