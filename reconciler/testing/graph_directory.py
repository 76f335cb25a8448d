"""Test helpers: the directory data behind the Graph simulator (tenants, users, groups, changes).

Kept apart from the HTTP routes in `graph.py`: this module knows nothing about
requests. Every change bumps a per-tenant sequence number so the delta endpoint
can answer "what changed since token N" the way Graph does: current state of
each changed user, `@removed` for users that left, repeats allowed.
"""

from __future__ import annotations

import base64
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

# Properties the simulator stores for a user. Graph has many more; asking for
# one that is not here gives the same 400 as asking Graph for a property that
# does not exist. tests/providers/test_graph_contract.py checks every name
# against Microsoft's published metadata.
USER_PROPERTIES = (
    "id", "userPrincipalName", "mail", "givenName", "surname", "displayName",
    "accountEnabled", "assignedLicenses", "onPremisesImmutableId", "onPremisesSyncEnabled",
    "onPremisesSamAccountName", "proxyAddresses", "businessPhones", "jobTitle", "mobilePhone",
    "officeLocation", "preferredLanguage", "createdDateTime", "userType", "department",
)  # fmt: skip

# What GET /users returns without $select (learn.microsoft.com/graph/api/user-list).
DEFAULT_USER_SELECT = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)  # fmt: skip

GROUP_PROPERTIES = ("id", "displayName", "mail", "securityEnabled", "mailEnabled", "description")

E3_SKU = "6fd2c87f-b296-42f0-b197-1e91e994b900"  # Office 365 E3 (a real SKU id)
FIRST_NAMES = ("Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Niklaus")
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
)


def new_user(upn: str, **fields: Any) -> dict[str, Any]:
    """A user with every stored property; `fields` (camelCase) override the defaults."""
    local = upn.split("@", 1)[0]
    user: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "userPrincipalName": upn,
        "mail": upn,
        "givenName": None,
        "surname": None,
        "displayName": local,
        "accountEnabled": True,
        "assignedLicenses": [{"skuId": E3_SKU, "disabledPlans": []}],
        "onPremisesImmutableId": None,
        "onPremisesSyncEnabled": None,
        "onPremisesSamAccountName": None,
        "proxyAddresses": [f"SMTP:{upn}"],
        "businessPhones": [],
        "jobTitle": None,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "createdDateTime": "2024-01-01T00:00:00Z",
        "userType": "Member",
        "department": None,
    }
    unknown = set(fields) - set(USER_PROPERTIES)
    if unknown:
        raise ValueError(f"unknown user properties: {sorted(unknown)}")
    user.update(fields)
    return user


@dataclass
class Tenant:
    """One Entra tenant: users and groups, a change log for delta, and its consent."""

    tenant_id: str
    consented: bool = True
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    seq: int = 0
    changed_at: dict[str, int] = field(default_factory=dict)
    removed: dict[str, tuple[int, str]] = field(default_factory=dict)
    # group changes for /groups/delta: (seq, group id, "member+" / "member-" / "name" / "deleted", member id)
    group_log: list[tuple[int, str, str, str]] = field(default_factory=list)
    # directory roles: (role definition id, principal id, eligible)
    role_assignments: list[tuple[str, str, bool]] = field(default_factory=list)
    skus: dict[str, str] = field(default_factory=dict)  # skuId -> skuPartNumber
    service_principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # delta tokens issued before this generation answer 410 Gone (a sync reset)
    generation: int = 0
    sorted_cache: list[str] = field(default_factory=list)
    sorted_at: int = -1

    def bump(self) -> int:
        self.seq += 1
        return self.seq


