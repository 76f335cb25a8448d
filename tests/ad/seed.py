"""The test domain seeded into Samba once (cached with the provisioned directory).

Tests never change these objects; tests that write create their own OU.
"""

from __future__ import annotations

from dataclasses import dataclass

import ldap3

BASE = "DC=example,DC=test"
CORP = f"OU=Corp,{BASE}"
STAFF = f"OU=Staff,{CORP}"
SALES_OU = f"OU=Sales,{STAFF}"
SERVICE = f"OU=Service,{CORP}"
ADMINS = f"OU=Admins,{CORP}"
GROUPS = f"OU=Groups,{CORP}"
USERS_CONTAINER = f"CN=Users,{BASE}"

SALES_TEAM = f"CN=Sales Team,{GROUPS}"
SALES_EU = f"CN=Sales EU,{GROUPS}"  # nested inside Sales Team
RND = f"CN=R&D (Lab) *,{GROUPS}"  # filter metacharacters in the name
NEWSLETTER = f"CN=Newsletter,{GROUPS}"  # a distribution group
IT_ADMINS = f"CN=IT Admins,{GROUPS}"
HELPDESK = f"CN=Helpdesk,{USERS_CONTAINER}"  # a group in the default Users container (R5)
# Cert Publishers (RID 517) renamed and moved out of CN=Users: only its SID says it is well known
RENAMED_WELL_KNOWN = f"CN=Zertifikatherausgeber,{GROUPS}"
DOMAIN_USERS = f"CN=Domain Users,{USERS_CONTAINER}"
BUILTIN_USERS = f"CN=Users,CN=Builtin,{BASE}"

USER_PASSWORD = "User-Pass-W0rd!"
READER_UPN = "svc-reader@example.test"  # an ordinary account (no admin rights) the reader binds as
CONSISTENCY_GUID = bytes(range(16))  # frank's mS-DS-ConsistencyGuid

SECURITY_GLOBAL = -2147483646  # 0x80000002
DISTRIBUTION_GLOBAL = 2


@dataclass(frozen=True)
class SeedUser:
    sam: str
    cn: str
    parent: str
    given: str | None
    surname: str | None
    mail: str | None = None
    enabled: bool = True
    groups: tuple[str, ...] = ()

    @property
    def dn(self) -> str:
        return f"CN={self.cn},{self.parent}"

    @property
    def upn(self) -> str:
        return f"{self.sam}@example.test"


# fmt: off
USERS = (
    SeedUser("alice", "Alice Archer", STAFF, "Alice", "Archer", "alice@example.test", groups=(SALES_TEAM, NEWSLETTER)),
    SeedUser("carol", "Carol Cole", STAFF, "Carol", "Cole", "carol@example.test", enabled=False, groups=(SALES_TEAM,)),
    SeedUser("frank", "Frank Fischer", STAFF, "Frank", "Fischer", "frank@example.test"),
    SeedUser("bob", "Bob Baker", SALES_OU, "Bob", "Baker", "bob@example.test", groups=(SALES_EU,)),
    SeedUser("grace", "Grace O'Neil (Ops)", SALES_OU, "Grace", "O'Neil", None, groups=(RND,)),
    SeedUser("heidi", "Heidi Hall", SERVICE, "Heidi", "Hall", "heidi@example.test", groups=(SALES_TEAM,)),
    SeedUser("dave", "Dave Dunn", SERVICE, "Dave", "Dunn", "dave@example.test", groups=(HELPDESK,)),
    SeedUser("erin", "Erin Eve", ADMINS, "Erin", "Eve", "erin@example.test", groups=(IT_ADMINS,)),
    SeedUser("ivan", "Ivan Ives", CORP, "Ivan", "Ives", None),
    SeedUser("svc-reader", "svc-reader", USERS_CONTAINER, None, None),
)
# fmt: on
BY_SAM = {u.sam: u for u in USERS}


def _ok(conn: ldap3.Connection, done: bool, what: str) -> None:
    if not done:
        raise RuntimeError(f"seeding failed at {what}: {conn.result}")


def add_user(conn: ldap3.Connection, user: SeedUser) -> None:
    attrs: dict[str, object] = {
        "sAMAccountName": user.sam,
        "userPrincipalName": user.upn,
        "displayName": f"{user.given} {user.surname}" if user.given else user.sam,
        "unicodePwd": f'"{USER_PASSWORD}"'.encode("utf-16-le"),
        "userAccountControl": 512 | (2 if not user.enabled else 0),
    }
    for name, value in (("givenName", user.given), ("sn", user.surname), ("mail", user.mail)):
        if value:
            attrs[name] = value
    _ok(conn, conn.add(user.dn, ["top", "person", "organizationalPerson", "user"], attrs), user.dn)


def add_group(conn: ldap3.Connection, dn: str, group_type: int = SECURITY_GLOBAL) -> None:
    sam = dn.split(",")[0][3:].replace("*", "").replace("(", "").replace(")", "").strip()
    _ok(conn, conn.add(dn, "group", {"sAMAccountName": sam, "groupType": group_type}), dn)


def add_members(conn: ldap3.Connection, group: str, members: list[str]) -> None:
    _ok(conn, conn.modify(group, {"member": [(ldap3.MODIFY_ADD, members)]}), f"members of {group}")


def group_rid(conn: ldap3.Connection, dn: str) -> int:
    conn.search(dn, "(objectClass=group)", ldap3.BASE, attributes=["objectSid"])
    raw_sid = conn.response[0]["raw_attributes"]["objectSid"][0]
    return int.from_bytes(raw_sid[-4:], "little")


def seed(conn: ldap3.Connection) -> None:
    for ou in (CORP, STAFF, SALES_OU, SERVICE, ADMINS, GROUPS):
        _ok(conn, conn.add(ou, "organizationalUnit"), ou)
    for dn in (SALES_TEAM, SALES_EU, RND, IT_ADMINS, HELPDESK):
        add_group(conn, dn)
    add_group(conn, NEWSLETTER, DISTRIBUTION_GLOBAL)
    for user in USERS:
        add_user(conn, user)
    members: dict[str, list[str]] = {}
    for user in USERS:
        for group in user.groups:
            members.setdefault(group, []).append(user.dn)
    members[SALES_TEAM].append(SALES_EU)
    for group, dns in members.items():
        add_members(conn, group, dns)
    frank = BY_SAM["frank"].dn
    _ok(
        conn,
        conn.modify(frank, {"mS-DS-ConsistencyGuid": [(ldap3.MODIFY_REPLACE, [CONSISTENCY_GUID])]}),
        frank,
    )
    # heidi's primary group is Sales Team: AD then leaves it out of her memberOf
    rid = group_rid(conn, SALES_TEAM)
    heidi = BY_SAM["heidi"].dn
    _ok(conn, conn.modify(heidi, {"primaryGroupID": [(ldap3.MODIFY_REPLACE, [str(rid)])]}), heidi)
    cert_publishers = f"CN=Cert Publishers,{USERS_CONTAINER}"
    _ok(
        conn,
        conn.modify_dn(cert_publishers, "CN=Zertifikatherausgeber", new_superior=GROUPS),
        cert_publishers,
    )
