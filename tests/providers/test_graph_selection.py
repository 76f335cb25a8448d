"""Entra groups, roles and licences through the Graph simulator (R22, R23): the
wire format, the request floor, group delta, renames and resolution errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.config.load import load_config
from reconciler.config.resolve import effective_customers
from reconciler.core.desired import LiveDirectories, desired_accounts
from reconciler.errors import ProviderError
from reconciler.reading import scope_for
from reconciler.testing.httpsim import TestCA
from tests.providers.graphkit import GraphWorld, make_world, test_ca  # noqa: F401

TENANT = "0b8c5d6e-1111-4222-8333-944445555777"
E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E5 = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
GA = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"

END_USERS = {
    "source": "entra",
    "selection": {
        "groups": ["All Staff"],
        "skus": ["ENTERPRISEPACK"],
        "exclude": {"groups": ["Shared Mailboxes"], "upns": ["svc-*"]},
    },
}
ADMINS = {"source": "entra", "selection": {"roles": ["Global Administrator", "Helpdesk Administrator"]}}


@pytest.fixture
def world(test_ca: TestCA, tmp_path, monkeypatch) -> Iterator[GraphWorld]:  # noqa: F811
    w = make_world(test_ca, tmp_path, monkeypatch, tenants=(TENANT,))
    yield w
    w.sim.stop()


def lic(*skus: str) -> list[dict[str, Any]]:
    return [{"skuId": s, "disabledPlans": []} for s in skus]


def build(world: GraphWorld) -> dict[str, str]:
    sim, d = world.sim, world.sim.directory
    ids = {
        "alice": sim.add_user(TENANT, "alice@contoso.test", assignedLicenses=lic(E3)),
        "bob": sim.add_user(TENANT, "bob@contoso.test", assignedLicenses=lic(E5)),  # wrong SKU
        "carol": sim.add_user(TENANT, "carol@contoso.test", assignedLicenses=lic(E3)),  # nested member
        "dave": sim.add_user(TENANT, "dave@contoso.test", assignedLicenses=lic(E3)),  # not in a group
        "guest": sim.add_user(
            TENANT, "g_x.com#EXT#@contoso.test", assignedLicenses=lic(E3), userType="Guest"
        ),
        "svc": sim.add_user(TENANT, "svc-scan@contoso.test", assignedLicenses=lic(E3)),
        "room": sim.add_user(TENANT, "room1@contoso.test", assignedLicenses=lic(E3)),
        "admin": sim.add_user(TENANT, "admin@contoso.test", assignedLicenses=[]),
        "helper": sim.add_user(TENANT, "helper@contoso.test", assignedLicenses=[]),
    }
    sales = sim.add_group(TENANT, "Sales", [ids["carol"]])
    ids["staff"] = sim.add_group(
        TENANT, "All Staff", [ids[n] for n in ("alice", "bob", "guest", "svc", "room")] + [sales]
    )
    ids["shared"] = sim.add_group(TENANT, "Shared Mailboxes", [ids["room"]])
    ids["tier0"] = sim.add_group(TENANT, "Tier0", [ids["helper"]])
    d.assign_role(TENANT, GA, ids["admin"])
    d.assign_role(TENANT, HELPDESK, ids["tier0"])
    d.assign_role(TENANT, HELPDESK, d.add_service_principal(TENANT, "backup app"))
    d.assign_role(TENANT, GA, ids["dave"], eligible=True)
    d.add_sku(TENANT, E3, "ENTERPRISEPACK")
    d.add_sku(TENANT, E5, "SPE_E5")
    world.write_config({"contoso": TENANT}, imports={"contoso": {"import": END_USERS, "adminImport": ADMINS}})
    return ids


def plan_users(world: GraphWorld, full_sync: bool = False) -> tuple[Any, Any]:
    eff = effective_customers(load_config(world.root))["contoso"]
    reader = world.reader("contoso")
    snap = reader.read(scope_for(eff, full_sync))
    return desired_accounts(eff, LiveDirectories(entra=snap)), reader.last


def classes(desired: Any) -> set[tuple[str, str]]:
    return {(a.upn, a.account_class.value) for a in desired.accounts.values()}


def test_groups_skus_exclusions_and_roles_select_end_users_and_admins(world: GraphWorld) -> None:
    build(world)
    desired, report = plan_users(world)
    assert classes(desired) == {
        ("alice@contoso.test", "end-user"),
        ("carol@contoso.test", "end-user"),  # nested in Sales: transitive by default
        ("admin@contoso.test", "admin"),  # unlicensed: admins by role need no licence
        ("helper@contoso.test", "admin"),  # Helpdesk Administrator through group Tier0
    }
    reasons = {n.user: n.reason.value for n in desired.notes}
    assert reasons == {
        "bob@contoso.test": "unlicensed",
        "dave@contoso.test": "not-selected",
        "g_x.com#EXT#@contoso.test": "guest",
        "svc-scan@contoso.test": "excluded",
        "room1@contoso.test": "excluded",
    }  # admin@ and helper@ are imported as admins: no end-user note for them
    assert report.mode == "full" and report.selection == "full"
    casts = [r for r in world.sim.requests if r.path.endswith("/microsoft.graph.user")]
    assert casts and all(r.headers.get("consistencylevel") == "eventual" for r in casts)


def test_a_quiet_cycle_costs_one_users_delta_and_one_group_delta(world: GraphWorld) -> None:
    build(world)
    plan_users(world)
    before = len(world.sim.requests)
    desired, report = plan_users(world)
    calls = [r.path for r in world.sim.requests[before:] if r.path.startswith("/v1.0/")]
    assert calls == ["/v1.0/users/delta", "/v1.0/groups/delta"]
    assert report.stats is not None and report.stats.requests == 2
    assert report.selection == "delta"
    assert ("alice@contoso.test", "end-user") in classes(desired)


def test_role_assignments_are_read_only_on_full_reads(world: GraphWorld) -> None:
    ids = build(world)
    plan_users(world)
    world.sim.directory.assign_role(TENANT, GA, ids["dave"])
    desired, _ = plan_users(world)
    assert ("dave@contoso.test", "admin") not in classes(desired)  # no role reads between full reads
    assert not [r for r in world.sim.requests[-2:] if "roleManagement" in r.path]
    desired, _ = plan_users(world, full_sync=True)
    assert ("dave@contoso.test", "admin") in classes(desired)


def test_a_direct_membership_change_arrives_by_group_delta(world: GraphWorld) -> None:
    ids = build(world)
    plan_users(world)
    world.sim.directory.add_member(TENANT, ids["staff"], ids["dave"])
    world.sim.directory.remove_member(TENANT, ids["staff"], ids["alice"])
    desired, report = plan_users(world)
    assert report.selection == "delta"
    assert ("dave@contoso.test", "end-user") in classes(desired)
    assert ("alice@contoso.test", "end-user") not in classes(desired)


def test_a_group_selected_by_name_stays_selected_after_a_rename_with_a_warning(world: GraphWorld) -> None:
    ids = build(world)
    plan_users(world)
    world.sim.directory.rename_group(TENANT, ids["staff"], "Employees")
    for full in (False, True):  # by group delta, then by the recorded object id on a full read
        world.sim.requests.clear()
        eff = effective_customers(load_config(world.root))["contoso"]
        snap = world.reader("contoso").read(scope_for(eff, full))
        desired = desired_accounts(eff, LiveDirectories(entra=snap))
        assert ("alice@contoso.test", "end-user") in classes(desired)
        assert any(
            "'All Staff' was renamed to 'Employees'" in w and "update the policy" in w for w in snap.warnings
        )


def test_unknown_and_ambiguous_group_names_are_errors_naming_the_customer(world: GraphWorld) -> None:
    build(world)
    imports = {"contoso": {"import": {"source": "entra", "selection": {"groups": ["No Such Group"]}}}}
    world.write_config({"contoso": TENANT}, imports=imports)
    eff = effective_customers(load_config(world.root))["contoso"]
    with pytest.raises(ProviderError, match=r"^contoso: entra: Entra group 'No Such Group' was not found"):
        world.reader("contoso").read(scope_for(eff, False))
    world.sim.add_group(TENANT, "Sales")
    imports = {"contoso": {"import": {"source": "entra", "selection": {"groups": ["sales"]}}}}
    world.write_config({"contoso": TENANT}, imports=imports)
    eff = effective_customers(load_config(world.root))["contoso"]
    with pytest.raises(ProviderError, match=r"'sales' is ambiguous: 2 groups have that name"):
        world.reader("contoso").read(scope_for(eff, False))


def test_users_only_selection_reads_no_groups(world: GraphWorld) -> None:
    world.sim.add_user(TENANT, "alice@contoso.test")
    world.write_config({"contoso": TENANT})
    plan_users(world)
    assert not [r for r in world.sim.requests if r.path.startswith(("/v1.0/groups", "/v1.0/roleManagement"))]


def test_entra_upn_and_display_name_changes_plan_as_updates(world: GraphWorld) -> None:
    from reconciler.core.model import ManagedState
    from reconciler.core.plan import UpdateAccount
    from reconciler.core.planning import CustomerLive, PlanOptions, plan_customer

    ids = build(world)
    desired, _ = plan_users(world)
    managed = ManagedState(1, dict(desired.accounts))
    world.sim.update_user(
        TENANT, ids["alice"], userPrincipalName="alice.new@contoso.test", displayName="Alice N"
    )
    eff = effective_customers(load_config(world.root))["contoso"]
    snap = world.reader("contoso").read(scope_for(eff, False))
    cplan = plan_customer(eff, CustomerLive(LiveDirectories(entra=snap)), managed, PlanOptions())
    assert [type(c) for c in cplan.changes] == [UpdateAccount]
    assert {d.name for d in cplan.changes[0].diffs} >= {"upn", "display_name"}


def test_discover_lists_groups_roles_and_licences_and_writes_a_selection(world: GraphWorld) -> None:
    import yaml
    from click.testing import CliRunner

    from reconciler.cli import main

    build(world)
    result = CliRunner().invoke(main, ["discover", "-c", str(world.root), "contoso", "--format", "json"])
    assert result.exit_code == 0, result.output
    entra = json.loads(result.output)["entra"]
    groups = {g["name"]: g["users"] for g in entra["groups"]}
    assert groups["All Staff"] == 6  # five direct users and carol through Sales
    roles = {r["name"]: r["holders"] for r in entra["roles"]}
    assert roles == {"Global Administrator": 1, "Helpdesk Administrator": 2}
    assert {s["part_number"]: s["consumed"] for s in entra["skus"]} == {"ENTERPRISEPACK": 6, "SPE_E5": 1}
    text = (
        CliRunner().invoke(main, ["discover", "-c", str(world.root), "contoso", "--search", "staff"]).output
    )
    assert "All Staff" in text and "Tier0" not in text
    out = CliRunner().invoke(
        main, ["discover", "-c", str(world.root), "contoso", "--search", "admin", "--write-selection"]
    )
    docs = list(yaml.safe_load_all(out.output))
    assert docs[-1] == {"selection": {"roles": ["Global Administrator", "Helpdesk Administrator"]}}


def test_import_now_rereads_roles_without_reading_every_user(world: GraphWorld) -> None:
    import dataclasses

    ids = build(world)
    plan_users(world)
    world.sim.directory.assign_role(TENANT, GA, ids["dave"])
    eff = effective_customers(load_config(world.root))["contoso"]
    mark = len(world.sim.requests)
    scope = dataclasses.replace(scope_for(eff, False), refresh_selection=True)
    snap = world.reader("contoso").read(scope)
    assert ("dave@contoso.test", "admin") in classes(desired_accounts(eff, LiveDirectories(entra=snap)))
    paths = [r.path for r in world.sim.requests[mark:] if r.path.startswith("/v1.0/users")]
    assert paths == ["/v1.0/users/delta"]  # the users stay incremental
    assert snap.roles_read_at is not None


def test_validate_live_warns_about_a_renamed_entra_group(world: GraphWorld) -> None:
    """#15: `validate --live` checks Entra groups too (not just AD): after a plan has
    recorded the object ids, a group renamed in the tenant is a warning (exit 0),
    a selected name the tenant never had is a problem (exit 1). Through the real CLI,
    with the state store the plan wrote."""
    from click.testing import CliRunner

    from reconciler.cli import main

    ids = build(world)
    planned = CliRunner().invoke(main, ["plan", "-c", str(world.root)])
    assert planned.exit_code == 0, planned.output
    world.sim.directory.rename_group(TENANT, ids["staff"], "Employees")
    world.sim.requests.clear()
    result = CliRunner().invoke(main, ["validate", "-c", str(world.root), "--live"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: customer contoso: Entra group 'All Staff' was renamed to 'Employees' (object id "
        f"{ids['staff'].lower()}): still selected by its object id; update the policy"
    ]
    assert not [r for r in world.sim.requests if "members" in r.path or "/users" in r.path]  # groups only
    policy = {**END_USERS, "selection": {**END_USERS["selection"], "groups": ["All Staff", "Nobody Here"]}}
    world.write_config({"contoso": TENANT}, imports={"contoso": {"import": policy, "adminImport": ADMINS}})
    result = CliRunner().invoke(main, ["validate", "-c", str(world.root), "--live"])
    assert result.exit_code == 1
    assert (
        "customer contoso: Entra group 'Nobody Here' was not found in the tenant (selection groups)"
        in result.stderr.splitlines()
    )
