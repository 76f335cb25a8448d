"""Live stage (Entra), for `validate --live`: do the selected groups still resolve?

A group selected by display name that no longer resolves, but whose object id an
earlier read recorded (state cursor `entra.selection`), was renamed: the plan keeps
it selected by its id and warns; this check says the same before any plan, as a
warning line. An unknown or ambiguous name, or an object id the tenant does not
have, is a problem line. Two requests at most (names, then the remembered ids),
15 references each; no user, member or role is read.
"""

from __future__ import annotations

from reconciler.config.entraroles import is_object_id
from reconciler.errors import WARNING
from reconciler.providers.base import CursorStore
from reconciler.providers.graph import groups as api
from reconciler.providers.graph.client import GraphClient
from reconciler.providers.graph.selection import CURSOR, previous_refs


def check_groups(
    client: GraphClient, cursors: CursorStore, customer: str, refs: tuple[str, ...]
) -> list[str]:
    """One line per problem with the selected Entra groups `refs` of `customer`."""
    lines: list[str] = []
    names = [r for r in refs if not is_object_id(r)]
    ids = {r.strip().lower() for r in refs if is_object_id(r)}
    by_name: dict[str, list[str]] = {}
    for g in api.groups_by_name(client, names) if names else []:
        by_name.setdefault(str(g.get("displayName", "")).casefold(), []).append(str(g["id"]).lower())
    remembered = previous_refs(cursors.get_cursor(customer, CURSOR))
    renamed: dict[str, str] = {}
    for ref in names:
        hits = by_name.get(ref.strip().casefold(), [])
        if len(hits) > 1:
            lines.append(
                f"customer {customer}: Entra group {ref!r} is ambiguous: {len(hits)} groups have that "
                f"name ({', '.join(sorted(hits))}); select it by object id"
            )
        elif not hits and ref in remembered:
            renamed[ref] = remembered[ref]
        elif not hits:
            lines.append(
                f"customer {customer}: Entra group {ref!r} was not found in the tenant (selection groups)"
            )
    wanted = sorted(ids | set(renamed.values()))
    found = (
        {str(g["id"]).lower(): str(g.get("displayName", "")) for g in api.groups_by_id(client, wanted)}
        if wanted
        else {}
    )
    for ref in sorted(r for r in refs if is_object_id(r)):
        if ref.strip().lower() not in found:
            lines.append(
                f"customer {customer}: Entra group {ref!r} was not found in the tenant (selection groups)"
            )
    for ref, gid in renamed.items():
        if gid in found:
            lines.append(
                f"{WARNING}customer {customer}: Entra group {ref!r} was renamed to {found[gid]!r} "
                f"(object id {gid}): still selected by its object id; update the policy"
            )
        else:
            lines.append(
                f"customer {customer}: Entra group {ref!r} was not found in the tenant (selection groups)"
            )
    return lines
