"""Live checks of the selection (R2, R4, R5, R7) against the DC."""

from __future__ import annotations

import pytest

from reconciler.errors import ProviderError
from reconciler.providers.base import DirectoryScope
from tests.ad import seed
from tests.ad.conftest import AdSetup

MISSING_OU = f"OU=Nowhere,{seed.CORP}"
MISSING_GROUP = f"CN=No Such Group,{seed.GROUPS}"


def test_a_good_selection_has_no_problems(ad: AdSetup) -> None:
    reader = ad.reader(groups=[seed.SALES_TEAM], admin_groups=[seed.IT_ADMINS])
    assert reader.check_selection(DirectoryScope(groups=(seed.SALES_TEAM, seed.IT_ADMINS))) == []


def test_missing_ou_and_group_are_named_with_customer_and_import(ad: AdSetup) -> None:
    reader = ad.reader(ous=[MISSING_OU, seed.STAFF], admin_groups=[MISSING_GROUP])
    problems = reader.check_selection(DirectoryScope(ous=(MISSING_OU, seed.STAFF), groups=(MISSING_GROUP,)))
    assert problems == [
        f"customer acme: end-user import (customer) OU {MISSING_OU!r} does not exist in the directory",
        f"customer acme: admin import (customer) group {MISSING_GROUP!r} does not exist in the directory",
    ]


def test_well_known_group_is_refused_by_sid_whatever_its_name(ad: AdSetup) -> None:
    # Cert Publishers (RID 517), renamed and moved to an ordinary OU
    reader = ad.reader(groups=[seed.RENAMED_WELL_KNOWN])
    (problem,) = reader.check_selection(DirectoryScope(groups=(seed.RENAMED_WELL_KNOWN,)))
    assert "well-known group (SID S-1-5-21-" in problem and problem.split("(SID ")[1].startswith("S-1-5-21-")
    assert "-517)" in problem and "(R4)" in problem


def test_builtin_and_default_groups_are_refused(ad: AdSetup) -> None:
    reader = ad.reader(groups=[seed.DOMAIN_USERS, seed.BUILTIN_USERS])
    problems = reader.check_selection(DirectoryScope(groups=(seed.DOMAIN_USERS, seed.BUILTIN_USERS)))
    text = "\n".join(problems)
    assert "-513) and can never be selected (R4)" in text  # Domain Users
    assert "SID S-1-5-32-545" in text  # BUILTIN\Users
    assert "default Users container" in text and "default Builtin container" in text


def test_group_in_users_container_is_refused(ad: AdSetup) -> None:
    reader = ad.reader(groups=[seed.HELPDESK])
    (problem,) = reader.check_selection(DirectoryScope(groups=(seed.HELPDESK,)))
    assert "default Users container" in problem and "(R5)" in problem


def test_distribution_groups_and_wrong_object_kinds_are_refused(ad: AdSetup) -> None:
    alice = seed.BY_SAM["alice"].dn
    reader = ad.reader(groups=[seed.NEWSLETTER, alice], admin_ous=[seed.SALES_TEAM])
    problems = reader.check_selection(DirectoryScope(ous=(seed.SALES_TEAM,), groups=(seed.NEWSLETTER, alice)))
    assert problems == [
        f"customer acme: admin import (customer) OU {seed.SALES_TEAM!r} is not an OU or container (it is a group)",
        f"customer acme: end-user import (customer) group {seed.NEWSLETTER!r} is a distribution group; select security groups (R2)",
        f"customer acme: end-user import (customer) group {alice!r} is not a group (it is a user)",
    ]


def test_overlap_with_admin_import_is_found_after_resolution(ad: AdSetup) -> None:
    # the same group, spelled differently: only the DC can tell they are one object
    escaped = seed.RND.replace("R&D (Lab) *", "R\\26D \\28Lab\\29 \\2a")
    reader = ad.reader(groups=[seed.RND], admin_groups=[escaped])
    (problem,) = reader.check_selection(DirectoryScope(groups=(seed.RND, escaped)))
    assert problem == (
        f"customer acme: end-user import (customer) group {seed.RND!r} is the same object as "
        f"group {escaped!r} of the admin import (customer); a selection cannot be in both (R7)"
    )


