"""Live stage (AD): LDAP entries -> domain values. Pure: bytes in, values out.

Values are taken from ldap3's `raw_attributes` (bytes), never from its
schema-driven decoding: the reader does not download the schema (slow, and it
varies by server), so binary attributes such as objectGUID must be decoded here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.core.model import DirectoryGroup, DirectoryUser, DirSource

# APIS.md section 3: what we read of a user
USER_ATTRIBUTES = (
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "objectSid",
    "userPrincipalName",
    "sAMAccountName",
    "mail",
    "givenName",
    "sn",
    "displayName",
    "userAccountControl",
    "primaryGroupID",
    "memberOf",
)
GROUP_ATTRIBUTES = ("objectGUID", "objectSid", "cn", "sAMAccountName", "groupType", "memberOf")
CLASS_ATTRIBUTES = ("objectClass",)

USERS_FILTER = "(&(objectCategory=person)(objectClass=user))"
GROUPS_FILTER = "(objectClass=group)"
UAC_ACCOUNTDISABLE = 0x2
GROUP_TYPE_SECURITY = 0x80000000
# LDAP_MATCHING_RULE_IN_CHAIN: transitive membership, evaluated by the DC
IN_CHAIN = "1.2.840.113556.1.4.1941"

RawAttributes = Mapping[str, Sequence[bytes]]


def _first(raw: RawAttributes, name: str) -> bytes | None:
    values = raw.get(name)
    return values[0] if values else None


def text(raw: RawAttributes, name: str) -> str | None:
    value = _first(raw, name)
    return value.decode("utf-8", errors="replace") if value is not None else None


def texts(raw: RawAttributes, name: str) -> tuple[str, ...]:
    return tuple(v.decode("utf-8", errors="replace") for v in raw.get(name) or ())


def integer(raw: RawAttributes, name: str) -> int | None:
    value = text(raw, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def guid_text(raw_guid: bytes) -> str:
    """objectGUID bytes (little-endian GUID layout) -> canonical UUID text."""
    return str(uuid.UUID(bytes_le=raw_guid))


def guid_bytes(text_guid: str) -> bytes:
    return uuid.UUID(text_guid).bytes_le


def immutable_id(raw_guid: bytes, consistency_guid: bytes | None) -> str:
    """R3: Entra's onPremisesImmutableId for this user."""
    return base64.b64encode(consistency_guid or raw_guid).decode("ascii")


def sid_text(raw_sid: bytes) -> str:
    """Binary SID -> S-1-5-21-...; revision, count, 48-bit authority (big-endian),
    then `count` 32-bit sub-authorities (little-endian)."""
    if len(raw_sid) < 8:
        raise ValueError("SID too short")
    revision, count = raw_sid[0], raw_sid[1]
    if len(raw_sid) != 8 + 4 * count:
        raise ValueError("SID length does not match its sub-authority count")
    authority = int.from_bytes(raw_sid[2:8], "big")
    subs = [int.from_bytes(raw_sid[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def rid(sid: str) -> int | None:
    tail = sid.rpartition("-")[2]
    return int(tail) if tail.isdigit() else None


def escape_bytes(value: bytes) -> str:
    """A binary value in a filter: every byte as \\xx."""
    return "".join(f"\\{b:02x}" for b in value)


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    raw: RawAttributes

    @property
    def guid(self) -> str:
        raw_guid = _first(self.raw, "objectGUID")
        if raw_guid is None or len(raw_guid) != 16:
            raise ValueError(f"{self.dn}: no objectGUID (is the bind account allowed to read it?)")
        return guid_text(raw_guid)

    @property
    def object_classes(self) -> frozenset[str]:
        return frozenset(c.lower() for c in texts(self.raw, "objectClass"))

    @property
    def sid(self) -> str | None:
        raw_sid = _first(self.raw, "objectSid")
        return sid_text(raw_sid) if raw_sid else None


def to_user(entry: Entry) -> DirectoryUser:
    raw = entry.raw
    raw_guid = _first(raw, "objectGUID")
    if raw_guid is None:
        raise ValueError(f"{entry.dn}: no objectGUID")
    uac = integer(raw, "userAccountControl") or 0
    sam = text(raw, "sAMAccountName")
    return DirectoryUser(
        source=DirSource.AD,
        id=guid_text(raw_guid),
        upn=text(raw, "userPrincipalName") or "",
        sam_account_name=sam,
        mail=text(raw, "mail"),
        given_name=text(raw, "givenName"),
        surname=text(raw, "sn"),
        display_name=text(raw, "displayName"),
        enabled=not uac & UAC_ACCOUNTDISABLE,
        immutable_id=immutable_id(raw_guid, _first(raw, "mS-DS-ConsistencyGuid")),
        dn=entry.dn,
        member_of=texts(raw, "memberOf"),
        primary_group_id=integer(raw, "primaryGroupID"),
    )


def to_group(entry: Entry) -> DirectoryGroup:
    raw = entry.raw
    return DirectoryGroup(
        source=DirSource.AD,
        id=entry.guid,
        name=text(raw, "cn") or text(raw, "sAMAccountName") or entry.dn,
        dn=entry.dn,
        sid=entry.sid,
        member_of=texts(raw, "memberOf"),
    )


def is_security_group(entry: Entry) -> bool:
    group_type = integer(entry.raw, "groupType") or 0
    return bool(group_type & GROUP_TYPE_SECURITY)
