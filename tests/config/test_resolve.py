"""Config stage: which import settings apply to each customer (R20), and pause (R10)."""

from __future__ import annotations

from pathlib import Path

from reconciler.config import load_valid_config
from reconciler.config.resolve import effective_customers


def ad(name: str) -> str:
    """Directories of customer `name`: its own domain controller (a DC belongs to one customer)."""
    return (
        "  directories:\n"
        f'    activeDirectory: {{server: dc-{name}, baseDn: "DC=x", bindUser: {{env: U}}, bindPassword: {{env: P}}}}\n'
    )


def write(root: Path, name: str, text: str) -> None:
    settings = root / "settings.yaml"
    if not settings.exists() and not text.startswith("kind: Settings"):
        settings.write_text("apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n")
    (root / f"{name}.yaml").write_text("apiVersion: reconciler.dev/v1\n" + text)


def test_membership_by_name_by_list_by_label_and_own_settings(tmp_path: Path) -> None:
    sel = "  source: activeDirectory\n  selection: {ous: ['OU=%s,DC=x']}\n"
    write(
        tmp_path,
        "named",
        "kind: Customer\nmetadata: {name: named}\nspec:\n  importPolicy: p1\n" + ad("named"),
    )
    write(tmp_path, "listed", "kind: Customer\nmetadata: {name: listed}\nspec:\n" + ad("listed"))
    write(
        tmp_path,
        "labelled",
        "kind: Customer\nmetadata: {name: labelled, labels: {t: g}}\nspec:\n" + ad("labelled"),
    )
    write(
        tmp_path,
        "own",
        "kind: Customer\nmetadata: {name: own}\nspec:\n"
        + ad("own")
        + "  import:\n"
        + "  "
        + (sel % "Own").replace("\n  ", "\n    "),
    )
    write(tmp_path, "none", "kind: Customer\nmetadata: {name: none}\n")
    write(tmp_path, "p1", "kind: ImportPolicy\nmetadata: {name: p1}\nspec:\n" + sel % "P1")
    write(
        tmp_path,
        "p2",
        "kind: ImportPolicy\nmetadata: {name: p2}\nspec:\n"
        + sel % "P2"
        + "  appliesTo: {customers: [listed]}\n",
    )
    write(
        tmp_path,
        "p3",
        "kind: ImportPolicy\nmetadata: {name: p3}\nspec:\n"
        + sel % "P3"
        + "  paused: true\n  appliesTo: {labelSelector: {matchLabels: {t: g}}}\n",
    )
    write(
        tmp_path,
        "adm",
        "kind: AdminImportPolicy\nmetadata: {name: adm}\nspec:\n"
        + sel % "Adm"
        + "  appliesTo: {customers: [named]}\n",
    )
    eff = effective_customers(load_valid_config(tmp_path))

    assert list(eff) == ["labelled", "listed", "named", "none", "own"]
    origins = {
        n: (e.end_user.origin if e.end_user else None, e.admin.origin if e.admin else None)
        for n, e in eff.items()
    }
    assert origins == {
        "named": ("policy p1", "policy adm"),
        "listed": ("policy p2", None),
        "labelled": ("policy p3", None),
        "own": ("customer", None),
        "none": (None, None),
    }
    own = eff["own"].end_user
    assert own is not None and own.settings.selection.ous == ("OU=Own,DC=x",)
    assert [n for n, e in eff.items() if e.paused] == ["labelled"]  # via its paused policy (R10)


def test_safety_comes_from_the_policy_else_settings(tmp_path: Path) -> None:
    write(
        tmp_path,
        "settings",
        "kind: Settings\nmetadata: {name: s}\nspec:\n  safety: {maxRemovalPercent: 15}\n",
    )
    write(tmp_path, "a", "kind: Customer\nmetadata: {name: a}\nspec:\n  importPolicy: strict\n" + ad("a"))
    write(tmp_path, "b", "kind: Customer\nmetadata: {name: b}\nspec:\n  paused: true\n" + ad("b"))
    write(
        tmp_path,
        "strict",
        "kind: ImportPolicy\nmetadata: {name: strict}\nspec:\n  source: activeDirectory\n"
        "  selection: {groups: ['CN=G,OU=G,DC=x']}\n  safety: {maxRemovalPercent: 5, minExistingAccounts: 1}\n",
    )
    eff = effective_customers(load_valid_config(tmp_path))
    assert (eff["a"].safety.max_removal_percent, eff["a"].safety.min_existing_accounts) == (5, 1)
    assert (eff["b"].safety.max_removal_percent, eff["b"].safety.min_existing_accounts) == (15, 10)
    assert eff["b"].paused and not eff["a"].paused


