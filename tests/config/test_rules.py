"""Config stage: the semantic rules pass what is allowed (the corpus in invalid/
proves what they refuse)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from reconciler.config import load_valid_config
from reconciler.config.load import load_config
from reconciler.config.rules import check
from reconciler.errors import ConfigError

AD = """\
  directories:
    entra: {tenantId: %(tenant)s}
    activeDirectory:
      server: dc-%(name)s
      baseDn: DC=acme,DC=local
      bindUser: {env: U}
      bindPassword: {env: P}
"""


def customer(name: str, body: str = "", labels: str = "{}") -> str:
    return (
        f"apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {{name: {name}, labels: {labels}}}\nspec:\n"
        + AD % {"name": name, "tenant": uuid.uuid5(uuid.NAMESPACE_DNS, name)}
        + body
    )


def settings(body: str) -> str:
    return "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\nspec:\n" + body


def policy(name: str, body: str, kind: str = "ImportPolicy") -> str:
    return f"apiVersion: reconciler.dev/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n" + body


def config_dir(tmp_path: Path, **files: str) -> Path:
    if not any("kind: Settings" in text for text in files.values()):
        files = {"settings": settings("  {}\n"), **files}
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def problems(root: Path) -> list[str]:
    return [p.message for p in check(load_config(root))]


def test_sibling_ous_with_a_common_prefix_do_not_overlap(tmp_path: Path) -> None:
    root = config_dir(
        tmp_path,
        acme=customer(
            "acme",
            """\
  import:
    source: activeDirectory
    selection: {ous: ["OU=Staff,DC=acme,DC=local", "OU=Staff2,DC=acme,DC=local"]}
  adminImport:
    source: activeDirectory
    selection: {ous: ["OU=Staff Admins,DC=acme,DC=local", "OU=Admins,OU=Other,DC=acme,DC=local"]}
""",
        ),
    )
    assert problems(root) == []


def test_r7_compares_one_customer_at_a_time(tmp_path: Path) -> None:
    # the same group DN in an end-user policy of one customer and the admin policy of another
    group = '{groups: ["CN=IT,OU=Groups,DC=acme,DC=local"]}'
    root = config_dir(
        tmp_path,
        a=customer("a", "  importPolicy: staff\n"),
        b=customer("b", "  adminImportPolicy: admins\n"),
        staff=policy("staff", f"  source: activeDirectory\n  selection: {group}\n"),
        admins=policy("admins", f"  source: activeDirectory\n  selection: {group}\n", "AdminImportPolicy"),
    )
    assert problems(root) == []


def test_a_policy_may_be_named_by_the_customer_and_list_it_too(tmp_path: Path) -> None:
    root = config_dir(
        tmp_path,
        acme=customer("acme", "  importPolicy: std\n", labels="{tier: gold}"),
        std=policy(
            "std",
            """\
  source: activeDirectory
  selection: {ous: ["OU=Staff,DC=acme,DC=local"]}
  appliesTo: {customers: [acme], labelSelector: {matchLabels: {tier: gold}}}
""",
        ),
    )
    assert problems(root) == []


def test_customers_without_import_settings_are_valid(tmp_path: Path) -> None:
    root = config_dir(tmp_path, acme=customer("acme"))
    assert problems(root) == []


OPTIONS = """\
  import:
    source: entra
    options: {passwordEntryMatching: true, contactMatching: true, welcomeEmail: true, passwordRemember: true}
  integrations: {itglueOrganizationId: 1, autotaskCompanyId: 2}
