"""Lazy CLI start-up: sub-commands are imported when run, and the help table
shown without importing them says exactly what each command says of itself."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

from reconciler.cli import COMMANDS, main


def test_the_table_names_every_command_with_its_own_short_help() -> None:
    seen: dict[str, str] = {}
    for module_name in sorted({m for m, _ in COMMANDS.values()}):
        module = importlib.import_module(f"reconciler.cli.{module_name}")
        for command in module.COMMANDS:
            assert command.name is not None
            seen[command.name] = command.get_short_help_str(limit=1000)
            assert COMMANDS[command.name][0] == module_name
    assert seen == {name: help_ for name, (_, help_) in COMMANDS.items()}


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    rows = out.split("Commands:")[1].splitlines()
    listed = [row.split()[0] for row in rows if row.startswith("  ") and not row.startswith("   ")]
    assert listed == sorted(COMMANDS)


PROBE = """
import sys

import pytest
from reconciler.cli import main
try:
    main({args!r})
except SystemExit:
    pass
print(" ".join(sorted(m for m in sys.modules if m.startswith("reconciler.cli.") or m in ("httpx", "pydantic"))))
"""


def modules_after(*args: str) -> set[str]:
    code = PROBE.format(args=list(args))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.strip().splitlines()[-1].split()) if out.strip() else set()


def test_help_imports_no_sub_command_nor_their_libraries() -> None:
    assert modules_after("--help") <= {"reconciler.cli.common"}


def test_a_sub_command_imports_its_own_module_only() -> None:
    loaded = modules_after("show", "--help")
    assert "reconciler.cli.plan" in loaded
    assert not loaded & {"reconciler.cli.ci", "reconciler.cli.daemon", "reconciler.cli.sandbox"}


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nosuch"])
    assert result.exit_code == 1
    assert "No such command" in result.output


@pytest.mark.parametrize(
    "module",
    ["reconciler.integrations.table", "reconciler.providers.files", "reconciler.engine", "reconciler.config"],
)
def test_modules_import_on_their_own_now_that_nothing_imports_them_first(module: str) -> None:
    # the CLI no longer imports every command up front, so an import cycle hidden
    # by that order would break the first command that meets it
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
