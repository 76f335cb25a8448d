"""Pure core: the domain's data, as immutable values shared by every stage.

Live data (what providers read): `DirectoryUser`, `DirectoryGroup`,
`DirectoryRole`, `DirectorySnapshot`, `PasswordEntry`, `PsaContact`.
Managed data (what we own): `Account` and its links to integration records.
Requests to create things: `NewPasswordEntry`, `NewContact`, `WelcomeEmail`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# the one enum of integration kinds (re-exported: the core's modules name it from here)
from reconciler.integrations.kinds import IntegrationKind as IntegrationKind
from reconciler.integrations.kinds import Role


class DirSource(StrEnum):
    ENTRA = "entra"
    AD = "ad"


class AccountClass(StrEnum):
    END_USER = "end-user"
    ADMIN = "admin"


PASSWORD_MANAGERS = tuple(k for k in IntegrationKind if k.role is Role.VAULT)
PSAS = tuple(k for k in IntegrationKind if k.role is Role.PSA)


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A user as a directory reports it. `id` is the Entra object id or the AD
    objectGUID (canonical UUID text); `immutable_id` is Entra's
    onPremisesImmutableId, or for AD base64(mS-DS-ConsistencyGuid or objectGUID).
    `user_type` is Entra's userType ("Member" / "Guest"; None when unknown or AD);
    `sku_ids` the assigned licence SKU ids (Entra; `licensed` says whether there is any)."""

    source: DirSource
    id: str
    upn: str
    sam_account_name: str | None = None
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    display_name: str | None = None
    enabled: bool = True
    licensed: bool = False
    immutable_id: str | None = None
    proxy_addresses: tuple[str, ...] = ()
    dn: str | None = None
    member_of: tuple[str, ...] = ()
    primary_group_id: int | None = None
    user_type: str | None = None
    sku_ids: tuple[str, ...] = ()

    @property
    def guest(self) -> bool:
        return (self.user_type or "").lower() == "guest"

    @property
    def primary_smtp(self) -> str | None:
        for addr in self.proxy_addresses:
            if addr.startswith("SMTP:"):
                return addr[5:]
        return self.mail


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    """A group; `dn` for AD (the id used in selections), `member_of` its parent groups.

    Entra groups carry their members instead (user object ids): `members` at any
    depth (transitiveMembers) and `direct_members` (read only when a selection
    turns nesting off, else empty). `aliases` are the selection references that
    resolved to this group (a display name as written in the policy), so a group
    renamed since stays selected."""

    source: DirSource
    id: str
    name: str
    dn: str | None = None
    sid: str | None = None
    member_of: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    direct_members: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleHolder:
    """One assignment of a directory role: a user or a group (whose members hold it)."""

    principal_id: str
    principal_type: str  # "user", "group", "servicePrincipal"
    eligible: bool = False  # PIM-eligible, not active


@dataclass(frozen=True, slots=True)
class DirectoryRole:
    """An Entra directory role (built-in roles: id = roleTemplateId) and who holds it."""

    id: str
    name: str
    holders: tuple[RoleHolder, ...] = ()


@dataclass(frozen=True, slots=True)
class Sku:
    """A licence the tenant subscribes to (/subscribedSkus)."""

    id: str
    part_number: str


@dataclass(frozen=True, slots=True)
class DirectorySnapshot:
    """What a directory reported. `roles_read_at` (Unix time) says when the role
    assignments were read (they have no delta); `warnings` are the reader's
    (a renamed OU or group kept in force, ...)."""

    users: tuple[DirectoryUser, ...]
    groups: tuple[DirectoryGroup, ...] = ()
    roles: tuple[DirectoryRole, ...] = ()
    skus: tuple[Sku, ...] = ()
    roles_read_at: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PasswordEntry:
    """An IT Glue password / Hudu asset password (never its secret value)."""

    integration: IntegrationKind
    id: str
    name: str
    username: str | None
    category: str | None
    archived: bool = False
    marker: str | None = None
    lineage: str | None = None  # of the state that created it (#12); None on older markers


@dataclass(frozen=True, slots=True)
class PsaContact:
    integration: IntegrationKind
    id: str
    first_name: str | None
    last_name: str | None
    emails: tuple[str, ...] = ()
    active: bool = True
    marker: str | None = None
    lineage: str | None = None


@dataclass(frozen=True, slots=True)
class NewPasswordEntry:
    """Create request; the client stores `marker_text(marker)` in notes/description."""

    name: str
    username: str
    category: str
    marker: str
    lineage: str | None = None  # written beside the marker: which state created the record


@dataclass(frozen=True, slots=True)
class NewContact:
    first_name: str
    last_name: str
    email: str | None
    marker: str
    lineage: str | None = None


@dataclass(frozen=True, slots=True)
class WelcomeEmail:
    to: str
    subject: str
    body: str
    marker: str


