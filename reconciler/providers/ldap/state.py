"""Live stage (AD): what the reader remembers between runs, and the snapshot it returns.

`SyncState` is the directory as last read for one customer's scope: every
selected OU and group (resolved to GUID and the server's DN) with the GUIDs of
its users, the users themselves, and the groups nested inside selected groups.
It is kept as JSON in the customer's cursor store together with the DC it was
read from (dsServiceName, invocationId), that DC's highestCommittedUSN, and how
removals can be seen (readable tombstones, or when members were last listed),
so an incremental run can ask only for what changed since. Pure: no LDAP here.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from reconciler.config.adnames import normalize_dn
from reconciler.core.model import DirectoryGroup, DirectorySnapshot, DirectoryUser, DirSource

STATE_VERSION = 2
CURSOR_NAME = "ad.sync"

_RDN_SPLIT = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class DcIdentity:
    """A DC's USNs are only comparable on the same DC and the same database
    (invocationId changes when a DC is restored from backup)."""

    service: str
    invocation: str


@dataclass
class SelectedOu:
    dn: str  # as written in the selection
    guid: str
    server_dn: str
    members: set[str] = field(default_factory=set)


@dataclass
class SelectedGroup:
    dn: str
    guid: str
    server_dn: str
    sid: str | None
    rid: int | None
    name: str
    parents: tuple[str, ...] = ()
    members: set[str] = field(default_factory=set)
    chain: set[str] = field(default_factory=set)  # GUIDs of groups nested inside (when nested)


@dataclass
class SyncState:
    dc: DcIdentity
    usn: int
    scope_key: str
    naming_context: str
    deleted_objects: str | None = None  # DN of CN=Deleted Objects when this account can list it
    tombstone_sentinel: str | None = None  # GUID of a tombstone seen there: proves we still can
    presence_checked_at: float = 0.0  # when the DC last listed every selection's members
    ous: dict[str, SelectedOu] = field(default_factory=dict)
    groups: dict[str, SelectedGroup] = field(default_factory=dict)
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    nested_groups: dict[str, DirectoryGroup] = field(default_factory=dict)

    def selected(self) -> list[SelectedOu | SelectedGroup]:
        return [*self.ous.values(), *self.groups.values()]

    def prune(self) -> None:
        """Forget users and nested groups no selection holds any more."""
        wanted = set().union(
            *(s.members for s in self.ous.values()), *(g.members for g in self.groups.values())
        )
        for guid in [g for g in self.users if g not in wanted]:
            del self.users[guid]
        chains = set().union(*(g.chain for g in self.groups.values()))
        for guid in [g for g in self.nested_groups if g not in chains]:
            del self.nested_groups[guid]

    # --- JSON for the cursor store -------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": STATE_VERSION,
                "dc": asdict(self.dc),
                "usn": self.usn,
                "scope": self.scope_key,
                "nc": self.naming_context,
                "deleted_objects": self.deleted_objects,
                "tombstone_sentinel": self.tombstone_sentinel,
                "presence_checked_at": self.presence_checked_at,
                "ous": [{**asdict(o), "members": sorted(o.members)} for o in self.ous.values()],
                "groups": [
                    {**asdict(g), "members": sorted(g.members), "chain": sorted(g.chain)}
                    for g in self.groups.values()
                ],
                "users": [_plain(asdict(u)) for u in self.users.values()],
                "nested": [_plain(asdict(g)) for g in self.nested_groups.values()],
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SyncState | None:
        """The stored state, or None when it is missing, unreadable or of another version."""
        try:
            d = json.loads(text)
            if d.get("v") != STATE_VERSION:
                return None
            state = cls(
                DcIdentity(**d["dc"]), int(d["usn"]), d["scope"], d["nc"],
                d["deleted_objects"], d["tombstone_sentinel"], float(d["presence_checked_at"]),
            )  # fmt: skip
            for o in d["ous"]:
                state.ous[o["dn"]] = SelectedOu(o["dn"], o["guid"], o["server_dn"], set(o["members"]))
            for g in d["groups"]:
                state.groups[g["dn"]] = SelectedGroup(
                    g["dn"], g["guid"], g["server_dn"], g["sid"], g["rid"], g["name"],
                    tuple(g["parents"]), set(g["members"]), set(g["chain"]),
                )  # fmt: skip
            for u in d["users"]:
                user = _user(u)
                state.users[user.id] = user
            for n in d["nested"]:
                group = _group(n)
                state.nested_groups[group.id] = group
            return state
        except (ValueError, KeyError, TypeError):
            return None


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples the frozen dataclasses hold (every tuple field)."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}


def _user(d: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(**{**_tuples(d), "source": DirSource(d["source"])})


def _group(d: dict[str, Any]) -> DirectoryGroup:
    return DirectoryGroup(**{**_tuples(d), "source": DirSource(d["source"])})


# --- the snapshot handed to the core ---------------------------------------------------


def respell(dn: str, suffixes: dict[str, str]) -> str:
    """`dn` with a selected DN's server spelling replaced by the spelling of the
    selection (e.g. `CN=R\\26D` vs `CN=R&D`), so the core can compare DNs with
    `normalize_dn` against what the customer wrote."""
    if not suffixes:
        return dn
    rdns = _RDN_SPLIT.split(dn)
    for i in range(len(rdns)):
        written = suffixes.get(normalize_dn(",".join(rdns[i:])))
        if written is not None:
            return ",".join([*rdns[:i], written])
    return dn


def snapshot(state: SyncState) -> DirectorySnapshot:
    """Users of every selection; selected groups and the groups nested in them.

    A user's `member_of` lists its direct groups among those (the selected groups
    and the groups nested in them), including a selected group that is its
    primary group (AD leaves primary groups out of memberOf). Other groups are
    left out: the core does not need them, and the cache only keeps these current."""
    suffixes: dict[str, str] = {}
    for sel in state.selected():
        if normalize_dn(sel.server_dn) != normalize_dn(sel.dn):
            suffixes[normalize_dn(sel.server_dn)] = sel.dn
    by_rid = {g.rid: g.dn for g in state.groups.values() if g.rid is not None}
    relevant = {normalize_dn(g.server_dn) for g in state.groups.values()}
    relevant |= {normalize_dn(n.dn) for n in state.nested_groups.values() if n.dn}

    users = []
    for guid in sorted(state.users):
        user = state.users[guid]
        member_of = [respell(dn, suffixes) for dn in user.member_of if normalize_dn(dn) in relevant]
        primary = by_rid.get(user.primary_group_id) if user.primary_group_id is not None else None
        if primary is not None and primary not in member_of:
            member_of.append(primary)
        users.append(replace(user, dn=respell(user.dn or "", suffixes) or None, member_of=tuple(member_of)))

    groups = [
        DirectoryGroup(
            source=DirSource.AD,
            id=g.guid,
            name=g.name,
            dn=g.dn,
            sid=g.sid,
            member_of=tuple(respell(p, suffixes) for p in g.parents),
        )
        for g in sorted(state.groups.values(), key=lambda g: g.guid)
    ]
    for guid in sorted(state.nested_groups):
        n = state.nested_groups[guid]
        groups.append(
            DirectoryGroup(
                source=DirSource.AD,
                id=n.id,
                name=n.name,
                dn=respell(n.dn or "", suffixes),
                sid=n.sid,
                member_of=tuple(respell(p, suffixes) for p in n.member_of),
            )
        )
    unique: dict[str, DirectoryGroup] = {}
    for group in groups:  # a selected group may also sit inside another selected group
        unique.setdefault(group.id, group)
    return DirectorySnapshot(users=tuple(users), groups=tuple(unique.values()))
