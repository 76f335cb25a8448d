"""Entra selection (R22 end users, R23 administrators) and the reason notes."""

from __future__ import annotations

from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.core.model import DirectoryGroup, DirectoryRole, DirectorySnapshot, DirSource, RoleHolder, Sku
from tests.core.builders import customer, entra

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
GA = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"


def egroup(
    gid: str, name: str, members: tuple[str, ...], direct: tuple[str, ...] | None = None
) -> DirectoryGroup:
    return DirectoryGroup(DirSource.ENTRA, gid, name, members=members, direct_members=direct)


def run(sel: dict[str, object], snap: DirectorySnapshot, admin: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    cust = customer({"source": "entra", "selection": sel}, admin=admin)
    return desired_accounts(cust, LiveDirectories(entra=snap))


def imported(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {a.upn for a in result.accounts.values()}


def reasons(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {n.user: n.reason.value for n in result.notes}


def test_r22_default_is_licensed_enabled_members_and_every_other_user_is_explained() -> None:
    users = (
        entra(1),
        entra(2, licensed=False),
        entra(3, enabled=False),
        entra(4, "guest_x.com#EXT#@acme.onmicrosoft.com", user_type="Guest"),
    )
    result = run({}, DirectorySnapshot(users))
    assert imported(result) == {"user1@acme.com"}
    assert reasons(result) == {
        "user2@acme.com": "unlicensed",
        "user3@acme.com": "disabled",
        "guest_x.com#EXT#@acme.onmicrosoft.com": "guest",
    }


def test_r22_guests_import_when_asked() -> None:
    users = (entra(4, "g@x.com", user_type="Guest"),)
    assert imported(run({"includeGuests": True}, DirectorySnapshot(users))) == {"g@x.com"}


def test_r22_groups_and_licence_together_take_licensed_members() -> None:
    users = (entra(1), entra(2, licensed=False), entra(3))
    snap = DirectorySnapshot(users, (egroup("g1", "All Staff", ("e-1", "e-2")),))
    result = run({"groups": ["All Staff"]}, snap)
    assert imported(result) == {"user1@acme.com"}
    assert reasons(result) == {"user2@acme.com": "unlicensed", "user3@acme.com": "not-selected"}


def test_r22_groups_without_the_licence_condition_take_every_member() -> None:
    users = (entra(1), entra(2, licensed=False), entra(3, licensed=False))
    snap = DirectorySnapshot(users, (egroup("g1", "All Staff", ("e-1", "e-2")),))
    assert imported(run({"groups": ["g1"], "licensed": False}, snap)) == {"user1@acme.com", "user2@acme.com"}


def test_r22_group_by_old_name_alias_still_selects_after_a_rename() -> None:
    g = DirectoryGroup(DirSource.ENTRA, "g1", "Employees", members=("e-1",), aliases=("Staff",))
    assert imported(run({"groups": ["Staff"]}, DirectorySnapshot((entra(1),), (g,)))) == {"user1@acme.com"}


def test_an_unknown_group_in_a_snapshot_warns_and_selects_nobody() -> None:
    result = run({"groups": ["Nope"]}, DirectorySnapshot((entra(1),)))
    assert imported(result) == set()
    assert any("'Nope' was not found" in w for w in result.warnings)


def test_nested_members_count_by_default_and_are_explained_when_nesting_is_off() -> None:
    users = (entra(1), entra(2))
    snap = DirectorySnapshot(users, (egroup("g1", "Staff", ("e-1", "e-2"), direct=("e-1",)),))
    assert imported(run({"groups": ["Staff"]}, snap)) == {"user1@acme.com", "user2@acme.com"}
    off = run({"groups": ["Staff"], "includeNestedGroups": False}, snap)
    assert imported(off) == {"user1@acme.com"}
    assert reasons(off) == {"user2@acme.com": "nested-only"}


def test_skus_by_part_number_or_id() -> None:
    users = (entra(1, sku_ids=(E3,)), entra(2, sku_ids=(E5,)), entra(3, sku_ids=(E5.upper(),)))
    snap = DirectorySnapshot(users, skus=(Sku(E3, "ENTERPRISEPACK"), Sku(E5, "SPE_E5")))
    result = run({"skus": ["spe_e5"]}, snap)
    assert imported(result) == {"user2@acme.com", "user3@acme.com"}
    assert reasons(result) == {"user1@acme.com": "unlicensed"}
    assert imported(run({"skus": [E3]}, snap)) == {"user1@acme.com"}
    unknown = run({"skus": ["SPE_F1"]}, snap)
    assert imported(unknown) == set() and any("SPE_F1" in w for w in unknown.warnings)


def test_exclusions_by_upn_glob_domain_and_group() -> None:
    users = (
        entra(1),
        entra(2, "svc-backup@acme.com"),
        entra(3, "room@acme.onmicrosoft.com"),
        entra(4),
    )
    snap = DirectorySnapshot(users, (egroup("g9", "Shared Mailboxes", ("e-4",)),))
    sel = {
        "exclude": {"upns": ["SVC-*"], "domains": ["acme.onmicrosoft.com"], "groups": ["Shared Mailboxes"]}
    }
    result = run(sel, snap)
    assert imported(result) == {"user1@acme.com"}
    notes = {n.user: n.message for n in result.notes}
    assert notes["svc-backup@acme.com"] == "not imported: excluded by UPN pattern svc-*"
    assert notes["room@acme.onmicrosoft.com"] == "not imported: excluded by domain acme.onmicrosoft.com"
    assert notes["user4@acme.com"] == "not imported: excluded by group Shared Mailboxes"


def roles_snapshot() -> DirectorySnapshot:
    users = (entra(1), entra(2, licensed=False), entra(3), entra(4), entra(5), entra(6, enabled=False))
    roles = (
        DirectoryRole(
            GA, "Global Administrator", (RoleHolder("e-1", "user"), RoleHolder("g-admins", "group"))
        ),
        DirectoryRole(
            HELPDESK,
            "Helpdesk Administrator",
            (
                RoleHolder("e-4", "user", eligible=True),
                RoleHolder("sp-1", "servicePrincipal"),
                RoleHolder("e-6", "user"),
            ),
        ),
    )
    return DirectorySnapshot(users, (egroup("g-admins", "Tier0", ("e-2",)),), roles)


def test_r23_admins_are_role_holders_including_members_of_groups_holding_the_role() -> None:
    cust_admin = {"source": "entra", "selection": {"roles": ["Global Administrator", HELPDESK]}}
    result = desired_accounts(customer(None, admin=cust_admin), LiveDirectories(entra=roles_snapshot()))
    # unlicensed admins count (R23: a role, not a licence); service principals never
    assert imported(result) == {"user1@acme.com", "user2@acme.com"}
    assert reasons(result) == {"user4@acme.com": "not-selected", "user6@acme.com": "disabled"}
    assert "PIM-eligible only" in next(n.message for n in result.notes if n.user == "user4@acme.com")


def test_r23_include_eligible() -> None:
    sel = {"roles": [HELPDESK], "includeEligible": True}
    result = desired_accounts(
        customer(None, admin={"source": "entra", "selection": sel}), LiveDirectories(entra=roles_snapshot())
    )
    assert imported(result) == {"user4@acme.com"}


def test_r7_role_holder_also_selected_as_end_user_is_admin_only_with_a_note() -> None:
    result = run(
        {}, roles_snapshot(), admin={"source": "entra", "selection": {"roles": ["Global Administrator"]}}
    )
    by_class = {(a.upn, a.account_class.value) for a in result.accounts.values()}
    assert ("user1@acme.com", "admin") in by_class and ("user1@acme.com", "end-user") not in by_class
    assert ("user3@acme.com", "end-user") in by_class
    assert reasons(result)["user1@acme.com"] == "admin-overlap"
