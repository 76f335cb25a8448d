"""Live stage (Entra): the Graph calls behind group, role and licence selections (R22, R23).

- `groups_by_name(names)` / `groups_by_id(ids)`: `GET /groups?$filter=displayName in (...)`
  (or `id in (...)`), 15 values per request, `$select=id,displayName`.
- `member_ids(id, transitive)`: `GET /groups/{id}/transitiveMembers/microsoft.graph.user`
  (or `/members/...`) `?$select=id&$top=999&$count=true` with `ConsistencyLevel:
  eventual` on every page (the type cast is an advanced query): user ids only.
- `group_delta_links(ids)`: `GET /groups/delta?$select=displayName,members&$filter=id eq ..
  or ..&$deltatoken=latest` (at most 50 ids per link): "sync from now".
- `group_changes(link)`: one round of that delta; `members@delta` lists direct
  members added (no `@removed`) or removed.
- `role_holders(role_id, eligible)`: `GET /roleManagement/directory/roleAssignments`
  (or `roleEligibilityScheduleInstances`) `?$filter=roleDefinitionId eq '..'&$expand=principal`.
- `subscribed_skus()`: `GET /subscribedSkus?$select=skuId,skuPartNumber`.

Facts and their sources: ../shared/APIS.md §8. `$expand=principal` on eligibility
schedule instances and `$top` 999 on transitiveMembers are (unconfirmed); both
degrade gracefully (a principal without `@odata.type` is taken as a user).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.providers.graph.client import PAGE_SIZE, GraphClient

IN_LIMIT = 15  # values per `in (...)` filter that Graph accepts on directory objects
DELTA_FILTER_LIMIT = 50  # ids per `/groups/delta` $filter (APIS.md §8)
EVENTUAL = {"ConsistencyLevel": "eventual"}


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def groups_by_name(client: GraphClient, names: list[str]) -> list[dict[str, Any]]:
    return _groups_where(client, "displayName", names)


def groups_by_id(client: GraphClient, ids: list[str]) -> list[dict[str, Any]]:
    return _groups_where(client, "id", ids)


def _groups_where(client: GraphClient, field: str, values: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(values), IN_LIMIT):
        chunk = values[start : start + IN_LIMIT]
        params = {
            "$filter": f"{field} in ({', '.join(_quoted(v) for v in chunk)})",
            "$select": "id,displayName",
            "$top": str(PAGE_SIZE),
        }
        out.extend(client._pages(f"{client.base}/groups", params))
    return out


def member_ids(client: GraphClient, group_id: str, *, transitive: bool) -> list[str]:
    kind = "transitiveMembers" if transitive else "members"
    params = {"$select": "id", "$top": str(PAGE_SIZE), "$count": "true"}
    url = f"{client.base}/groups/{group_id}/{kind}/microsoft.graph.user"
    return [str(item["id"]) for item in client._pages(url, params, EVENTUAL)]


def group_delta_links(client: GraphClient, ids: list[str]) -> list[str]:
    links: list[str] = []
    for start in range(0, len(ids), DELTA_FILTER_LIMIT):
        chunk = ids[start : start + DELTA_FILTER_LIMIT]
        params = {
            "$select": "displayName,members",
            "$filter": " or ".join(f"id eq {_quoted(i)}" for i in chunk),
            "$deltatoken": "latest",
        }
        _, link = client._delta_round(f"{client.base}/groups/delta", params)
        links.append(link)
    return links


def group_changes(client: GraphClient, link: str) -> tuple[list[dict[str, Any]], str]:
    """Raises `DeltaExpired` like the users delta."""
    return client._delta_round(client._checked(link, "the stored group deltaLink"), None)


def role_holders(client: GraphClient, role_id: str, *, eligible: bool) -> Iterator[tuple[str, str]]:
    """(principal id, principal type: user / group / servicePrincipal / ...)."""
    path = "roleEligibilityScheduleInstances" if eligible else "roleAssignments"
    params = {"$filter": f"roleDefinitionId eq {_quoted(role_id)}", "$expand": "principal"}
    for item in client._pages(f"{client.base}/roleManagement/directory/{path}", params):
        raw = item.get("principal")
        principal: dict[str, Any] = raw if isinstance(raw, dict) else {}
        odata = str(principal.get("@odata.type") or "#microsoft.graph.user")
        pid = item.get("principalId") or principal.get("id")
        if pid:
            yield str(pid), odata.rsplit(".", 1)[-1]


def subscribed_skus(client: GraphClient) -> list[tuple[str, str]]:
    """(skuId, skuPartNumber) of each licence the tenant subscribes to."""
    params = {"$select": "skuId,skuPartNumber"}
    return [
        (str(s.get("skuId", "")).lower(), str(s.get("skuPartNumber", "")))
        for s in client._pages(f"{client.base}/subscribedSkus", params)
    ]
