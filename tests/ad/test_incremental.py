"""Incremental reads (highestCommittedUSN + presence check) against the real DC.

Each test works in an OU of its own and binds as an ordinary user, who cannot
see deleted objects: removals must be found without tombstones (R8).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import ldap3
import pytest

from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope
from reconciler.providers.ldap import AdReader
from reconciler.providers.ldap.state import CURSOR_NAME
from tests.ad import seed
from tests.ad.conftest import AdSetup


@dataclass
class Lab:
    """OU=t-..,DC=example,DC=test with OU=Team, groups Crew > Inner (nested), and users."""

    admin: ldap3.Connection
    ou: str

    @property
    def team(self) -> str:
        return f"OU=Team,{self.ou}"

    @property
    def crew(self) -> str:
        return f"CN=Crew,{self.ou}"

    @property
    def inner(self) -> str:
        return f"CN=Inner,{self.ou}"

    def user(self, sam: str, parent: str | None = None, **kw: object) -> str:
        u = seed.SeedUser(f"{sam}-{self.ou[5:13]}", sam.title(), parent or self.team, sam.title(), "Test",
                          f"{sam}@example.test", **kw)  # type: ignore[arg-type]  # fmt: skip
        seed.add_user(self.admin, u)
        return u.dn

    def join(self, group: str, dn: str) -> None:
        seed.add_members(self.admin, group, [dn])

    def leave(self, group: str, dn: str) -> None:
        assert self.admin.modify(group, {"member": [(ldap3.MODIFY_DELETE, [dn])]}), self.admin.result

    def set(self, dn: str, **attrs: object) -> None:
        changes = {k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in attrs.items()}
        assert self.admin.modify(dn, changes), self.admin.result


@pytest.fixture
def lab(admin: ldap3.Connection, scratch_ou: str) -> Iterator[Lab]:
    lab = Lab(admin, scratch_ou)
    assert admin.add(lab.team, "organizationalUnit"), admin.result
    seed.add_group(admin, lab.crew)
    seed.add_group(admin, lab.inner)
    lab.join(lab.crew, lab.inner)
    yield lab


def sams(reader: AdReader, scope: DirectoryScope) -> dict[str, str | None]:
    """sAMAccountName prefix -> mail, of an incremental read."""
    return {(u.sam_account_name or "").split("-")[0]: u.mail for u in reader.read(scope).users}


def test_no_change_run_costs_two_base_searches(ad: AdSetup, lab: Lab) -> None:
    lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    first = reader.read(scope)
    assert reader.last_sync == "full"
    second = reader.read(scope)
    assert reader.last_sync == "unchanged"
    assert reader.stats.searches == 2  # rootDSE and the DC's invocationId
    assert second == first


def test_changes_in_an_ou_are_picked_up(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    assert sams(reader, scope) == {"ann": "ann@example.test"}

    lab.set(ann, mail="ann.new@example.test")
    lab.user("ben")
    assert sams(reader, scope) == {"ann": "ann.new@example.test", "ben": "ben@example.test"}
    assert reader.last_sync == "incremental"
    # root + invocationId, selection objects, the delta, one presence check
    assert reader.stats.searches == 5


def test_disabling_a_user_is_seen(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    assert [u.enabled for u in reader.read(scope).users] == [True]
    lab.set(ann, userAccountControl="514")
    assert [u.enabled for u in reader.read(scope).users] == [False]
    assert reader.last_sync == "incremental"


def test_deleted_user_disappears_without_tombstone_access(ad: AdSetup, lab: Lab) -> None:
    ann, _ = lab.user("ann"), lab.user("ben")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    assert set(sams(reader, scope)) == {"ann", "ben"}
    assert lab.admin.delete(ann), lab.admin.result
    assert set(sams(reader, scope)) == {"ben"}
    assert reader.last_sync == "incremental"
    assert reader.last_reason.endswith("removals by presence check")


def admin_reader(ad: AdSetup, lab: Lab, **selection: object) -> AdReader:
    """Bound as Administrator, who may list CN=Deleted Objects (made non-empty here)."""
    lab.admin.delete(lab.user("gone", parent=lab.ou))
    return ad.reader(user=ad.dc.admin_upn, password=ad.dc.admin_password, **selection)


def test_deleted_user_disappears_through_its_tombstone(ad: AdSetup, lab: Lab) -> None:
    ann, _ = lab.user("ann"), lab.user("ben")
    lab.join(lab.crew, ann)
    scope = DirectoryScope(ous=(lab.team,), groups=(lab.crew,), nested=False)
    reader = admin_reader(ad, lab, ous=[lab.team], admin_groups=[lab.crew])
    assert set(sams(reader, scope)) == {"ann", "ben"}
    assert lab.admin.delete(ann), lab.admin.result
    assert set(sams(reader, scope)) == {"ben"}
    assert reader.last_reason.endswith("removals by tombstones")
    # no member listing: root, invocationId, selection objects, delta, tombstones
    # (and a re-read of Crew if the DC counts the deletion as a change of the group)
    assert reader.stats.searches in (5, 6)
    assert reader.stats.entries < 10


def test_members_are_still_listed_once_a_day_with_tombstones(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = admin_reader(ad, lab, ous=[lab.team])
    reader.read(scope)
    lab.set(ann, mail="ann.2@example.test")
    reader.read(scope)
    assert reader.last_reason.endswith("removals by tombstones")
    now = reader.clock()
    reader.clock = lambda: now + reader.presence_every_seconds + 1
    lab.set(ann, mail="ann.3@example.test")
    assert sams(reader, scope) == {"ann": "ann.3@example.test"}
    assert reader.last_reason.endswith("removals by presence check")
    lab.set(ann, mail="ann.4@example.test")
    reader.read(scope)
    assert reader.last_reason.endswith("removals by tombstones")


def test_user_moved_out_of_the_ou_disappears_and_moved_inside_stays(ad: AdSetup, lab: Lab) -> None:
    ann, ben = lab.user("ann"), lab.user("ben")
    assert lab.admin.add(f"OU=Sub,{lab.team}", "organizationalUnit")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    assert set(sams(reader, scope)) == {"ann", "ben"}
    assert lab.admin.modify_dn(ann, "CN=Ann", new_superior=lab.ou)  # out of OU=Team
    assert lab.admin.modify_dn(ben, "CN=Ben", new_superior=f"OU=Sub,{lab.team}")
    users = reader.read(scope).users
    assert reader.last_sync == "incremental"
    assert [u.dn for u in users] == [f"CN=Ben,OU=Sub,{lab.team}"]


def test_group_membership_changes_are_picked_up(ad: AdSetup, lab: Lab) -> None:
    ann, ben = lab.user("ann"), lab.user("ben")
    lab.join(lab.crew, ann)
    scope = DirectoryScope(groups=(lab.crew,), nested=False)
    reader = ad.reader(groups=[lab.crew])
    assert set(sams(reader, scope)) == {"ann"}

    lab.join(lab.crew, ben)  # changes the group, not the user
    assert set(sams(reader, scope)) == {"ann", "ben"}
    assert reader.last_sync == "incremental"

    lab.leave(lab.crew, ann)  # R8: removal when a user leaves the group
    assert set(sams(reader, scope)) == {"ben"}
    assert reader.last_sync == "incremental"


def test_nested_membership_changes_are_picked_up(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    scope = DirectoryScope(groups=(lab.crew,), nested=True)
    reader = ad.reader(groups=[lab.crew], nested=True)
    assert sams(reader, scope) == {}

    lab.join(lab.inner, ann)
    (user,) = reader.read(scope).users
    assert reader.last_sync == "incremental"
    assert [dn.lower() for dn in user.member_of] == [lab.inner.lower()]

    lab.leave(lab.inner, ann)
    assert reader.read(scope).users == ()


def test_leaving_a_group_updates_member_of_of_a_user_kept_by_an_ou(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    lab.join(lab.inner, ann)
    scope = DirectoryScope(ous=(lab.team,), groups=(lab.crew,), nested=True)
    reader = ad.reader(ous=[lab.team], admin_groups=[lab.crew])
    (user,) = reader.read(scope).users
    assert [dn.lower() for dn in user.member_of] == [lab.inner.lower()]

    lab.leave(lab.inner, ann)  # ann's own object does not change; her memberOf does
    (user,) = reader.read(scope).users
    assert reader.last_sync == "incremental"
    assert user.member_of == ()


def test_a_full_sync_gives_the_same_result_as_the_incremental_one(ad: AdSetup, lab: Lab) -> None:
    ann, ben = lab.user("ann"), lab.user("ben")
    lab.join(lab.crew, ann)
    lab.join(lab.inner, ben)
    scope = DirectoryScope(ous=(lab.team,), groups=(lab.crew,), nested=True)
    reader = ad.reader(ous=[lab.team], admin_groups=[lab.crew])
    reader.read(scope)
    lab.leave(lab.crew, ann)
    lab.join(lab.inner, ann)
    lab.set(ben, givenName="Benjamin")
    incremental = reader.read(scope)
    assert reader.last_sync == "incremental"
    full = reader.read(DirectoryScope(scope.ous, scope.groups, scope.nested, full_sync=True))
    assert reader.last_sync == "full"
    assert incremental == full


def test_tombstones_that_stop_showing_mean_a_presence_check(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = admin_reader(ad, lab, ous=[lab.team])
    reader.read(scope)
    # as if the account lost the right to list deleted objects: the tombstone it
    # saw at the full sync no longer comes back
    state = json.loads(ad.cursors.get_cursor(ad.customer, CURSOR_NAME) or "{}")
    state["tombstone_sentinel"] = "00000000-0000-0000-0000-00000000beef"
    ad.cursors.put_cursor(ad.customer, CURSOR_NAME, json.dumps(state))
    assert lab.admin.delete(ann), lab.admin.result
    assert reader.read(scope).users == ()
    assert reader.last_reason.endswith("removals by presence check")
    stored = json.loads(ad.cursors.get_cursor(ad.customer, CURSOR_NAME) or "{}")
    assert stored["tombstone_sentinel"] not in (None, "00000000-0000-0000-0000-00000000beef")


def tamper(ad: AdSetup, **dc: str) -> None:
    state = json.loads(ad.cursors.get_cursor(ad.customer, CURSOR_NAME) or "{}")
    state["dc"].update(dc)
    ad.cursors.put_cursor(ad.customer, CURSOR_NAME, json.dumps(state))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"invocation": "00000000-0000-0000-0000-000000000001"}, "invocationId changed"),
        ({"service": "CN=NTDS Settings,CN=DC2,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=example,DC=test"}, "different domain controller"),
    ],
)  # fmt: skip
def test_another_dc_or_a_restored_one_means_a_full_sync(
    ad: AdSetup, lab: Lab, change: dict[str, str], reason: str
) -> None:
    lab.user("ann")
    scope = DirectoryScope(ous=(lab.team,))
    reader = ad.reader(ous=[lab.team])
    first = reader.read(scope)
    tamper(ad, **change)
    assert reader.read(scope) == first
    assert reader.last_sync == "full"
    assert reason in reader.last_reason


def test_a_changed_selection_or_unreadable_cursor_means_a_full_sync(ad: AdSetup, lab: Lab) -> None:
    lab.user("ann")
    reader = ad.reader(ous=[lab.team])
    reader.read(DirectoryScope(ous=(lab.team,)))
    reader.read(DirectoryScope(ous=(lab.team, seed.SALES_OU)))
    assert (reader.last_sync, reader.last_reason) == ("full", "the selection changed")
    ad.cursors.put_cursor(ad.customer, CURSOR_NAME, "{not json")
    reader.read(DirectoryScope(ous=(lab.team, seed.SALES_OU)))
    assert (reader.last_sync, reader.last_reason) == ("full", "no usable cursor")


def test_a_deleted_selected_group_is_an_error_not_an_empty_group(ad: AdSetup, lab: Lab) -> None:
    ann = lab.user("ann")
    lab.join(lab.crew, ann)
    scope = DirectoryScope(groups=(lab.crew,), nested=False)
    reader = ad.reader(groups=[lab.crew])
    assert set(sams(reader, scope)) == {"ann"}
    assert lab.admin.delete(lab.crew), lab.admin.result
    with pytest.raises(ProviderError) as err:
        reader.read(scope)
    assert f"group {lab.crew!r} does not exist" in str(err.value)
