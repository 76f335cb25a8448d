"""Config stage: the welcome email's placeholders are checked where they are (R16, #17 item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.config.welcome import PLACEHOLDERS, check_placeholders
from reconciler.core.model import ACCOUNT_FIELDS


def test_the_placeholders_are_the_account_fields_and_the_customer() -> None:
    assert set(PLACEHOLDERS) == {*ACCOUNT_FIELDS, "customer"}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Hello {nmae},", [(1, 7, "unknown placeholder {nmae} (did you mean {display_name}?)")]),
        (
            "x\n  {dispaly_name}",
            [(2, 3, "unknown placeholder {dispaly_name} (did you mean {display_name}?)")],
        ),
        ("{user.name}", [(1, 1, "placeholder {user.name} must be a plain name like {display_name}")]),
        (
            "{given_name!r}",
            [(1, 1, "placeholder {given_name!r}: conversions and format specs are not supported")],
        ),
        ("a } b", [(1, 3, "a single '}'; write }} for a literal brace")]),
        ("a { b", [(1, 3, "a '{' without its '}'; write {{ for a literal brace")]),
        ("{{literal}} {upn} {customer}", []),
    ],
)
def test_placeholder_problems_are_located(text: str, found: list[tuple[int, int, str]]) -> None:
    assert [(p.line, p.column, p.message) for p in check_placeholders(text)] == found


def test_validate_refuses_a_typo_and_shows_a_sample_of_a_good_template(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.txt").write_text("Hello {nmae},\nwelcome to {customer}.\n")
    (tmp_path / "settings.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\nspec:\n"
        "  snapshot: {dir: live}\n"
    )
    (tmp_path / "policy.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: ImportPolicy\nmetadata: {name: p}\nspec:\n"
        "  source: entra\n  options: {welcomeEmail: true}\n"
    )
    bad = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert bad.exit_code == 1
    assert bad.output == (
        f"{tmp_path / 'templates/welcome.txt'}:1:7: unknown placeholder {{nmae}} "
        "(did you mean {display_name}?) (R16)\n"
    )
    (tmp_path / "templates" / "welcome.txt").write_text("Hello {given_name},\nwelcome to {customer}.\n")
    good = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert good.exit_code == 0, good.output
    assert (
        "welcome email sample: Subject: Welcome, Dana Scully\n  | Hello Dana,\n  | welcome to acme.\n"
        in good.output
    )


def test_the_config_digest_follows_the_parsed_documents_and_the_template(tmp_path: Path) -> None:
    """#17 item 1: a template-only edit must show (the plan it binds goes stale); a
    comment, a reformatting or a move to another file must not."""
    from reconciler.config.load import load_config

    (tmp_path / "templates").mkdir()
    template = tmp_path / "templates" / "welcome.txt"
    template.write_text("Hello {given_name}\n")
    (tmp_path / "settings.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
    )
    customer = tmp_path / "acme.yaml"
    customer.write_text("apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: acme}\n")
    first = load_config(tmp_path).digest
    customer.write_text(
        "# a comment\napiVersion: reconciler.dev/v1\nkind: Customer\nmetadata:\n  name: acme  # same\n"
    )
    assert load_config(tmp_path).digest == first
    customer.rename(tmp_path / "customers.yaml")
    assert load_config(tmp_path).digest == first
    template.write_text("Hi {given_name}\n")
    assert load_config(tmp_path).digest != first
    template.write_text("Hello {given_name}\n")
    (tmp_path / "customers.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: acme, labels: {tier: gold}}\n"
    )
    assert load_config(tmp_path).digest != first
