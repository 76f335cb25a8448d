"""Reading users and groups from a real Samba AD DC (R2, R3, R6)."""

from __future__ import annotations

import base64
import uuid

import ldap3

from reconciler.core.model import DirectorySnapshot, DirectoryUser, DirSource
from reconciler.providers.base import DirectoryScope
from tests.ad import seed
from tests.ad.conftest import AdSetup


def by_sam(snap: DirectorySnapshot) -> dict[str | None, DirectoryUser]:
    return {u.sam_account_name: u for u in snap.users}


def raw_guid(admin: ldap3.Connection, dn: str, attribute: str = "objectGUID") -> bytes:
    assert admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
    value: bytes = admin.response[0]["raw_attributes"][attribute][0]
    return value


def test_ou_selection_reads_the_subtree(ad: AdSetup) -> None:
    snap = ad.reader(ous=[seed.STAFF]).read(DirectoryScope(ous=(seed.STAFF,)))
    users = by_sam(snap)
    # OU=Staff and OU=Sales below it; not OU=Service, OU=Admins or OU=Corp itself
    assert set(users) == {"alice", "carol", "frank", "bob", "grace"}
    alice = users["alice"]
    assert alice.source is DirSource.AD
    assert alice.upn == "alice@example.test"
    assert alice.mail == "alice@example.test"
    assert (alice.given_name, alice.surname, alice.display_name) == ("Alice", "Archer", "Alice Archer")
    assert alice.dn == seed.BY_SAM["alice"].dn
    assert alice.member_of == ()  # only selected groups (and groups nested in them) are listed
    assert alice.primary_group_id == 513
    assert users["grace"].mail is None


def test_member_of_lists_the_selected_groups_a_user_is_in(ad: AdSetup) -> None:
    scope = DirectoryScope(ous=(seed.STAFF,), groups=(seed.SALES_TEAM,), nested=False)
    users = by_sam(ad.reader(ous=[seed.STAFF], admin_groups=[seed.SALES_TEAM]).read(scope))
    # alice is also in Newsletter, which nobody selected
    assert [dn.lower() for dn in users["alice"].member_of] == [seed.SALES_TEAM.lower()]
    assert users["frank"].member_of == ()


def test_disabled_users_are_reported_disabled(ad: AdSetup) -> None:
    users = by_sam(ad.reader(ous=[seed.STAFF]).read(DirectoryScope(ous=(seed.STAFF,))))
    assert users["carol"].enabled is False
    assert users["alice"].enabled is True


def test_object_guid_becomes_id_and_immutable_id(ad: AdSetup, admin: ldap3.Connection) -> None:
    users = by_sam(ad.reader(ous=[seed.STAFF]).read(DirectoryScope(ous=(seed.STAFF,))))
    raw = raw_guid(admin, seed.BY_SAM["alice"].dn)
    # objectGUID is stored little-endian in its first three fields
    assert users["alice"].id == str(uuid.UUID(bytes_le=raw))
    assert uuid.UUID(users["alice"].id).bytes_le == raw
    assert users["alice"].immutable_id == base64.b64encode(raw).decode()
    # mS-DS-ConsistencyGuid wins where it is set (Entra Connect's sourceAnchor)
    assert users["frank"].immutable_id == base64.b64encode(seed.CONSISTENCY_GUID).decode()
    assert users["frank"].id == str(uuid.UUID(bytes_le=raw_guid(admin, seed.BY_SAM["frank"].dn)))


def test_group_selection_reads_direct_members_and_primary_group_members(ad: AdSetup) -> None:
    reader = ad.reader(groups=[seed.SALES_TEAM])
    snap = reader.read(DirectoryScope(groups=(seed.SALES_TEAM,), nested=False))
    users = by_sam(snap)
    # heidi's primary group is Sales Team, which AD leaves out of memberOf
    assert set(users) == {"alice", "carol", "heidi"}
    assert seed.SALES_TEAM in users["heidi"].member_of
    assert [g.dn for g in snap.groups] == [seed.SALES_TEAM]


def test_nested_members_come_with_the_groups_in_between(ad: AdSetup) -> None:
    snap = ad.reader(groups=[seed.SALES_TEAM], nested=True).read(
        DirectoryScope(groups=(seed.SALES_TEAM,), nested=True)
    )
    users = by_sam(snap)
    assert set(users) == {"alice", "carol", "heidi", "bob"}
    # bob is a member of Sales EU only; Sales EU is a member of Sales Team
    assert [dn.lower() for dn in users["bob"].member_of] == [seed.SALES_EU.lower()]
    groups = {g.name: g for g in snap.groups}
    assert set(groups) == {"Sales Team", "Sales EU"}
    assert [p.lower() for p in groups["Sales EU"].member_of] == [seed.SALES_TEAM.lower()]


def test_filter_metacharacters_in_group_names_are_escaped(ad: AdSetup) -> None:
    snap = ad.reader(groups=[seed.RND]).read(DirectoryScope(groups=(seed.RND,), nested=False))
    # unescaped, '*' would match every member of any group whose name starts with "R&D (Lab) "
    assert set(by_sam(snap)) == {"grace"}


def test_a_dn_spelled_with_hex_escapes_is_reported_as_written(ad: AdSetup) -> None:
    written = seed.RND.replace("R&D (Lab) *", "R\\26D \\28Lab\\29 \\2a")
    snap = ad.reader(groups=[written]).read(DirectoryScope(groups=(written,), nested=False))
    (grace,) = snap.users
    assert written in grace.member_of
    assert [g.dn for g in snap.groups] == [written]


def test_users_of_several_selections_appear_once(ad: AdSetup) -> None:
    scope = DirectoryScope(ous=(seed.STAFF, seed.SALES_OU), groups=(seed.SALES_TEAM,), nested=False)
    snap = ad.reader(ous=[seed.STAFF, seed.SALES_OU], admin_groups=[seed.SALES_TEAM]).read(scope)
    sams = [u.sam_account_name or "" for u in snap.users]
    assert sorted(sams) == sorted({"alice", "carol", "frank", "bob", "grace", "heidi"})


def test_empty_scope_reads_nothing(ad: AdSetup) -> None:
    assert ad.reader(ous=[seed.STAFF]).read(DirectoryScope()).users == ()
