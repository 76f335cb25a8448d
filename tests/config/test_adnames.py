"""Config stage: distinguished names and well-known groups (R4, R5)."""

from __future__ import annotations

import pytest

from reconciler.config.adnames import default_container, is_under, is_well_known_sid, normalize_dn, rdn_value


def test_dns_compare_without_case_or_spacing() -> None:
    assert (
        normalize_dn(" CN=IT Staff , OU=Groups,DC=Acme, DC=local ")
        == "cn=it staff,ou=groups,dc=acme,dc=local"
    )
    assert rdn_value("CN=Smith\\, John,OU=Staff,DC=x") == "smith\\, john"  # an escaped comma stays in the RDN


@pytest.mark.parametrize(
    ("dn", "base", "inside"),
    [
        ("OU=A,OU=Staff,DC=x", "ou=staff, dc=x", True),
        ("OU=Staff,DC=x", "OU=Staff,DC=x", True),
        ("OU=Staff Admins,DC=x", "OU=Staff,DC=x", False),
        ("OU=Staff,DC=x", "OU=A,OU=Staff,DC=x", False),
        ("OU=Staff,DC=xx", "DC=x", False),
    ],
)
def test_is_under_follows_the_tree_not_the_text(dn: str, base: str, inside: bool) -> None:
    assert is_under(dn, base) is inside


@pytest.mark.parametrize(
    ("dn", "container"),
    [
        ("CN=Sales,CN=Users,DC=acme,DC=local", "Users"),
        ("cn=Helpdesk, cn=builtin, dc=acme", "Builtin"),
        ("CN=Sales,OU=Users,DC=acme,DC=local", None),  # an OU called Users is not the container
        ("CN=Sales,CN=Users,OU=Old,DC=acme,DC=local", None),  # not the domain's default container
        ("CN=Sales,OU=Groups,DC=acme", None),
    ],
)
def test_default_containers_are_found_by_position(dn: str, container: str | None) -> None:
    assert default_container(dn) == container


@pytest.mark.parametrize(
    ("sid", "known"),
    [
        ("S-1-5-32-544", True),  # BUILTIN\Administrators
        ("S-1-5-21-1-2-3-512", True),  # Domain Admins
        ("S-1-5-21-1-2-3-513", True),  # Domain Users
        ("S-1-5-21-1-2-3-572", True),  # Denied RODC Password Replication Group
        ("S-1-5-21-1-2-3-1105", False),  # an ordinary group
    ],
)
def test_well_known_groups_by_sid(sid: str, known: bool) -> None:
    assert is_well_known_sid(sid) is known


def test_domain_rids_count_only_in_the_customers_domain() -> None:
    assert is_well_known_sid("S-1-5-21-1-2-3-512", domain_sid="S-1-5-21-1-2-3")
    assert not is_well_known_sid("S-1-5-21-9-9-9-512", domain_sid="S-1-5-21-1-2-3")