class Directory:
    """All tenants of the simulator; every method is thread-safe."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.lock = threading.RLock()

    def tenant(self, tenant_id: str) -> Tenant:
        with self.lock:
            return self.tenants[tenant_id]

    def add_tenant(self, tenant_id: str, *, consented: bool = True) -> Tenant:
        with self.lock:
            t = self.tenants.get(tenant_id)
            if t is None:
                t = self.tenants[tenant_id] = Tenant(tenant_id, consented=consented)
            t.consented = consented
            return t

    # --- users ------------------------------------------------------------------------
    def add_user(self, tenant_id: str, upn: str, **fields: Any) -> str:
        with self.lock:
            t = self.tenant(tenant_id)
            user = new_user(upn, **fields)
            t.users[user["id"]] = user
            t.removed.pop(user["id"], None)
            t.changed_at[user["id"]] = t.bump()
            return str(user["id"])

    def update_user(self, tenant_id: str, user_id: str, **fields: Any) -> None:
        with self.lock:
            t = self.tenant(tenant_id)
            unknown = set(fields) - set(USER_PROPERTIES)
            if unknown or "id" in fields:
                raise ValueError(f"cannot set user properties: {sorted(unknown | ({'id'} & set(fields)))}")
            t.users[user_id].update(fields)
            t.changed_at[user_id] = t.bump()

    def remove_user(self, tenant_id: str, user_id: str, reason: str = "deleted") -> None:
        """`reason` as Graph reports it: "changed" (soft-deleted) or "deleted" (permanent)."""
        with self.lock:
            t = self.tenant(tenant_id)
            del t.users[user_id]
            t.changed_at.pop(user_id, None)
            t.removed[user_id] = (t.bump(), reason)
            for member_ids in t.members.values():
                if user_id in member_ids:
                    member_ids.remove(user_id)

    def seed(
        self,
        tenant_id: str,
        count: int,
        *,
        domain: str = "contoso.test",
        seed: int = 1,
        unlicensed_every: int = 10,
        disabled_every: int = 20,
        synced_every: int = 3,
    ) -> list[str]:
        """Add `count` realistic users quickly: every n-th one unlicensed/disabled/AD-synced."""
        rng = random.Random(seed)  # noqa: S311 - test data, not crypto
        ids: list[str] = []
        with self.lock:
            t = self.tenant(tenant_id)
            for i in range(count):
                given, sur = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                upn = f"{given.lower()}.{sur.lower()}.{i}@{domain}"
                user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                fields: dict[str, Any] = {
                    "id": user_id,
                    "givenName": given,
                    "surname": sur,
                    "displayName": f"{given} {sur}",
                    "proxyAddresses": [f"SMTP:{upn}", f"smtp:{given.lower()}{i}@{domain}"],
                }
                if unlicensed_every and i % unlicensed_every == unlicensed_every - 1:
                    fields["assignedLicenses"] = []
                if disabled_every and i % disabled_every == disabled_every - 1:
                    fields["accountEnabled"] = False
                if synced_every and i % synced_every == 0:
                    fields["onPremisesSyncEnabled"] = True
                    fields["onPremisesSamAccountName"] = f"{given[0].lower()}{sur.lower()}{i}"
                    fields["onPremisesImmutableId"] = base64.b64encode(
                        uuid.UUID(int=rng.getrandbits(128)).bytes_le
                    ).decode()
                user = new_user(upn, **fields)
                t.users[user_id] = user
                t.changed_at[user_id] = t.bump()
                ids.append(user_id)
        return ids

    # --- groups -----------------------------------------------------------------------
    def add_group(self, tenant_id: str, name: str, member_ids: list[str] | tuple[str, ...] = ()) -> str:
        with self.lock:
            t = self.tenant(tenant_id)
            group_id = str(uuid.uuid4())
            t.groups[group_id] = {
                "id": group_id,
                "displayName": name,
                "mail": None,
                "securityEnabled": True,
                "mailEnabled": False,
                "description": None,
            }
            t.members[group_id] = list(member_ids)
            return group_id

    def add_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        with self.lock:
            t = self.tenant(tenant_id)
            if member_id not in t.members[group_id]:
                t.members[group_id].append(member_id)
                t.group_log.append((t.bump(), group_id, "member+", member_id))

    def remove_member(self, tenant_id: str, group_id: str, member_id: str) -> None:
        with self.lock:
            t = self.tenant(tenant_id)
            t.members[group_id].remove(member_id)
            t.group_log.append((t.bump(), group_id, "member-", member_id))

    def rename_group(self, tenant_id: str, group_id: str, name: str) -> None:
        with self.lock:
            t = self.tenant(tenant_id)
            t.groups[group_id]["displayName"] = name
            t.group_log.append((t.bump(), group_id, "name", ""))

    def delete_group(self, tenant_id: str, group_id: str) -> None:
        with self.lock:
            t = self.tenant(tenant_id)
            del t.groups[group_id]
            del t.members[group_id]
            t.group_log.append((t.bump(), group_id, "deleted", ""))

    def assign_role(self, tenant_id: str, role_id: str, principal_id: str, *, eligible: bool = False) -> None:
        """A directory role for a user, a group or a service principal (active or PIM-eligible)."""
        with self.lock:
            self.tenant(tenant_id).role_assignments.append((role_id, principal_id, eligible))

    def add_service_principal(self, tenant_id: str, name: str) -> str:
        with self.lock:
            sp_id = str(uuid.uuid4())
            self.tenant(tenant_id).service_principals[sp_id] = {"id": sp_id, "displayName": name}
            return sp_id

    def add_sku(self, tenant_id: str, sku_id: str, part_number: str) -> None:
        with self.lock:
            self.tenant(tenant_id).skus[sku_id] = part_number

    def group_changes_since(
        self, tenant_id: str, since: int, ids: set[str] | None
    ) -> list[tuple[int, str, str, str]]:
        with self.lock:
            return [
                c for c in self.tenant(tenant_id).group_log if c[0] > since and (ids is None or c[1] in ids)
            ]

    def direct_members(self, tenant_id: str, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(odata type, object) of each direct member, users and groups."""
        with self.lock:
            t = self.tenant(tenant_id)
            out: list[tuple[str, dict[str, Any]]] = []
            for member_id in t.members[group_id]:
                if member_id in t.users:
                    out.append(("#microsoft.graph.user", t.users[member_id]))
                elif member_id in t.groups:
                    out.append(("#microsoft.graph.group", t.groups[member_id]))
            return out

    def transitive_members(self, tenant_id: str, group_id: str) -> list[tuple[str, dict[str, Any]]]:
        seen: set[str] = set()
        out: list[tuple[str, dict[str, Any]]] = []
        stack = [group_id]
        while stack:
            for kind, obj in self.direct_members(tenant_id, stack.pop()):
                if obj["id"] in seen:
                    continue
                seen.add(obj["id"])
                out.append((kind, obj))
                if kind.endswith(".group"):
                    stack.append(obj["id"])
        return out

    # --- reading ----------------------------------------------------------------------
    def sorted_ids(self, tenant_id: str) -> list[str]:
        """User ids in order, cached until the next change (paging 50,000 users stays cheap)."""
        with self.lock:
            t = self.tenant(tenant_id)
            if t.sorted_at != t.seq:
                t.sorted_cache = sorted(t.users)
                t.sorted_at = t.seq
            return t.sorted_cache

    def changes_since(self, tenant_id: str, since: int) -> list[tuple[str, str | None]]:
        """(user id, None) for users changed after sequence `since` and (user id, reason)
        for users removed since, oldest first; a user changed twice appears once."""
        with self.lock:
            t = self.tenant(tenant_id)
            items: list[tuple[int, str, str | None]] = []
            for user_id, seq in t.changed_at.items():
                if seq > since:
                    items.append((seq, user_id, None))
            for user_id, (seq, reason) in t.removed.items():
                if seq > since:
                    items.append((seq, user_id, reason))
            items.sort(key=lambda item: item[0])
            return [(user_id, reason) for _, user_id, reason in items]
