"""Live stage (AD): what a customer's domain offers to select (`reconciler discover`).

The seeds' selection screen: "a list of OUs that currently have User Accounts
in them, and a list of Active Directory Security Groups", default groups hidden.
Two paged searches under baseDn: every user (DN only), grouped by the OU or
container it sits in; every security group with its `member` values counted
(more than 1,500 members come back range-tagged: shown as "1500+"). Groups that
can never be selected are left out: well-known SIDs (R4) and groups in the
Builtin or Users containers (R5).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.config.adnames import default_container, is_well_known_sid
from reconciler.providers.ldap.entries import GROUP_TYPE_SECURITY, USERS_FILTER, text

SECURITY_GROUPS = f"(&(objectClass=group)(groupType:1.2.840.113556.1.4.803:={GROUP_TYPE_SECURITY}))"


@dataclass(frozen=True)
class AdOu:
    dn: str
    users: int


@dataclass(frozen=True)
class AdGroup:
    dn: str
    name: str
    members: int
    more: bool  # the member list was range-tagged: at least `members`
    location: str


def parent_of(dn: str) -> str:
    parts = dn.split(",", 1)
    return parts[1].strip() if len(parts) == 2 else dn


def discover_ad(reader: object, search: str = "") -> tuple[list[AdOu], list[AdGroup]]:
    from reconciler.providers.ldap.reader import AdReader

    assert isinstance(reader, AdReader)
    needle = search.casefold()
    ous: dict[str, int] = {}
    groups: list[AdGroup] = []
    with reader._session() as session, reader._clear_errors():
        for entry in session.search(reader.base_dn, USERS_FILTER, ("objectGUID",)):
            parent = parent_of(entry.dn)
            ous[parent] = ous.get(parent, 0) + 1
        for entry in session.search(
            reader.base_dn, SECURITY_GROUPS, ("objectSid", "cn", "member", "groupType")
        ):
            sid = entry.sid
            if (sid is not None and is_well_known_sid(sid)) or default_container(entry.dn) is not None:
                continue
            ranged = [k for k in entry.raw if k.lower().startswith("member;range=")]
            values = entry.raw.get(ranged[0] if ranged else "member") or ()
            name = text(entry.raw, "cn") or entry.dn
            if needle and needle not in name.casefold() and needle not in entry.dn.casefold():
                continue
            groups.append(AdGroup(entry.dn, name, len(values), bool(ranged), parent_of(entry.dn)))
    listed = [AdOu(dn, n) for dn, n in sorted(ous.items()) if not needle or needle in dn.casefold()]
    return listed, sorted(groups, key=lambda g: g.name.casefold())
