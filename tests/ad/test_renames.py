"""Rename-proof selections and renamed users against the real Samba AD: a renamed or
moved OU or group stays selected by objectGUID with a warning, and a user's UPN,
sAMAccountName or display-name change plans as an update: 0 removals."""

from __future__ import annotations

from collections.abc import Iterator

import ldap3
import pytest

from reconciler.core.desired import LiveDirectories
from reconciler.core.model import ManagedState
from reconciler.core.plan import AddAccount, RemoveAccount, UpdateAccount
from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer
from reconciler.providers.ldap import AdReader
from reconciler.reading import scope_for
from tests.ad import seed
from tests.ad.conftest import AdSetup
from tests.ad.test_incremental import Lab


@pytest.fixture
def lab(admin: ldap3.Connection, scratch_ou: str) -> Iterator[Lab]:
    lab = Lab(admin, scratch_ou)
    assert admin.add(lab.team, "organizationalUnit"), admin.result
    seed.add_group(admin, lab.crew)
    yield lab


def cycle(ad: AdSetup, managed: ManagedState) -> tuple[ManagedState, object, AdReader]:
    """Plan from the directory; 'apply' the account changes to `managed` (pure)."""
    ctx = ad.context()
    reader = ad.reader()
    snap = reader.read(scope_for(ctx.customer, False))
    cplan = plan_customer(ctx.customer, CustomerLive(LiveDirectories(ad=snap)), managed, PlanOptions())
    accounts = dict(managed.accounts)
    for c in cplan.changes:
        if isinstance(c, RemoveAccount):
            accounts.pop(c.account_key)
        elif isinstance(c, (AddAccount, UpdateAccount)):
            accounts[c.account_key] = c.account
    return ManagedState(managed.serial + 1, accounts), (cplan, snap), reader


def rename(admin: ldap3.Connection, dn: str, new_rdn: str, superior: str | None = None) -> str:
    assert admin.modify_dn(dn, new_rdn, new_superior=superior), admin.result
    return f"{new_rdn},{superior or dn.split(',', 1)[1]}"


def test_a_renamed_and_moved_ou_stays_selected_with_a_warning(
    ad: AdSetup, lab: Lab, admin: ldap3.Connection
) -> None:
    for name in ("ann", "bob"):
        lab.user(name)
    ad.write(ous=[lab.team])
    managed, (first, _), _ = cycle(ad, ManagedState())
    assert len(first.changes) == 2  # type: ignore[attr-defined]
    assert admin.add(f"OU=Dept,{lab.ou}", "organizationalUnit"), admin.result
    moved = rename(admin, lab.team, "OU=Employees", f"OU=Dept,{lab.ou}")
    for _ in range(2):  # the incremental read notices and reads in full; the next one stays quiet
        managed, (cplan, _snap), _ = cycle(ad, managed)
        assert cplan.changes == ()  # type: ignore[attr-defined]
        warnings = " ".join(cplan.warnings)  # type: ignore[attr-defined]
        assert (
            f"OU {lab.team!r} was renamed/moved to {moved!r}" in warnings and "update the policy" in warnings
        )
    assert len(managed.accounts) == 2
    lines = ad.reader().check_selection(scope_for(ad.context().customer, False))
    assert lines and all(line.startswith("warning: customer acme: OU") for line in lines)


def test_a_renamed_group_stays_selected(ad: AdSetup, lab: Lab, admin: ldap3.Connection) -> None:
    lab.join(lab.crew, lab.user("ann"))
    ad.write(groups=[lab.crew])
    managed, _, _ = cycle(ad, ManagedState())
    assert len(managed.accounts) == 1
    renamed = rename(admin, lab.crew, "CN=Gang")
    managed, (cplan, _), _ = cycle(ad, managed)
    assert cplan.changes == ()  # type: ignore[attr-defined]
    assert any(f"was renamed/moved to {renamed!r}" in w for w in cplan.warnings)  # type: ignore[attr-defined]
    assert len(managed.accounts) == 1


def test_upn_sam_and_display_name_changes_plan_as_updates(
    ad: AdSetup, lab: Lab, admin: ldap3.Connection
) -> None:
    ann = lab.user("ann")
    ad.write(ous=[lab.team])
    managed, _, _ = cycle(ad, ManagedState())
    (key,) = managed.accounts
    lab.set(
        ann,
        userPrincipalName="anne.new@example.test",
        sAMAccountName=f"anne-{lab.ou[5:13]}",
        displayName="Anne New",
    )
    managed, (cplan, _), _ = cycle(ad, managed)
    changes = cplan.changes  # type: ignore[attr-defined]
    assert [type(c) for c in changes] == [UpdateAccount] and changes[0].account_key == key
    assert {d.name for d in changes[0].diffs} == {"upn", "sam_account_name", "display_name"}
    assert managed.accounts[key].upn == "anne.new@example.test"
    renamed = rename(admin, ann, "CN=Anne New")  # the CN (and DN) too: still the same objectGUID
    managed, (cplan, _), _ = cycle(ad, managed)
    assert not any(isinstance(c, RemoveAccount | AddAccount) for c in cplan.changes)  # type: ignore[attr-defined]
    assert renamed
