"""Desired accounts: R1-R8."""

from __future__ import annotations

from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import DirectorySnapshot, DirSource
from tests.core.builders import ad, customer, entra, group

STAFF = "OU=Staff,DC=acme,DC=local"
G = "CN=App Users,OU=Groups,DC=acme,DC=local"
NESTED = "CN=Sales,OU=Groups,DC=acme,DC=local"
DEEPER = "CN=Sales EU,OU=Groups,DC=acme,DC=local"


def upns(result: object) -> set[str]:
    return {a.upn for a in result.accounts.values()}  # type: ignore[attr-defined]


def test_r1_entra_only_imports_licensed_enabled_users() -> None:
    cust = customer({"source": "entra"})
    live = LiveDirectories(
        entra=DirectorySnapshot((entra(1), entra(2, licensed=False), entra(3, enabled=False), entra(4)))
    )
    assert upns(desired_accounts(cust, live)) == {"user1@acme.com", "user4@acme.com"}


def test_r2_ou_selection_is_a_subtree_and_excludes_disabled() -> None:
    cust = customer({"source": "activeDirectory", "selection": {"ous": [STAFF]}})
    users = (
        ad(1, f"CN=U1,{STAFF}"),
        ad(2, f"CN=U2,OU=Sales,{STAFF}"),
        ad(3, "CN=U3,OU=Contractors,DC=acme,DC=local"),
        ad(4, f"CN=U4,{STAFF}", enabled=False),
        ad(5, "cn=U5, ou=staff, dc=ACME, dc=local"),  # DN case and spacing do not matter
    )
    result = desired_accounts(cust, LiveDirectories(ad=DirectorySnapshot(users)))
    assert upns(result) == {"user1@acme.local", "user2@acme.local", "user5@acme.local"}


def test_r2_group_selection_takes_direct_members() -> None:
    cust = customer({"source": "activeDirectory", "selection": {"groups": [G]}})
    users = (ad(1, "CN=U1,OU=X,DC=acme,DC=local", (G,)), ad(2, "CN=U2,OU=X,DC=acme,DC=local", ()))
    assert upns(desired_accounts(cust, LiveDirectories(ad=DirectorySnapshot(users, (group(G),))))) == {
        "user1@acme.local"
    }


def test_r6_nested_members_are_reported_not_imported() -> None:
    cust = customer({"source": "activeDirectory", "selection": {"groups": [G]}})
    snap = DirectorySnapshot(
        (ad(1, "CN=U1,DC=acme,DC=local", (G,)), ad(2, "CN=U2,DC=acme,DC=local", (DEEPER,))),
        (group(G), group(NESTED, (G,)), group(DEEPER, (NESTED,))),
    )
    result = desired_accounts(cust, LiveDirectories(ad=snap))
    assert upns(result) == {"user1@acme.local"}
    assert [(n.user, n.rule) for n in result.notes] == [("user2@acme.local", "R6")]


def test_r6_nested_members_import_when_the_policy_opts_in() -> None:
    cust = customer({"source": "activeDirectory", "selection": {"groups": [G], "includeNestedGroups": True}})
    snap = DirectorySnapshot(
        (ad(2, "CN=U2,DC=acme,DC=local", (DEEPER,)),),
        (group(G), group(NESTED, (G,)), group(DEEPER, (NESTED, DEEPER))),  # a cycle is harmless
    )
    assert upns(desired_accounts(cust, LiveDirectories(ad=snap))) == {"user2@acme.local"}


def test_r3_password_sync_matches_immutable_id_then_upn_then_smtp() -> None:
    cust = customer({"source": "activeDirectory", "passwordSync": True, "selection": {"ous": [STAFF]}})
    ad_users = (
        ad(1, f"CN=U1,{STAFF}", immutable_id="IMM1"),
        ad(2, f"CN=U2,{STAFF}", upn="two@acme.com"),
        ad(3, f"CN=U3,{STAFF}", mail="three@acme.com"),
        ad(4, f"CN=U4,{STAFF}"),
        ad(5, f"CN=U5,{STAFF}", upn="five@acme.com"),
    )
    entra_users = (
        entra(11, "cloud1@acme.onmicrosoft.com", immutable_id="IMM1"),
        entra(12, "two@acme.com"),
        entra(13, "other@acme.com", proxy_addresses=("SMTP:three@acme.com", "smtp:3@acme.com")),
        entra(15, "five@acme.com", licensed=False),  # R3: only licensed Entra accounts count
    )
    result = desired_accounts(
        cust, LiveDirectories(entra=DirectorySnapshot(entra_users), ad=DirectorySnapshot(ad_users))
    )
    by_upn = {a.upn: a for a in result.accounts.values()}
    assert set(by_upn) == {"user1@acme.local", "two@acme.com", "user3@acme.local"}
    assert by_upn["user1@acme.local"].entra_id == "e-11"
    assert by_upn["two@acme.com"].entra_id == "e-12"
    assert by_upn["user3@acme.local"].entra_id == "e-13"
    assert all(a.sources == (DirSource.AD, DirSource.ENTRA) and a.password_sync for a in by_upn.values())
    assert {n.user for n in result.notes if n.rule == "R3"} == {"user4@acme.local", "five@acme.com"}


def test_r7_a_person_selected_as_end_user_and_admin_is_imported_as_admin_only() -> None:
    cust = customer(
        {"source": "activeDirectory", "selection": {"groups": [G]}},
        admin={"source": "activeDirectory", "selection": {"groups": [NESTED]}},
    )
    snap = DirectorySnapshot(
        (ad(1, "CN=U1,DC=acme,DC=local", (G, NESTED)), ad(2, "CN=U2,DC=acme,DC=local", (G,))),
        (group(G), group(NESTED)),
    )
    result = desired_accounts(cust, LiveDirectories(ad=snap))
    classes = sorted((a.upn, a.account_class.value) for a in result.accounts.values())
    assert classes == [("user1@acme.local", "admin"), ("user2@acme.local", "end-user")]
    assert [(n.user, n.rule, n.reason.value) for n in result.notes] == [
        ("user1@acme.local", "R7", "admin-overlap")
    ]


def test_r5_groups_in_default_containers_do_not_import() -> None:
    users_group = "CN=Helpdesk,CN=Users,DC=acme,DC=local"
    cust = customer({"source": "activeDirectory", "selection": {"groups": [users_group]}})
    snap = DirectorySnapshot((ad(1, "CN=U1,DC=acme,DC=local", (users_group,)),))
    assert desired_accounts(cust, LiveDirectories(ad=snap)).accounts == {}


def test_options_set_account_flags() -> None:
    cust = customer({"source": "entra", "options": {"selfServe": True, "passwordRemember": True}})
    acct = next(
        iter(desired_accounts(cust, LiveDirectories(entra=DirectorySnapshot((entra(1),)))).accounts.values())
    )
    assert acct.self_serve and acct.password_remember and not acct.password_sync
