"""CLI: exit codes (docs/exit-codes.md). 2 means "changes pending" and nothing
else, so a usage error must not exit 2 as click does by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_REFUSED, ConfigError, SafetyRefusal

ROOT = Path(__file__).resolve().parents[2]


def test_the_codes_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_REFUSED) == (0, 1, 2, 3)
    assert ConfigError([]).exit_code == EXIT_ERROR
    assert SafetyRefusal("x").exit_code == EXIT_REFUSED
    doc = (ROOT / "docs" / "exit-codes.md").read_text(encoding="utf-8")
    for code in (0, 1, 2, 3):
        assert f"| {code} |" in doc


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--bogus"],
        ["no-such-command"],
        ["validate", "--bogus"],
        ["validate", "extra-argument"],
        ["schema"],
        ["schema", "Tenant"],
        ["plan", "--detailed-exitcode", "--no-such-flag"],
        ["plan", "--format", "yaml"],
    ],
    ids=lambda a: " ".join(a) or "no-args",
)
def test_usage_errors_exit_1_never_2(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_ERROR, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["--version"]])
def test_help_and_version_exit_0(args: list[str]) -> None:
    assert CliRunner().invoke(main, args).exit_code == EXIT_OK


def test_validate_exits_0_when_valid_and_1_when_not(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Settings\nmetadata: {name: msp}\n"
    )
    (tmp_path / "acme.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: acme}\n"
    )
    ok = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert (ok.exit_code, ok.stdout) == (
        0,
        f"{tmp_path}: valid (1 customer, 0 import policies, 0 admin import policies, 1 warning)\n",
    )
    assert "warning: customer 'acme' is in no import policy" in ok.stderr  # it imports nothing
    (tmp_path / "acme.yaml").write_text(
        "apiVersion: reconciler.dev/v1\nkind: Customer\nmetadata: {name: Acme}\n"
    )
    bad = CliRunner().invoke(main, ["validate", "-c", str(tmp_path)])
    assert bad.exit_code == 1
    assert bad.stdout == ""  # problems go to stderr
    assert bad.stderr.startswith(f"{tmp_path / 'acme.yaml'}:3:12: metadata.name: ")


def test_a_missing_config_directory_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output == f"config directory {tmp_path / 'nope'} does not exist\n"
