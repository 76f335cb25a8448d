"""Config stage (pure, shared with the AD provider): helpers for AD distinguished names and well-known groups (R4, R5).

Well-known groups are identified by SID (domain RID or BUILTIN S-1-5-32-*),
with English names only as the offline, by-name check done at validation.
"""

from __future__ import annotations

import re

# R4: domain-relative RIDs of default groups (APIS.md section 3), plus 498
# (Enterprise Read-only Domain Controllers, whose name is in the list below)
WELL_KNOWN_DOMAIN_RIDS = frozenset({498, *range(512, 528), 553, 571, 572})

WELL_KNOWN_GROUP_NAMES = frozenset(
    name.lower()
    for name in (
        "Domain Admins",
        "Domain Users",
        "Domain Guests",
        "Domain Computers",
        "Domain Controllers",
        "Cert Publishers",
        "Schema Admins",
        "Enterprise Admins",
        "Group Policy Creator Owners",
        "Read-only Domain Controllers",
        "Enterprise Read-only Domain Controllers",
        "Cloneable Domain Controllers",
        "Protected Users",
        "Key Admins",
        "Enterprise Key Admins",
        "RAS and IAS Servers",
        "Allowed RODC Password Replication Group",
        "Denied RODC Password Replication Group",
        "Administrators",
        "Users",
        "Guests",
        "Account Operators",
        "Server Operators",
        "Print Operators",
        "Backup Operators",
        "Replicator",
        "Remote Desktop Users",
        "Network Configuration Operators",
        "Performance Monitor Users",
        "Performance Log Users",
        "Distributed COM Users",
        "IIS_IUSRS",
        "Cryptographic Operators",
        "Event Log Readers",
        "Certificate Service DCOM Access",
        "Remote Management Users",
        "Pre-Windows 2000 Compatible Access",
        "Windows Authorization Access Group",
        "Terminal Server License Servers",
        "Incoming Forest Trust Builders",
        "Access Control Assistance Operators",
        "Hyper-V Administrators",
        "Storage Replica Administrators",
    )
)

_SPLIT = re.compile(r"(?<!\\),")


def dn_parts(dn: str) -> list[str]:
    """RDNs of a DN, normalised (case-folded, spaces around '=' and ',' removed)."""
    parts = []
    for rdn in _SPLIT.split(dn.strip()):
        if not rdn.strip():
            continue
        attr, _, value = rdn.partition("=")
        parts.append(f"{attr.strip().lower()}={value.strip().lower()}")
    return parts


def normalize_dn(dn: str) -> str:
    return ",".join(dn_parts(dn))


def rdn_value(dn: str) -> str:
    parts = dn_parts(dn)
    return parts[0].partition("=")[2] if parts else ""


def is_under(dn: str, base: str) -> bool:
    """True when `dn` is `base` or inside its subtree (compare normalised DNs)."""
    d, b = normalize_dn(dn), normalize_dn(base)
    return d == b or d.endswith("," + b)


def default_container(dn: str) -> str | None:
    """'Builtin' or 'Users' when the object sits directly in that default container (R5)."""
    parts = dn_parts(dn)
    if (
        len(parts) >= 2
        and parts[1] in ("cn=builtin", "cn=users")
        and all(p.startswith("dc=") for p in parts[2:])
    ):
        return "Builtin" if parts[1] == "cn=builtin" else "Users"
    return None


def is_well_known_sid(sid: str, domain_sid: str | None = None) -> bool:
    """R4: BUILTIN (S-1-5-32-*) or a default domain group by RID."""
    if sid.startswith("S-1-5-32-"):
        return True
    prefix, _, rid = sid.rpartition("-")
    if domain_sid is not None and prefix != domain_sid:
        return False
    return rid.isdigit() and int(rid) in WELL_KNOWN_DOMAIN_RIDS