@dataclass(frozen=True, slots=True)
class Account:
    """A managed end-user (or admin) account. `key` is its identity:
    `<class>/<source>:<directory id>`; everything else is compared as value."""

    key: str
    account_class: AccountClass
    sources: tuple[DirSource, ...]
    upn: str
    sam_account_name: str | None = None
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    display_name: str | None = None
    entra_id: str | None = None
    ad_guid: str | None = None
    password_sync: bool = False
    self_serve: bool = False
    password_remember: bool = False

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ACCOUNT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        d = self.fields()
        d["key"] = self.key
        d["account_class"] = self.account_class.value
        d["sources"] = [s.value for s in self.sources]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Account:
        try:  # every field present, as `to_dict` writes them: one call (state load at 100k)
            return cls(
                key=d["key"],
                account_class=_ACCOUNT_CLASSES[d["account_class"]],
                sources=tuple(map(_SOURCES.__getitem__, d["sources"])),
                upn=d["upn"],
                sam_account_name=d["sam_account_name"],
                mail=d["mail"],
                given_name=d["given_name"],
                surname=d["surname"],
                display_name=d["display_name"],
                entra_id=d["entra_id"],
                ad_guid=d["ad_guid"],
                password_sync=bool(d["password_sync"]),
                self_serve=bool(d["self_serve"]),
                password_remember=bool(d["password_remember"]),
            )
        except KeyError:
            pass  # an older row without some field: the defaults fill it in
        kw: dict[str, Any] = {name: d.get(name) for name in ACCOUNT_FIELDS if name in d}
        for flag in ("password_sync", "self_serve", "password_remember"):
            kw[flag] = bool(kw.get(flag, False))
        return cls(
            key=d["key"],
            # a dict lookup: calling an enum class is a slow Python-level call (state load at 100k)
            account_class=_ACCOUNT_CLASSES[d["account_class"]],
            sources=tuple(_SOURCES[s] for s in d["sources"]),
            **kw,
        )


_ACCOUNT_CLASSES = {c.value: c for c in AccountClass}
_SOURCES = {s.value: s for s in DirSource}

ACCOUNT_FIELDS = (
    "upn", "sam_account_name", "mail", "given_name", "surname", "display_name",
    "entra_id", "ad_guid", "password_sync", "self_serve", "password_remember",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Link:
    """An account's link to one integration record."""

    account_key: str
    integration: IntegrationKind
    record_id: str


@dataclass(frozen=True)
class ManagedState:
    """What the state store holds for one customer, as the planner sees it."""

    serial: int = 0
    accounts: dict[str, Account] = field(default_factory=dict)
    links: dict[tuple[str, IntegrationKind], Link] = field(default_factory=dict)
    welcome: dict[str, WelcomeStatus] = field(default_factory=dict)
    lineage: str = ""  # the state's identity (#12); records we create carry it
    adopted: frozenset[str] = frozenset()  # other lineages `state rebuild` accepted for this customer
    # `state rm` of a link: (account, integration) -> the record not to link again
    detached: dict[tuple[str, IntegrationKind], str] = field(default_factory=dict)
    # owned fields of each linked record when it was linked or created (core/drift.py)
    fingerprints: dict[tuple[str, IntegrationKind], str] = field(default_factory=dict)


class WelcomeStatus(StrEnum):
    """R16 bookkeeping: `due` is recorded with the new account, `pending` just before
    the send, `sent` after it. A `pending` left by a crash is never resent by itself."""

    DUE = "due"
    PENDING = "pending"
    SENT = "sent"
    UNKNOWN = "unknown"  # re-adopted by `state rebuild` from a marker: handled before, never resent


# --- markers on records we create (crash-safe reruns find their own creations) -----

_MARKER = re.compile(r"\[reconciler:managed ([^\]\s]+)\]")
_LINEAGE = re.compile(r"\[reconciler:lineage ([0-9a-f]{8,64})\]")


def marker_for(customer: str, account_key: str) -> str:
    return f"{customer}/{account_key}"


def marker_text(marker: str, lineage: str | None = None) -> str:
    """The tag a client writes into a created record's notes/description. The lineage
    is a tag of its own, so readers of the marker alone (older versions) still find it."""
    tag = f"[reconciler:managed {marker}]"
    return f"{tag} {lineage_text(lineage)}" if lineage else tag


def lineage_text(lineage: str) -> str:
    """The lineage tag alone (for vendors that keep tags as a list, like ConnectWise)."""
    return f"[reconciler:lineage {lineage}]"


def parse_lineage(text: str | None) -> str | None:
    """The lineage tag beside a marker, or None (markers written before #12 have none)."""
    m = _LINEAGE.search(text) if text else None
    return m.group(1) if m else None


def parse_marker(text: str | None) -> str | None:
    if not text:
        return None
    m = _MARKER.search(text)
    return m.group(1) if m else None
