"""--customer NAME|SELECTOR and --exclude-customer (#17), through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.selection import Requirement, parse_selector, select
from reconciler.errors import ConfigError
from tests.cli.entry import run

LABELS = {
    "contoso": {"plan": "standard", "tier": "gold"},
    "fabrikam": {"plan": "ad"},
    "northwind": {"plan": "ad", "legacy": "yes"},
    "tailspin": {"plan": "standard"},
}


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        ([], [], ["contoso", "fabrikam", "northwind", "tailspin"]),
        (["contoso"], [], ["contoso"]),
        (["plan=standard"], [], ["contoso", "tailspin"]),
        (["plan==standard"], [], ["contoso", "tailspin"]),
        (["plan!=standard"], [], ["fabrikam", "northwind"]),
        (["plan in (ad,standard),!legacy"], [], ["contoso", "fabrikam", "tailspin"]),
        (["plan notin (ad)"], [], ["contoso", "tailspin"]),
        (["tier,plan=standard"], [], ["contoso"]),
        (["plan=ad", "contoso"], [], ["contoso", "fabrikam", "northwind"]),
        ([], ["plan=ad"], ["contoso", "tailspin"]),
        (["plan=standard"], ["tailspin"], ["contoso"]),
    ],
)
def test_select(include: list[str], exclude: list[str], expected: list[str]) -> None:
    assert list(select(LABELS, include, exclude)) == expected


def test_parse_selector() -> None:
    assert parse_selector("a=1, b in (x, y),!c") == (
        Requirement("a", "In", frozenset({"1"})),
        Requirement("b", "In", frozenset({"x", "y"})),
        Requirement("c", "DoesNotExist"),
    )


@pytest.mark.parametrize(
    ("include", "message"),
    [
        (["nobody"], "--customer nobody: unknown customer 'nobody'"),
        (["plan=gold"], "--customer 'plan=gold': the label selector matches no customer"),
        (["plan=(x"], "label selector 'plan=(x': cannot read 'plan=(x'"),
    ],
)
def test_errors(include: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        select(LABELS, include)
    assert str(err.value).startswith(message)


def test_plan_with_a_selector_and_an_exclude(quickstart: Path) -> None:
    result = run(
        ["plan", "-c", str(quickstart), "--customer", "plan=standard", "--exclude-customer", "tailspin"]
    )
    assert result.code == 0, result.stderr
    assert "customer contoso:" in result.stdout and "tailspin" not in result.stdout
    assert "fabrikam" not in result.stdout


def test_state_list_and_apply_take_them_too(quickstart: Path) -> None:
    applied = run(["apply", "-c", str(quickstart), "--auto-approve", "--exclude-customer", "plan=standard"])
    assert applied.code == 0, applied.stderr
    assert "contoso" not in applied.stdout and "fabrikam: " in applied.stdout
    listing = run(["state", "list", "-c", str(quickstart), "--format", "json", "--customer", "plan=ad"])
    data = json.loads(listing.stdout)
    names = [c["customer"] for c in data["customers"]]
    assert names == ["fabrikam"]  # northwind has no labels


def test_a_selector_matching_nobody_is_one_clear_error(quickstart: Path) -> None:
    result = run(["plan", "-c", str(quickstart), "--customer", "plan=gold"])
    assert result.code == 1
    assert result.stderr == "--customer 'plan=gold': the label selector matches no customer\n"


def test_unknown_names_suggest_the_customer_meant(quickstart: Path) -> None:
    """#17: "did you mean" for customer names in CLI arguments, through the real entry point."""
    plan = run(["plan", "-c", str(quickstart), "--customer", "contsoo"])
    assert plan.code == 1
    assert plan.stderr.strip() == "--customer contsoo: unknown customer 'contsoo' (did you mean 'contoso'?)"
    excluded = run(["plan", "-c", str(quickstart), "--exclude-customer", "nortwind"])
    assert excluded.stderr.strip().endswith("(did you mean 'northwind'?)")
    explain = run(["explain", "-c", str(quickstart), "fabrikan", "judy"])
    assert explain.code == 1
    assert explain.stderr.strip() == "unknown customer 'fabrikan' (did you mean 'fabrikam'?)"
    override = run(["override", "-c", str(quickstart), "tailspn"])
    assert override.stderr.strip() == "unknown customer 'tailspn' (did you mean 'tailspin'?)"
    far = run(["explain", "-c", str(quickstart), "zzz", "judy"])
    assert far.stderr.strip() == "unknown customer 'zzz'"
