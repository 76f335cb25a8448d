"""CLI flags through the real entry point (#17): -h, -v after the sub-command, the
-v level between quiet and -vv, shell completion."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.entry import BIN, env, run


@pytest.mark.parametrize("args", [["-h"], ["plan", "-h"], ["state", "list", "-h"], ["completion", "-h"]])
def test_dash_h_is_help(args: list[str]) -> None:
    result = run(args)
    assert result.code == 0 and result.stdout.startswith("Usage: reconciler")


def test_quiet_by_default(quickstart: Path) -> None:
    result = run(["plan", "-c", str(quickstart)])
    assert result.code == 0 and result.stderr == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_dash_v_gives_a_line_per_customer_and_read(quickstart: Path, where: str) -> None:
    args = ["plan", "-c", str(quickstart)]
    result = run(["-v", *args] if where == "before" else [*args, "-v"])
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "contoso: read 8 users from Entra ID in 0.0s" in lines
    assert "fabrikam: read 2 contacts from connectwise in 0.0s" in lines
    assert "contoso: 16 changes planned (ok)" in lines
    assert "tailspin: 3 changes planned (paused)" in lines
    assert not any(line.startswith(("DEBUG", "debug")) for line in lines)


def test_dash_v_on_apply_gives_a_line_per_batch(quickstart: Path) -> None:
    result = run(["apply", "-c", str(quickstart), "--auto-approve", "-v"])
    assert result.code == 0, result.stderr
    assert "contoso: committed account changes 1-6 of 6" in result.stderr.splitlines()


def test_dash_vv_is_debug(quickstart: Path) -> None:
    result = run(["plan", "-c", str(quickstart), "-vv"])
    assert result.code == 0
    assert "INFO reconciler.engine: contoso: 16 changes planned (ok)" in result.stderr


def test_flags_after_a_double_dash_are_left_alone() -> None:
    result = run(["validate", "-c", ".", "--", "-v"])
    assert result.code == 1 and "-v" in result.stderr


def test_completion_scripts_parse_and_complete() -> None:
    bash = run(["completion", "bash"])
    assert bash.code == 0 and "_RECONCILER_COMPLETE=bash_complete" in bash.stdout
    assert subprocess.run(["bash", "-n"], input=bash.stdout, text=True, check=False).returncode == 0
    for shell in ("zsh", "fish"):
        assert run(["completion", shell]).stdout.strip()
    # what the bash script asks the program when the user types `reconciler pl<TAB>`
    answer = subprocess.run(
        [str(BIN)],
        env=env({"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler pl", "COMP_CWORD": "1"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.stdout.split() == ["plain,plan"]
    options = subprocess.run(
        [str(BIN)],
        env=env(
            {"_RECONCILER_COMPLETE": "bash_complete", "COMP_WORDS": "reconciler plan --fo", "COMP_CWORD": "2"}
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "plain,--format" in options.stdout.split()