"""


def test_snapshot_mode_needs_no_connections_but_still_the_feature_and_links(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.txt").write_text("Hi {given_name}")
    root = config_dir(
        tmp_path, acme=customer("acme", OPTIONS), settings=settings("  snapshot: {dir: live}\n")
    )
    assert problems(root) == [
        "passwordEntryMatching needs Settings features.passwordManager: true (R12)",
        "passwordRemember needs Settings features.passwordManager: true (R15)",
    ]
    (tmp_path / "settings.yaml").write_text(
        settings("  snapshot: {dir: live}\n  features: {passwordManager: true}\n")
    )
    assert problems(root) == []


def test_live_mode_needs_each_connection_an_option_uses(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.txt").write_text("Hi")
    root = config_dir(
        tmp_path, acme=customer("acme", OPTIONS), settings=settings("  features: {passwordManager: true}\n")
    )
    assert sorted(problems(root)) == [
        "contactMatching needs Settings connections.autotask (R14)",
        "passwordEntryMatching needs Settings connections.itglue (R12)",
        "source needs Entra, but Settings has no connections.graph (R1, R3)",
        "welcomeEmail needs Settings connections.smtp (R16)",
    ]
    conns = """\
  features: {passwordManager: true}
  connections:
    graph: {clientId: 0b8c5d6e-1111-4222-8333-944445555666, credential: {clientSecret: {env: G}}}
    itglue: {apiKey: {env: I}}
    autotask: {username: {env: A}, secret: {env: B}, integrationCode: {env: C}}
    smtp: {host: mail, sender: a@b.c}
"""
    (tmp_path / "settings.yaml").write_text(settings(conns))
    assert problems(root) == []


def test_a_policy_option_problem_is_reported_once_however_many_members(tmp_path: Path) -> None:
    files = {f"c{i}": customer(f"c{i}", labels="{all: 'yes'}") for i in range(5)}
    files["p"] = policy(
        "p",
        """\
  source: activeDirectory
  selection: {ous: ["OU=Staff,DC=acme,DC=local"]}
  options: {passwordRemember: true}
  appliesTo: {labelSelector: {matchLabels: {all: "yes"}}}
""",
    )
    root = config_dir(tmp_path, **files)
    with pytest.raises(ConfigError) as err:
        load_valid_config(root)
    assert [str(p) for p in err.value.problems] == [
        f"{root / 'p.yaml'}:7:13: passwordRemember needs Settings features.passwordManager: true (R15)"
    ]


def test_selection_problems_do_not_hide_customer_problems(tmp_path: Path) -> None:
    root = config_dir(
        tmp_path,
        acme=customer(
            "acme",
            """\
  integrations: {connectwiseCompanyId: 1, autotaskCompanyId: 2}
  import:
    source: activeDirectory
    selection: {groups: ["CN=Domain Users,OU=X,DC=acme,DC=local"]}
""",
        ),
    )
    assert [re.findall(r"\(R\d+\)", m) for m in problems(root)] == [["(R4)"], ["(R14)"]]


def ad_customer(name: str, server: str, base_dn: str) -> str:
    return (
        f"apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {{name: {name}}}\nspec:\n"
        f"  directories:\n    activeDirectory: {{server: '{server}', baseDn: '{base_dn}', "
        "bindUser: {env: U}, bindPassword: {env: P}}\n"
    )


def test_directories_are_one_customers_only_when_they_really_are_the_same(tmp_path: Path) -> None:
    """Hosted AD: sibling OUs of one DC are two customers; two customers may both
    call their domain corp.local on their own DCs. The same DC and an overlapping
    base DN on any port is one directory."""
    root = config_dir(
        tmp_path,
        a=ad_customer("a", "dc1", "OU=A,DC=hosted,DC=net"),
        b=ad_customer("b", "dc1:389", "OU=B,DC=hosted,DC=net"),
        c=ad_customer("c", "dc.one.example", "DC=corp,DC=local"),
        d=ad_customer("d", "dc.two.example", "DC=corp,DC=local"),
    )
    assert problems(root) == []
    (root / "e.yaml").write_text(ad_customer("e", "[::1]:636", "DC=corp,DC=local"))
    (root / "f.yaml").write_text(ad_customer("f", "::1", "dc=CORP, dc=local"))
    assert problems(root) == [
        "Active Directory dc=CORP, dc=local on ::1 is already used by customer 'e' "
        f"({root}/e.yaml:6:44); one directory (or a subtree of it) belongs to one customer, "
        "or its people are imported twice"
    ]