def test_overlap_of_nested_ous(ad: AdSetup) -> None:
    reader = ad.reader(ous=[seed.SALES_OU], admin_ous=[seed.STAFF])
    (problem,) = reader.check_selection(DirectoryScope(ous=(seed.SALES_OU, seed.STAFF)))
    assert f"OU {seed.SALES_OU!r} lies inside OU {seed.STAFF!r}" in problem and "(R7)" in problem


@pytest.mark.parametrize(
    ("groups", "ous", "expected"),
    [
        ([seed.RENAMED_WELL_KNOWN], [], "(R4)"),
        ([seed.HELPDESK], [], "(R5)"),
        ([MISSING_GROUP], [], "does not exist"),
        ([], [MISSING_OU], "does not exist"),
    ],
)
def test_read_refuses_what_check_selection_reports(
    ad: AdSetup, groups: list[str], ous: list[str], expected: str
) -> None:
    reader = ad.reader(groups=groups or None, ous=ous or None)
    with pytest.raises(ProviderError) as err:
        reader.read(DirectoryScope(ous=tuple(ous), groups=tuple(groups)))
    assert expected in str(err.value)
    assert str(err.value).startswith("acme (Active Directory 127.0.0.1): selection refused")


def test_validate_live_reports_what_only_the_directory_can_tell(ad: AdSetup) -> None:
    """`reconciler validate --live`: the offline rules pass, the DC finds the problems."""
    from click.testing import CliRunner

    from reconciler.cli import main

    ad.write(groups=[seed.RENAMED_WELL_KNOWN, MISSING_GROUP])
    runner = CliRunner()
    offline = runner.invoke(main, ["validate", "-c", str(ad.root)])
    assert offline.exit_code == 0, offline.output
    live = runner.invoke(main, ["validate", "-c", str(ad.root), "--live"])
    assert live.exit_code == 1
    assert "(R4)" in live.output and f"{MISSING_GROUP!r} does not exist" in live.output
    assert "Traceback" not in live.output and seed.USER_PASSWORD not in live.output
    ad.write(groups=[seed.SALES_TEAM])
    assert runner.invoke(main, ["validate", "-c", str(ad.root), "--live"]).exit_code == 0


def test_validate_live_opens_only_the_directory_it_checks(
    ad: AdSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#17 item 6: the AD selection checks need the AD bind secrets and nothing else;
    Graph and IT Glue secrets that are not set are not asked for."""
    import yaml
    from click.testing import CliRunner

    from reconciler.cli import main

    monkeypatch.delenv("GRAPH_SECRET_UNSET", raising=False)
    monkeypatch.delenv("ITGLUE_KEY_UNSET", raising=False)
    settings = {
        "features": {"passwordManager": True},
        "connections": {
            "graph": {
                "clientId": "11111111-2222-3333-4444-555555555555",
                "credential": {"clientSecret": {"env": "GRAPH_SECRET_UNSET"}},
            },
            "itglue": {"apiKey": {"env": "ITGLUE_KEY_UNSET"}},
        },
    }
    ad.write(groups=[MISSING_GROUP], password_sync=True, settings=settings)
    path = ad.root / "config.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    docs[1]["spec"]["import"]["options"] = {"passwordEntryMatching": True}
    docs[1]["spec"]["integrations"] = {"itglueOrganizationId": 1}
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    runner = CliRunner()
    assert runner.invoke(main, ["validate", "-c", str(ad.root)]).exit_code == 0
    live = runner.invoke(main, ["validate", "-c", str(ad.root), "--live"])
    assert live.exit_code == 1
    assert f"{MISSING_GROUP!r} does not exist" in live.output
    assert "GRAPH_SECRET_UNSET" not in live.output and "ITGLUE_KEY_UNSET" not in live.output