def test_relative_selections_are_anchored_at_each_customers_base_dn(tmp_path: Path) -> None:
    """One AD policy for customers in different domains: DNs without DC= are relative."""

    def customer(name: str, base: str) -> str:
        return (
            f"kind: Customer\nmetadata: {{name: {name}, labels: {{ad: std}}}}\nspec:\n"
            f"  directories:\n    activeDirectory: {{server: dc, baseDn: '{base}', "
            "bindUser: {env: U}, bindPassword: {env: P}}\n"
        )

    write(tmp_path, "a", customer("alpha", "DC=alpha,DC=local"))
    write(tmp_path, "b", customer("beta", "DC=beta,DC=example"))
    write(
        tmp_path,
        "p",
        "kind: ImportPolicy\nmetadata: {name: std}\nspec:\n  appliesTo: {labelSelector: {matchLabels: {ad: std}}}\n"
        "  source: activeDirectory\n  selection:\n"
        "    groups: ['CN=M365 Users,OU=Groups', 'CN=Shared,OU=Groups,DC=hq,DC=local']\n",
    )
    effs = effective_customers(load_valid_config(tmp_path))
    groups = {n: e.end_user.settings.selection.groups for n, e in effs.items() if e.end_user}
    assert groups == {
        "alpha": ("CN=M365 Users,OU=Groups,DC=alpha,DC=local", "CN=Shared,OU=Groups,DC=hq,DC=local"),
        "beta": ("CN=M365 Users,OU=Groups,DC=beta,DC=example", "CN=Shared,OU=Groups,DC=hq,DC=local"),
    }


def test_relative_selections_still_meet_the_r5_and_r7_rules(tmp_path: Path) -> None:
    import pytest

    from reconciler.errors import ConfigError

    base = "  directories:\n    activeDirectory: {server: dc, baseDn: 'DC=x,DC=local', bindUser: {env: U}, bindPassword: {env: P}}\n"
    write(
        tmp_path,
        "c",
        "kind: Customer\nmetadata: {name: c}\nspec:\n"
        + base
        + "  import: {source: activeDirectory, selection: {groups: ['CN=Helpdesk,CN=Users', 'CN=Staff,OU=G']}}\n"
        + "  adminImport: {source: activeDirectory, selection: {groups: ['CN=Staff,OU=G,DC=x,DC=local']}}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_valid_config(tmp_path)
    text = str(err.value)
    assert "default Users container" in text and "(R5)" in text
    assert "(R7)" in text


def test_label_selectors_with_match_expressions(tmp_path: Path) -> None:
    """#17: Kubernetes matchExpressions (In, NotIn, Exists, DoesNotExist) beside
    matchLabels, every requirement holding; the same Requirements as `--customer`."""
    from reconciler.config.selectors import parse_selector

    labels = {
        "gold": "{tier: gold, region: eu}",
        "silver": "{tier: silver, region: us}",
        "legacy": "{tier: gold, legacy: 'yes'}",
        "bare": "{}",
    }
    for name, lab in labels.items():
        write(
            tmp_path, name, f"kind: Customer\nmetadata: {{name: {name}, labels: {lab}}}\nspec:\n" + ad(name)
        )

    def policy(name: str, selector: str) -> None:
        write(
            tmp_path,
            f"p-{name}",
            f"kind: ImportPolicy\nmetadata: {{name: {name}}}\nspec:\n  source: activeDirectory\n"
            f"  selection: {{ous: ['OU=Staff']}}\n  appliesTo:\n    labelSelector: {selector}\n",
        )

    policy(
        "paying",
        "{matchLabels: {tier: gold}, matchExpressions: [{key: legacy, operator: DoesNotExist}]}",
    )
    policy(
        "others",
        "{matchExpressions: [{key: tier, operator: NotIn, values: [gold]}, {key: region, operator: Exists}]}",
    )
    eff = effective_customers(load_valid_config(tmp_path))
    members = {n: e.end_user.policy if e.end_user else None for n, e in eff.items()}
    assert members == {"gold": "paying", "silver": "others", "legacy": None, "bare": None}

    from reconciler.config.load import load_config

    config = load_config(tmp_path)
    selector = config.policies["others"].doc.spec.applies_to.label_selector
    assert selector is not None
    assert set(selector.requirements()) == set(parse_selector("tier notin (gold), region"))
    policy("ins", "{matchExpressions: [{key: tier, operator: In, values: [gold, silver]}]}")
    config = load_config(tmp_path)
    ins = config.policies["ins"].doc.spec.applies_to.label_selector
    assert ins is not None and ins.requirements() == parse_selector("tier in (silver,gold)")
