"""The engine end to end with the real AD reader and Samba (R2-R8).

Password sync through the real Entra client is in test_engine_entra.py; here R3
matching is also checked on the pure core, with Entra users built from the same
objectGUIDs.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import ldap3
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.load import load_config
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import DirectorySnapshot, DirectoryUser, DirSource
from reconciler.core.plan import ChangeKind, CustomerPlan, Status
from reconciler.engine import Engine
from reconciler.providers.base import DirectoryScope
from tests.ad import seed
from tests.ad.conftest import AdSetup


def plan(ad: AdSetup) -> CustomerPlan:
    engine = Engine.open(load_config(ad.root))
    try:
        (cp,) = engine.plan().customers
    finally:
        engine.store.close()
    return cp


def apply(ad: AdSetup) -> None:
    engine = Engine.open(load_config(ad.root))
    try:
        results = engine.apply(engine.plan())
    finally:
        engine.store.close()
    assert all(not r.error and not r.failed for r in results), results


def upns(cp: CustomerPlan, kind: ChangeKind) -> list[str]:
    return sorted(c.account.upn for c in cp.changes if c.kind is kind and c.account is not None)


def test_ad_by_ou_plans_applies_and_converges(ad: AdSetup) -> None:
    ad.write(ous=[seed.STAFF])
    cp = plan(ad)
    assert cp.status is Status.OK, cp.reason
    # carol is disabled; everyone else below OU=Staff is imported
    assert upns(cp, ChangeKind.ADD) == [
        "alice@example.test", "bob@example.test", "frank@example.test", "grace@example.test",
    ]  # fmt: skip
    added = {c.account.upn: c.account for c in cp.changes if c.account is not None}
    assert added["alice@example.test"].sources == (DirSource.AD,)
    assert added["alice@example.test"].given_name == "Alice"
    apply(ad)
    again = plan(ad)
    assert again.status is Status.OK and again.changes == ()


def test_ad_by_group_removes_a_user_who_leaves_the_group(
    ad: AdSetup, admin: ldap3.Connection, scratch_ou: str
) -> None:
    crew = f"CN=Crew,{scratch_ou}"
    seed.add_group(admin, crew)
    ann = seed.SeedUser("ann-e2e", "Ann", scratch_ou, "Ann", "Ames", "ann@example.test")
    ben = seed.SeedUser("ben-e2e", "Ben", scratch_ou, "Ben", "Bell", "ben@example.test")
    for u in (ann, ben):
        seed.add_user(admin, u)
    seed.add_members(admin, crew, [ann.dn, ben.dn])
    ad.write(groups=[crew])
    assert upns(plan(ad), ChangeKind.ADD) == ["ann-e2e@example.test", "ben-e2e@example.test"]
    apply(ad)

    assert admin.modify(crew, {"member": [(ldap3.MODIFY_DELETE, [ann.dn])]}), admin.result
    cp = plan(ad)
    assert upns(cp, ChangeKind.REMOVE) == ["ann-e2e@example.test"]
    assert [c.rule for c in cp.changes] == ["R8"]
    apply(ad)
    assert plan(ad).changes == ()


def test_well_known_group_is_refused_for_that_customer(ad: AdSetup) -> None:
    ad.write(groups=[seed.RENAMED_WELL_KNOWN])  # a renamed Cert Publishers: only the SID tells
    cp = plan(ad)
    assert cp.status is Status.ERROR
    assert "well-known group" in cp.reason and "(R4)" in cp.reason and cp.changes == ()


@pytest.mark.parametrize("nested", [False, True])
def test_nested_group_members_are_reported_unless_opted_in(ad: AdSetup, nested: bool) -> None:
    ad.write(groups=[seed.SALES_TEAM], nested=nested)
    cp = plan(ad)
    added = upns(cp, ChangeKind.ADD)
    if nested:
        assert added == ["alice@example.test", "bob@example.test", "heidi@example.test"]
    else:
        # bob is only in Sales EU, which is a member of Sales Team (R6)
        assert added == ["alice@example.test", "heidi@example.test"]
        assert any(s.user == "bob@example.test" and s.rule == "R6" for s in cp.skipped), cp.skipped


def entra(upn: str, immutable: bytes | None = None, smtp: str | None = None) -> DirectoryUser:
    return DirectoryUser(
        source=DirSource.ENTRA,
        id=f"entra-{upn}",
        upn=upn,
        licensed=True,
        immutable_id=base64.b64encode(immutable).decode() if immutable else None,
        proxy_addresses=(f"SMTP:{smtp}",) if smtp else (),
    )


def test_password_sync_matches_by_immutable_id_then_upn_then_smtp(
    ad: AdSetup, admin: ldap3.Connection
) -> None:
    reader = ad.reader(ous=[seed.STAFF], password_sync=True)
    ad_snap = reader.read(DirectoryScope(ous=(seed.STAFF,)))
    assert admin.search(seed.BY_SAM["alice"].dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
    alice_guid: bytes = admin.response[0]["raw_attributes"]["objectGUID"][0]
    cloud = DirectorySnapshot(
        users=(
            entra("alice.archer@contoso.onmicrosoft.com", immutable=alice_guid),  # objectGUID
            entra(
                "frank.f@contoso.onmicrosoft.com", immutable=seed.CONSISTENCY_GUID
            ),  # mS-DS-ConsistencyGuid
            entra("grace@example.test"),  # UPN
            entra("b.baker@contoso.onmicrosoft.com", smtp="bob@example.test"),  # primary SMTP
        )
    )
    desired = desired_accounts(ad.context().customer, LiveDirectories(entra=cloud, ad=ad_snap))
    linked = {a.upn: a.entra_id for a in desired.accounts.values()}
    assert linked == {
        "alice@example.test": "entra-alice.archer@contoso.onmicrosoft.com",
        "frank@example.test": "entra-frank.f@contoso.onmicrosoft.com",
        "grace@example.test": "entra-grace@example.test",
        "bob@example.test": "entra-b.baker@contoso.onmicrosoft.com",
    }
    assert all(a.sources == (DirSource.AD, DirSource.ENTRA) for a in desired.accounts.values())


def test_snapshot_of_ad_plans_offline_like_the_live_directory(ad: AdSetup, tmp_path: Path) -> None:
    ad.write(groups=[seed.SALES_TEAM], nested=True)
    live = plan(ad)
    out = tmp_path / "capture"
    result = CliRunner().invoke(main, ["snapshot", "-c", str(ad.root), "--customer", "acme", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "ad.json (4 users, 2 groups)" in result.output  # carol (disabled) and both groups included
    captured = json.loads((out / "acme" / "ad.json").read_text())
    assert {u["upn"] for u in captured["users"]} >= {"bob@example.test", "carol@example.test"}
    # the same config, in snapshot mode against the capture, plans the same changes
    offline = tmp_path / "offline"
    shutil.copytree(ad.root, offline, ignore=shutil.ignore_patterns(".reconciler"))
    config = (offline / "config.yaml").read_text()
    (offline / "config.yaml").write_text(
        config.replace(
            "metadata:\n  name: default\nspec: {}",
            f"metadata:\n  name: default\nspec:\n  snapshot:\n    dir: {out}",
        )
    )
    offline_plan = plan(AdSetup(offline, ad.dc))
    assert upns(offline_plan, ChangeKind.ADD) == upns(live, ChangeKind.ADD)
